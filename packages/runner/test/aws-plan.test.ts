import { describe, expect, test } from '@jest/globals';
import type { ActionDefinition, ExecutionRequest, ExecutionTicket } from '@agent-safe/core';
import { DryRunExecutor, PLANNED_AWS_ACTIONS, awsApiCalls, isPlannedAwsAction } from '../src/index.js';

const SAMPLE: Record<string, Record<string, unknown>> = {
  'ec2-reboot-instance': { instance_id: 'i-0abc', region: 'eu-west-1' },
  'ec2-start-instance': { instance_id: 'i-0abc', region: 'eu-west-1' },
  'ec2-stop-instance': { instance_id: 'i-0abc', region: 'eu-west-1' },
  'ec2-terminate-instance': { instance_id: 'i-0abc', region: 'eu-west-1' },
  'ecs-scale-service': { cluster: 'c1', service: 'web', desired_count: 3, region: 'eu-west-1' },
  'ecs-stop-task': { cluster: 'c1', task: 'abc', region: 'eu-west-1' },
  'ecs-update-service': { cluster: 'c1', service: 'web', force_new_deployment: true, region: 'eu-west-1' },
  'iam-attach-role-policy': { role_name: 'r', policy_arn: 'arn:aws:iam::1:policy/p', region: 'us-east-1' },
  'iam-detach-role-policy': { role_name: 'r', policy_arn: 'arn:aws:iam::1:policy/p', region: 'us-east-1' },
  'lambda-invoke-function': { function_name: 'fn', payload: '{"a":1}', region: 'eu-west-1' },
  'lambda-update-function-config': { function_name: 'fn', memory_size: 256, region: 'eu-west-1' },
  's3-delete-object': { bucket: 'b1', key: 'a/b.txt', region: 'eu-west-1' },
  's3-put-bucket-policy': {
    bucket: 'b1',
    policy: '{"Version":"2012-10-17","Statement":[]}',
    region: 'eu-west-1',
  },
};

function request(action: string, params: Record<string, unknown>): ExecutionRequest {
  return {
    action: { name: action, parameters: [] } as unknown as ActionDefinition,
    target: 't',
    params,
    ticket: {} as ExecutionTicket,
  };
}

describe('awsApiCalls', () => {
  test.each(PLANNED_AWS_ACTIONS.map((action) => [action]))(
    'plans %s as AWS service:Operation calls',
    (action) => {
      const calls = awsApiCalls(action, SAMPLE[action] as Record<string, unknown>);
      expect(calls.length).toBeGreaterThan(0);
      for (const call of calls) {
        expect(call.method).toBe('AWS');
        expect(call.path).toMatch(/^(ec2|ecs|lambda|s3|iam):[A-Z][A-Za-z]+$/);
        expect(call.query).toEqual({ region: (SAMPLE[action] as { region: string }).region });
      }
    },
  );

  test('the bodies are the SDK inputs', () => {
    expect(
      awsApiCalls('ec2-stop-instance', { instance_id: 'i-1', timeout: 60 }, { region: 'us-east-2' }),
    ).toEqual([
      {
        method: 'AWS',
        path: 'ec2:StopInstances',
        body: { InstanceIds: ['i-1'] },
        query: { region: 'us-east-2' },
      },
      {
        method: 'AWS',
        path: 'ec2:DescribeInstances',
        body: { InstanceIds: ['i-1'] },
        query: { region: 'us-east-2' },
        description: 'poll until the instance is stopped or 60s pass',
      },
    ]);
    expect(
      awsApiCalls('ecs-update-service', { cluster: 'c', service: 's', desired_count: 0 })[0]?.body,
    ).toEqual({
      cluster: 'c',
      service: 's',
      desiredCount: 0,
    });
    expect(awsApiCalls('ecs-stop-task', { cluster: 'c', task: 't' })[0]?.body).toEqual({
      cluster: 'c',
      task: 't',
      reason: 'stopped by agent-safe',
    });
    expect(
      awsApiCalls('lambda-update-function-config', {
        function_name: 'f',
        timeout: 9,
        environment_variables: '{"A":"1"}',
      })[0]?.body,
    ).toEqual({ FunctionName: 'f', Timeout: 9, Environment: { Variables: { A: '1' } } });
    expect(awsApiCalls('lambda-invoke-function', { function_name: 'f' })[0]?.body).toEqual({
      FunctionName: 'f',
      InvocationType: 'RequestResponse',
    });
    expect(awsApiCalls('iam-detach-role-policy', { role_name: 'r', policy_arn: 'arn:p' })[0]).toEqual({
      method: 'AWS',
      path: 'iam:DetachRolePolicy',
      body: { RoleName: 'r', PolicyArn: 'arn:p' },
    });
  });

  test("catalog/aws object params (payload, policy, environment) are sent as JSON text; the seeds' strings as they are", () => {
    expect(
      awsApiCalls('lambda-invoke-function', { function_name: 'f', payload: { a: 1 } })[0]?.body,
    ).toMatchObject({
      Payload: '{"a":1}',
    });
    const policy = { Version: '2012-10-17', Statement: [] };
    expect(awsApiCalls('s3-put-bucket-policy', { bucket: 'b', policy })[0]?.body).toEqual({
      Bucket: 'b',
      Policy: JSON.stringify(policy),
    });
    expect(
      awsApiCalls('lambda-update-function-config', {
        function_name: 'f',
        environment_variables: { A: 'x' },
      })[0]?.body,
    ).toEqual({ FunctionName: 'f', Environment: { Variables: { A: 'x' } } });
    expect(
      awsApiCalls('lambda-update-function-config', { function_name: 'f', environment_variables: '***' })[0]
        ?.body,
    ).toEqual({ FunctionName: 'f', Environment: { Variables: '***' } });
    expect(awsApiCalls('ec2-terminate-instance', { instance_id: 'i-1' }).map((c) => c.path)).toEqual([
      'ec2:TerminateInstances',
      'ec2:DescribeInstances',
    ]);
  });

  test('refuses what it cannot plan, naming the param or action', () => {
    expect(() => awsApiCalls('ec2-stop-instance', {})).toThrow(
      'param "instance_id" must be a non-empty string',
    );
    expect(() => awsApiCalls('ecs-update-service', { cluster: 'c', service: 's' })).toThrow(
      'changes nothing',
    );
    expect(() => awsApiCalls('lambda-update-function-config', { function_name: 'f' })).toThrow(
      'changes nothing',
    );
    expect(() =>
      awsApiCalls('lambda-update-function-config', { function_name: 'f', environment_variables: '[1]' }),
    ).toThrow('JSON object of strings');
    expect(() =>
      awsApiCalls('lambda-update-function-config', { function_name: 'f', environment_variables: '{"A":1}' }),
    ).toThrow('the value of "A" must be a string');
    expect(() => awsApiCalls('scale-deployment', {})).toThrow('no AWS plan for action "scale-deployment"');
    expect(isPlannedAwsAction('scale-deployment')).toBe(false);
  });
});

describe('DryRunExecutor with AWS actions', () => {
  test('plans and "executes" AWS actions with the AWS plan, the option region filling in', async () => {
    const executor = new DryRunExecutor({ region: 'ap-south-1' });
    const outcome = await executor.execute(
      request('iam-attach-role-policy', { role_name: 'r', policy_arn: 'arn:p' }),
    );
    expect(outcome).toEqual({
      ok: true,
      calls: [
        {
          method: 'AWS',
          path: 'iam:AttachRolePolicy',
          body: { RoleName: 'r', PolicyArn: 'arn:p' },
          query: { region: 'ap-south-1' },
        },
      ],
      output: { dryRun: true, calls: outcome.calls },
    });
    expect(
      executor.plan(request('scale-deployment', { namespace: 'a', deployment: 'b', replicas: 1 }))[0]?.method,
    ).toBe('PATCH');
  });
});
