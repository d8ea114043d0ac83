import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { ActionRegistry } from '../src/index.js';

// The curated AWS catalogue shipped in the repository (catalog/aws): the 13 actions of the original,
// by the same names, with strict params.
const CATALOG = join(import.meta.dirname, '..', '..', '..', 'catalog', 'aws');

const EXPECTED = [
  'ec2-stop-instance',
  'ec2-start-instance',
  'ec2-reboot-instance',
  'ec2-terminate-instance',
  'ecs-update-service',
  'ecs-stop-task',
  'ecs-scale-service',
  'lambda-update-function-config',
  'lambda-invoke-function',
  's3-delete-object',
  's3-put-bucket-policy',
  'iam-attach-role-policy',
  'iam-detach-role-policy',
];

const registry = ActionRegistry.loadSync(CATALOG);
const base = { instance_id: 'i-0123456789abcdef0', region: 'eu-west-1' };

function errors(action: string, params: Record<string, unknown>): string[] {
  const result = registry.validateParams(action, params);
  return result.ok ? [] : result.errors.map((error) => `${error.path}: ${error.message}`);
}

describe('the AWS catalogue', () => {
  it('holds exactly the 13 actions, each bound to its target, scoped and with a rollback when reversible', () => {
    expect(registry.names()).toEqual([...EXPECTED].sort());
    for (const action of registry.list()) {
      expect(action.tags).toContain('aws');
      expect(action.targetTypes.every((type) => type.startsWith('aws-'))).toBe(true);
      expect(Object.keys(action.targetBinding ?? {}).length).toBeGreaterThan(0);
      expect(action.credentials?.type).toBe('aws');
      const fields = action.credentials!.fields as {
        actions: string[];
        resources: string[];
        unscoped_actions?: string[];
      };
      expect(fields.actions.length).toBeGreaterThan(0);
      // Every scope names its resources: never "*".
      expect(fields.resources.length).toBeGreaterThan(0);
      for (const resource of fields.resources) expect(resource).toMatch(/\{\{ params\.[a-z_]+ \}\}/);
      // Only the reads IAM cannot scope to a resource are granted on "*".
      const unscoped = fields.unscoped_actions ?? [];
      expect(unscoped).toEqual(
        action.name.startsWith('ec2-')
          ? ['ec2:DescribeInstances']
          : action.name === 'iam-attach-role-policy'
            ? ['iam:GetPolicy']
            : [],
      );
      // Every privilege the executor needs is in the scope it renders.
      expect([...fields.actions].sort()).toEqual([...action.requiredPrivileges].sort());
      for (const parameter of action.parameters) {
        if (parameter.type === 'string') expect(parameter.constraints?.maxLength).toEqual(expect.any(Number));
      }
      if (action.reversible) expect(registry.has(action.rollbackAction!)).toBe(true);
    }
    expect(
      registry
        .list()
        .filter((action) => action.reversible)
        .map((action) => action.name),
    ).toEqual([
      'ec2-start-instance',
      'ec2-stop-instance',
      'ecs-scale-service',
      'ecs-update-service',
      'iam-attach-role-policy',
      'iam-detach-role-policy',
      'lambda-update-function-config',
      's3-put-bucket-policy',
    ]);
  });

  it('rates the destructive and access-changing actions critical', () => {
    for (const name of [
      'ec2-terminate-instance',
      's3-put-bucket-policy',
      'iam-attach-role-policy',
      'iam-detach-role-policy',
    ]) {
      expect([name, registry.get(name)?.riskClass]).toEqual([name, 'critical']);
    }
  });

  it('accepts well-formed ids and refuses malformed ones before any policy', () => {
    expect(errors('ec2-stop-instance', base)).toEqual([]);
    expect(errors('ec2-stop-instance', { ...base, instance_id: 'i-0123abcd' })).toEqual([]);
    expect(errors('ec2-stop-instance', { ...base, region: 'us-gov-west-1' })).toEqual([]);
    for (const instance_id of [
      'i-0123456789abcdef',
      'i-0123ABCD',
      'i-*',
      'arn:aws:ec2:eu-west-1:1:instance/i-0123abcd',
      'i-0123abcd\n',
    ]) {
      expect(errors('ec2-stop-instance', { ...base, instance_id })).toHaveLength(1);
    }
    for (const region of ['EU-west-1', 'eu-west', 'eu-west-1a', '*', 'eu-west-1/../x']) {
      expect(errors('ec2-terminate-instance', { ...base, region })).toHaveLength(1);
    }
  });

  it('refuses object keys that would widen the credential resource or carry control characters', () => {
    const request = { bucket: 'my-bucket.logs', region: 'us-east-1' };
    expect(errors('s3-delete-object', { ...request, key: 'reports/2026/q1_(final)-v2.csv' })).toEqual([]);
    expect(errors('s3-delete-object', { ...request, key: "a=b,c@d+e/f!g'h" })).toEqual([]);
    expect(errors('s3-delete-object', { ...request, key: 'reports/Q1 summary #2 & 50%.pdf' })).toEqual([]);
    for (const key of [
      '*',
      'reports/*',
      'a?c',
      '${aws:username}/x',
      'line\nbreak',
      'nul\u0000',
      'c1\u0085',
      'ünïcode',
      'a:b',
      'a"b',
      'a\\b',
      'tab\tkey',
      'x'.repeat(1025),
      '',
    ]) {
      expect(errors('s3-delete-object', { ...request, key })).toHaveLength(1);
    }
    for (const bucket of [
      'ab',
      'My-Bucket',
      '192.168.1.1',
      'a..b',
      '-bucket',
      'bucket-',
      'bucket/key',
      'b'.repeat(64),
    ]) {
      expect([bucket, errors('s3-delete-object', { ...request, bucket, key: 'k' })]).toEqual([
        bucket,
        [expect.any(String)],
      ]);
    }
  });

  it('takes names, not ARNs, for clusters, services, tasks, functions and roles', () => {
    const ecs = { cluster: 'prod-cluster', service: 'api', desired_count: 2, region: 'us-east-1' };
    expect(errors('ecs-scale-service', ecs)).toEqual([]);
    expect(
      errors('ecs-scale-service', { ...ecs, cluster: 'arn:aws:ecs:us-east-1:123456789012:cluster/prod' }),
    ).toHaveLength(1);
    expect(errors('ecs-scale-service', { ...ecs, desired_count: 101 })).toHaveLength(1);
    const task = { cluster: 'prod-cluster', task: '0123456789abcdef0123456789abcdef', region: 'us-east-1' };
    expect(errors('ecs-stop-task', task)).toEqual([]);
    expect(errors('ecs-stop-task', { ...task, task: '01234567-89ab-cdef-0123-456789abcdef' })).toEqual([]);
    expect(
      errors('ecs-stop-task', {
        ...task,
        task: `arn:aws:ecs:us-east-1:123456789012:task/other/${task.task}`,
      }),
    ).toHaveLength(1);
    expect(errors('lambda-invoke-function', { function_name: 'billing-job', region: 'us-east-1' })).toEqual(
      [],
    );
    expect(
      errors('lambda-invoke-function', { function_name: 'billing-job:prod', region: 'us-east-1' }),
    ).toHaveLength(1);
    const iam = {
      role_name: 'app-role',
      policy_arn: 'arn:aws:iam::aws:policy/ReadOnlyAccess',
      region: 'us-east-1',
    };
    expect(errors('iam-attach-role-policy', iam)).toEqual([]);
    expect(
      errors('iam-attach-role-policy', {
        ...iam,
        policy_arn: 'arn:aws:iam::123456789012:policy/team/app/Custom_1',
      }),
    ).toEqual([]);
    for (const policy_arn of [
      'arn:aws:iam::aws:policy/*',
      'arn:aws:iam::12345:policy/x',
      'arn:aws:s3:::bucket',
      'arn:aws:iam::aws:policy/',
    ]) {
      expect([policy_arn, errors('iam-detach-role-policy', { ...iam, policy_arn })]).toEqual([
        policy_arn,
        [expect.any(String)],
      ]);
    }
    expect(errors('iam-detach-role-policy', { ...iam, role_name: 'role/with-path' })).toHaveLength(1);
  });

  it('masks Lambda environment variables and takes the bucket policy as a mapping', () => {
    const update = registry.get('lambda-update-function-config')!;
    expect(update.parameters.find((parameter) => parameter.name === 'environment_variables')?.sensitive).toBe(
      true,
    );
    expect(update.stateFields.find((field) => field.name === 'environment_variables')?.sensitive).toBe(true);
    const secret = 'hunter2-very-secret';
    const problems = errors('lambda-update-function-config', {
      function_name: 'f',
      region: 'us-east-1',
      environment_variables: secret,
    });
    expect(problems).toHaveLength(1);
    expect(problems.join()).not.toContain(secret);
    const put = { bucket: 'my-bucket', region: 'us-east-1' };
    expect(
      errors('s3-put-bucket-policy', { ...put, policy: { Version: '2012-10-17', Statement: [] } }),
    ).toEqual([]);
    expect(errors('s3-put-bucket-policy', { ...put, policy: '{"Version":"2012-10-17"}' })).toHaveLength(1);
  });
});
