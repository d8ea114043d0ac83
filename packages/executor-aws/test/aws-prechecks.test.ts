// Every precheck catalog/aws names, passing and failing against real resources on moto, with the
// runner's own identity (the executor's credentials), never the run's.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  ModifyInstanceAttributeCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { StopTaskCommand } from '@aws-sdk/client-ecs';
import { AttachRolePolicyCommand } from '@aws-sdk/client-iam';
import { PutBucketPolicyCommand } from '@aws-sdk/client-s3';
import type { MotoServer } from '../../audit/test/moto-server.js';
import { AwsExecutor } from '../src/index.js';
import {
  type Clients,
  clients,
  context,
  createBucket,
  createFunction,
  createRoleAndPolicy,
  createService,
  KEYS,
  motoForTests,
  REGION,
  requestFor,
  runInstance,
  runTask,
} from './aws-helpers.js';

let moto: MotoServer;
let sdk: Clients;
let executor: AwsExecutor;
let policyArn: string;

beforeAll(async () => {
  moto = await motoForTests();
  sdk = clients(moto.url);
  executor = new AwsExecutor({ endpoint: moto.url, credentials: { ...KEYS }, forcePathStyle: true });
  policyArn = await createRoleAndPolicy(sdk);
  await createFunction(sdk);
  await createService(sdk, 1);
  await createBucket(sdk);
}, 60_000);

afterAll(async () => {
  executor?.close();
  await moto?.stop();
});

async function check(name: string, action: string, params: Record<string, unknown>) {
  return await executor.precheck(name, await requestFor(action, { region: REGION, ...params }), context());
}

describe('AWS prechecks on moto', () => {
  it('EC2: instance-exists, instance-running, instance-stopped, not-termination-protected', async () => {
    const id = await runInstance(sdk);
    expect(await check('instance-exists', 'ec2-stop-instance', { instance_id: id })).toMatchObject({
      status: 'pass',
    });
    expect(await check('instance-running', 'ec2-stop-instance', { instance_id: id })).toMatchObject({
      status: 'pass',
    });
    expect(await check('instance-stopped', 'ec2-start-instance', { instance_id: id })).toEqual({
      status: 'fail',
      reason: `instance ${id} is running; ec2-start-instance needs it stopped`,
    });
    expect(
      await check('instance-exists', 'ec2-stop-instance', { instance_id: 'i-0123456789abcdef0' }),
    ).toEqual({
      status: 'fail',
      reason: `instance i-0123456789abcdef0 does not exist in ${REGION}`,
    });
    expect(
      await check('not-termination-protected', 'ec2-terminate-instance', { instance_id: id }),
    ).toMatchObject({
      status: 'pass',
    });
    await sdk.ec2.send(
      new ModifyInstanceAttributeCommand({ InstanceId: id, DisableApiTermination: { Value: true } }),
    );
    expect(
      await check('not-termination-protected', 'ec2-terminate-instance', { instance_id: id }),
    ).toMatchObject({
      status: 'fail',
      reason: expect.stringContaining('has termination protection enabled'),
    });
    await sdk.ec2.send(
      new ModifyInstanceAttributeCommand({ InstanceId: id, DisableApiTermination: { Value: false } }),
    );
    await sdk.ec2.send(new StopInstancesCommand({ InstanceIds: [id] }));
    await sdk.ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    expect(await check('instance-exists', 'ec2-reboot-instance', { instance_id: id })).toMatchObject({
      status: 'fail',
      reason: `instance ${id} is terminated`,
    });
  });

  it('ECS: service-exists, task-exists', async () => {
    expect(
      await check('service-exists', 'ecs-scale-service', { cluster: 'c1', service: 'web', desired_count: 1 }),
    ).toMatchObject({
      status: 'pass',
    });
    expect(
      await check('service-exists', 'ecs-scale-service', {
        cluster: 'c1',
        service: 'nope',
        desired_count: 1,
      }),
    ).toMatchObject({
      status: 'fail',
    });
    const id = await runTask(sdk);
    expect(await check('task-exists', 'ecs-stop-task', { cluster: 'c1', task: id })).toMatchObject({
      status: 'pass',
    });
    await sdk.ecs.send(new StopTaskCommand({ cluster: 'c1', task: id }));
    expect(await check('task-exists', 'ecs-stop-task', { cluster: 'c1', task: id })).toMatchObject({
      status: 'fail',
      reason: expect.stringContaining('already stopped or stopping'),
    });
  });

  it('Lambda: function-exists, function-active, function-updatable, environment-valid', async () => {
    for (const [name, action] of [
      ['function-exists', 'lambda-invoke-function'],
      ['function-active', 'lambda-invoke-function'],
      ['function-exists', 'lambda-update-function-config'],
      ['function-updatable', 'lambda-update-function-config'],
    ] as const) {
      const extra = action === 'lambda-update-function-config' ? { timeout: 5 } : {};
      expect(await check(name, action, { function_name: 'fn1', ...extra })).toMatchObject({
        status: 'pass',
      });
      expect(await check(name, action, { function_name: 'nope', ...extra })).toEqual({
        status: 'fail',
        reason: `function nope does not exist in ${REGION}`,
      });
    }
    expect(
      await check('environment-valid', 'lambda-update-function-config', {
        function_name: 'fn1',
        environment_variables: { AWS_SECRET_ACCESS_KEY: 'x' },
      }),
    ).toMatchObject({ status: 'fail', reason: expect.stringContaining('reserved by Lambda') });
  });

  it('S3: object-exists, bucket-exists, policy-valid-json', async () => {
    expect(
      await check('object-exists', 's3-delete-object', { bucket: 'bucket-one', key: 'k1' }),
    ).toMatchObject({ status: 'pass' });
    expect(await check('object-exists', 's3-delete-object', { bucket: 'bucket-one', key: 'nope' })).toEqual({
      status: 'fail',
      reason: 'object s3://bucket-one/nope does not exist',
    });
    const policy = {
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Deny', Principal: '*', Action: 's3:DeleteObject', Resource: 'arn:aws:s3:::bucket-one/*' },
      ],
    };
    expect(
      await check('bucket-exists', 's3-put-bucket-policy', { bucket: 'bucket-one', policy }),
    ).toMatchObject({
      status: 'pass',
      reason: expect.stringContaining('no policy yet'),
    });
    await sdk.s3.send(new PutBucketPolicyCommand({ Bucket: 'bucket-one', Policy: JSON.stringify(policy) }));
    expect(
      await check('bucket-exists', 's3-put-bucket-policy', { bucket: 'bucket-one', policy }),
    ).toMatchObject({
      status: 'pass',
      reason: expect.stringContaining('has a policy'),
    });
    expect(
      await check('bucket-exists', 's3-put-bucket-policy', { bucket: 'no-such-bucket', policy }),
    ).toEqual({
      status: 'fail',
      reason: 'bucket no-such-bucket does not exist',
    });
    expect(
      await check('policy-valid-json', 's3-put-bucket-policy', { bucket: 'bucket-one', policy }),
    ).toMatchObject({
      status: 'pass',
    });
    expect(
      await check('policy-valid-json', 's3-put-bucket-policy', {
        bucket: 'bucket-one',
        policy: { ...policy, Statement: [{ ...policy.Statement[0], Resource: 'arn:aws:s3:::other/*' }] },
      }),
    ).toMatchObject({ status: 'fail' });
  });

  it('IAM: role-exists, policy-exists, policy-attached, policy-not-attached', async () => {
    const p = { role_name: 'fn-role', policy_arn: policyArn };
    expect(await check('role-exists', 'iam-attach-role-policy', p)).toMatchObject({ status: 'pass' });
    expect(await check('role-exists', 'iam-attach-role-policy', { ...p, role_name: 'nope' })).toEqual({
      status: 'fail',
      reason: 'role nope does not exist',
    });
    expect(await check('policy-exists', 'iam-attach-role-policy', p)).toMatchObject({ status: 'pass' });
    expect(
      await check('policy-exists', 'iam-attach-role-policy', {
        ...p,
        policy_arn: 'arn:aws:iam::123456789012:policy/nope',
      }),
    ).toMatchObject({ status: 'fail' });
    expect(await check('policy-not-attached', 'iam-attach-role-policy', p)).toMatchObject({ status: 'pass' });
    expect(await check('policy-attached', 'iam-detach-role-policy', p)).toMatchObject({ status: 'fail' });
    await sdk.iam.send(new AttachRolePolicyCommand({ RoleName: 'fn-role', PolicyArn: policyArn }));
    expect(await check('policy-not-attached', 'iam-attach-role-policy', p)).toMatchObject({
      status: 'fail',
      reason: expect.stringContaining('is already attached'),
    });
    expect(await check('policy-attached', 'iam-detach-role-policy', p)).toMatchObject({ status: 'pass' });
  });

  it('prechecks use the runner identity even with a run credential (which is still checked)', async () => {
    const request = await requestFor('ecs-scale-service', {
      region: REGION,
      cluster: 'c1',
      service: 'web',
      desired_count: 1,
    });
    // Keys moto accepts but that are not the executor's: the precheck still passes with the executor's own.
    const outcome = await executor.precheck(
      'service-exists',
      request,
      context({ credentials: { accessKeyId: 'OTHERKEY', secretAccessKey: 'other' } }),
    );
    expect(outcome.status).toBe('pass');
  });
});
