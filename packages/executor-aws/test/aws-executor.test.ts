// Every one of the 13 catalog/aws actions executed by the AwsExecutor against a private moto server,
// then described back with the test's own SDK clients (the resource really changed), with readState
// before and after; and the failures: unknown instance, moto down, abort during a wait.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { GetBucketPolicyCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { AwsExecutor } from '../src/index.js';
import {
  attached,
  type Clients,
  clients,
  context,
  createBucket,
  createFunction,
  createRoleAndPolicy,
  createService,
  functionConfig,
  instanceState,
  KEYS,
  motoForTests,
  queueLambdaResults,
  REGION,
  requestFor,
  resetMoto,
  runInstance,
  runTask,
  service,
  task,
} from './aws-helpers.js';
import type { MotoServer } from '../../audit/test/moto-server.js';

let moto: MotoServer;
let sdk: Clients;
let executor: AwsExecutor;

beforeAll(async () => {
  moto = await motoForTests();
  sdk = clients(moto.url);
  executor = new AwsExecutor({
    endpoint: moto.url,
    credentials: KEYS,
    pollIntervalMs: 50,
  });
}, 60_000);

afterAll(async () => {
  executor?.close();
  await moto?.stop();
});

beforeEach(async () => {
  await resetMoto(moto.url);
});

/** Runs one action: state before, execute, state after (all fields the catalogue declares). */
async function run(action: string, params: Record<string, unknown>, credentials?: unknown) {
  const request = await requestFor(action, { region: REGION, ...params });
  const fields = request.action.stateFields.map((field) => field.name);
  const ctx = context(credentials === undefined ? {} : { credentials });
  const before = await executor.readState(request, fields, ctx);
  const outcome = await executor.execute(request, ctx);
  const after = await executor.readState(request, fields, ctx);
  return { request, before, outcome, after };
}

describe('AwsExecutor on moto: each action changes the resource', () => {
  it('ec2-stop-instance stops and waits for "stopped"; ec2-start-instance starts it again', async () => {
    const id = await runInstance(sdk);
    const stop = await run('ec2-stop-instance', { instance_id: id });
    expect(stop.outcome).toMatchObject({
      ok: true,
      output: { instanceId: id, previousState: 'running', state: 'stopped' },
    });
    expect(stop.outcome.calls?.map((call) => call.path)).toEqual([
      'ec2:StopInstances',
      'ec2:DescribeInstances',
    ]);
    expect(stop.before).toEqual({ state: 'running', instance_type: 't3.micro' });
    expect(stop.after).toEqual({ state: 'stopped', instance_type: 't3.micro' });
    expect(await instanceState(sdk, id)).toBe('stopped');

    const start = await run('ec2-start-instance', { instance_id: id });
    expect(start.outcome).toMatchObject({ ok: true, output: { state: 'running' } });
    expect(start.before.state).toBe('stopped');
    expect(start.after.state).toBe('running');
    expect(await instanceState(sdk, id)).toBe('running');
  });

  it('ec2-reboot-instance keeps it running; ec2-terminate-instance waits for "terminated"', async () => {
    const id = await runInstance(sdk);
    const reboot = await run('ec2-reboot-instance', { instance_id: id });
    expect(reboot.outcome).toMatchObject({ ok: true, output: { instanceId: id, rebooted: true } });
    expect(reboot.after.state).toBe('running');
    expect(typeof reboot.after.launch_time).toBe('string');
    const terminate = await run('ec2-terminate-instance', { instance_id: id });
    expect(terminate.outcome).toMatchObject({
      ok: true,
      output: { previousState: 'running', state: 'terminated' },
    });
    expect(terminate.before.state).toBe('running');
    expect(terminate.after.state).toBe('terminated');
    expect(await instanceState(sdk, id)).toBe('terminated');
  });

  it('ecs-scale-service sets desiredCount; ecs-update-service forces a deployment and sets the count', async () => {
    await createService(sdk, 2);
    const scale = await run('ecs-scale-service', { cluster: 'c1', service: 'web', desired_count: 5 });
    expect(scale.outcome).toMatchObject({ ok: true, output: { service: 'web', desiredCount: 5 } });
    expect(scale.before.desired_count).toBe(2);
    expect(scale.after.desired_count).toBe(5);
    expect((await service(sdk))?.desiredCount).toBe(5);

    const update = await run('ecs-update-service', {
      cluster: 'c1',
      service: 'web',
      desired_count: 1,
      force_new_deployment: true,
    });
    expect(update.outcome.ok).toBe(true);
    expect(update.outcome.calls?.[0]?.body).toEqual({
      cluster: 'c1',
      service: 'web',
      desiredCount: 1,
      forceNewDeployment: true,
    });
    expect(update.before).toMatchObject({ desired_count: 5, status: 'ACTIVE' });
    expect(update.after).toMatchObject({ desired_count: 1, status: 'ACTIVE' });
    expect(typeof update.after.task_definition).toBe('string');
    expect((await service(sdk))?.desiredCount).toBe(1);
  });

  it('ecs-stop-task stops the task, with the reason recorded', async () => {
    await createService(sdk, 0);
    const id = await runTask(sdk);
    const stopped = await run('ecs-stop-task', { cluster: 'c1', task: id, reason: 'agent asked' });
    expect(stopped.outcome).toMatchObject({ ok: true, output: { desiredStatus: 'STOPPED' } });
    // moto moves a task's lastStatus along on each describe (PROVISIONING … RUNNING … DEACTIVATING).
    expect(stopped.before.last_status).not.toBe('STOPPED');
    expect(stopped.before.desired_status).toBe('RUNNING');
    expect(stopped.after.desired_status).toBe('STOPPED');
    const described = await task(sdk, id);
    expect(described?.desiredStatus).toBe('STOPPED');
    expect(described?.stoppedReason).toBe('agent asked');
  });

  it('lambda-update-function-config changes only the fields given; environment values never in the output or calls', async () => {
    await createRoleAndPolicy(sdk);
    await createFunction(sdk);
    const memory = await run('lambda-update-function-config', { function_name: 'fn1', memory_size: 512 });
    expect(memory.outcome).toMatchObject({ ok: true, output: { memorySize: 512, timeout: 3 } });
    expect(memory.before).toMatchObject({
      memory_size: 128,
      timeout: 3,
      environment_variables: { MODE: 'old' },
    });
    expect(memory.after).toMatchObject({
      memory_size: 512,
      timeout: 3,
      environment_variables: { MODE: 'old' },
    });

    const env = await run('lambda-update-function-config', {
      function_name: 'fn1',
      timeout: 9,
      environment_variables: { MODE: 'new', TOKEN: 's3cr3t-value' },
    });
    expect(env.outcome).toMatchObject({ ok: true, output: { environmentVariableNames: ['MODE', 'TOKEN'] } });
    expect(JSON.stringify(env.outcome)).not.toContain('s3cr3t-value');
    expect(env.outcome.calls?.[0]?.body).toEqual({
      FunctionName: 'fn1',
      Timeout: 9,
      Environment: { Variables: '***' },
    });
    const config = await functionConfig(sdk);
    expect(config.MemorySize).toBe(512);
    expect(config.Timeout).toBe(9);
    expect(config.Environment?.Variables).toEqual({ MODE: 'new', TOKEN: 's3cr3t-value' });
    expect(env.after.environment_variables).toEqual({ MODE: 'new', TOKEN: 's3cr3t-value' });
  });

  it('lambda-invoke-function returns the (queued) result; a FunctionError is ok:false with its type', async () => {
    await createRoleAndPolicy(sdk);
    await createFunction(sdk);
    await queueLambdaResults(moto.url, ['{"canned":true}']);
    const invoked = await run('lambda-invoke-function', { function_name: 'fn1', payload: { hello: 1 } });
    expect(invoked.outcome).toMatchObject({
      ok: true,
      output: { statusCode: 200, payload: '{"canned":true}' },
    });
    expect(invoked.outcome.calls?.[0]?.body).toMatchObject({
      FunctionName: 'fn1',
      InvocationType: 'RequestResponse',
    });
    expect(invoked.before).toMatchObject({ state: 'Active' });

    // Without a queued result the docker-less backend echoes the payload.
    const echoed = await executor.execute(
      await requestFor('lambda-invoke-function', {
        region: REGION,
        function_name: 'fn1',
        payload: { a: 'b' },
      }),
      context(),
    );
    expect(echoed).toMatchObject({ ok: true, output: { payload: '{"a":"b"}' } });
  });

  it('s3-delete-object deletes the object; its state is gone afterwards', async () => {
    await createBucket(sdk);
    const deleted = await run('s3-delete-object', { bucket: 'bucket-one', key: 'k1' });
    expect(deleted.outcome).toMatchObject({ ok: true, output: { deleted: true } });
    expect(deleted.before).toMatchObject({ content_length: 5, content_type: 'text/plain' });
    expect(typeof deleted.before.etag).toBe('string');
    expect(deleted.after).toEqual({});
    await expect(
      sdk.s3.send(new HeadObjectCommand({ Bucket: 'bucket-one', Key: 'k1' })),
    ).rejects.toMatchObject({
      name: 'NotFound',
    });
  });

  it('s3-put-bucket-policy sets the policy (before: none); read back equal', async () => {
    await createBucket(sdk);
    const policy = {
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'deny-delete',
          Effect: 'Deny',
          Principal: '*',
          Action: 's3:DeleteObject',
          Resource: 'arn:aws:s3:::bucket-one/*',
        },
      ],
    };
    const put = await run('s3-put-bucket-policy', { bucket: 'bucket-one', policy });
    expect(put.outcome).toMatchObject({ ok: true, output: { bucket: 'bucket-one', policySet: true } });
    expect(put.before).toEqual({ policy_present: false });
    expect(put.after).toEqual({ policy_present: true, policy });
    const read = await sdk.s3.send(new GetBucketPolicyCommand({ Bucket: 'bucket-one' }));
    expect(JSON.parse(read.Policy as string)).toEqual(policy);
  });

  it('iam-attach-role-policy then iam-detach-role-policy', async () => {
    const arn = await createRoleAndPolicy(sdk);
    const attach = await run('iam-attach-role-policy', { role_name: 'fn-role', policy_arn: arn });
    expect(attach.outcome).toMatchObject({
      ok: true,
      output: { role: 'fn-role', policyArn: arn, attached: true },
    });
    expect(attach.before).toEqual({ attached_policies: [], policy_attached: false });
    expect(attach.after).toEqual({ attached_policies: [arn], policy_attached: true });
    expect(await attached(sdk)).toEqual([arn]);
    const detach = await run('iam-detach-role-policy', { role_name: 'fn-role', policy_arn: arn });
    expect(detach.outcome.ok).toBe(true);
    expect(detach.after).toEqual({ attached_policies: [], policy_attached: false });
    expect(await attached(sdk)).toEqual([]);
  });
});

describe('AwsExecutor on moto: credentials', () => {
  it('uses ONLY the context credentials (a Credential-like handle); malformed ones fail closed without a call', async () => {
    const id = await runInstance(sdk);
    const request = await requestFor('ec2-reboot-instance', { region: REGION, instance_id: id });
    const ok = await executor.execute(
      request,
      context({ credentials: { ...KEYS, sessionToken: 'token-1' } }),
    );
    expect(ok.ok).toBe(true);
    for (const bad of [{ token: 'x' }, { accessKeyId: 'A' }, { ...KEYS, roleArn: 'arn' }, 'keys', null]) {
      const refused = await executor.execute(request, context({ credentials: bad }));
      expect(refused.ok).toBe(false);
      expect(refused.error).toContain('context.credentials must be a Credential');
      expect(refused.error).not.toContain(KEYS.secretAccessKey);
    }
  });
});

describe('AwsExecutor on moto: failures', () => {
  it('an unknown instance → ok:false with InvalidInstanceID.NotFound; readState gives no fields', async () => {
    const request = await requestFor('ec2-stop-instance', {
      region: REGION,
      instance_id: 'i-0123456789abcdef0',
    });
    const outcome = await executor.execute(request, context());
    expect(outcome.ok).toBe(false);
    expect(outcome.error).toMatch(/^InvalidInstanceID\.NotFound: /);
    expect(outcome.calls?.map((call) => call.path)).toEqual(['ec2:StopInstances', 'ec2:DescribeInstances']);
    expect(await executor.readState(request, ['state'], context())).toEqual({});
  });

  it('an unknown service → ok:false naming the ECS error', async () => {
    await createService(sdk);
    const outcome = await executor.execute(
      await requestFor('ecs-scale-service', {
        region: REGION,
        cluster: 'c1',
        service: 'nope',
        desired_count: 1,
      }),
      context(),
    );
    expect(outcome.ok).toBe(false);
    expect(outcome.error).toMatch(/^ServiceNotFoundException/);
  });

  it('moto down → a clear "cannot reach" failure quickly, no hang; prechecks fail the same way', async () => {
    const down = new AwsExecutor({
      endpoint: 'http://127.0.0.1:9',
      credentials: KEYS,
      maxAttempts: 2,
    });
    const request = await requestFor('ec2-stop-instance', {
      region: REGION,
      instance_id: 'i-0123456789abcdef0',
    });
    const started = Date.now();
    const outcome = await down.execute(request, context());
    expect(outcome).toMatchObject({ ok: false });
    expect(outcome.error).toBe('cannot reach AWS ec2 at http://127.0.0.1:9: ECONNREFUSED');
    expect(Date.now() - started).toBeLessThan(10_000);
    const check = await down.precheck('instance-exists', request, context());
    expect(check).toEqual({
      status: 'fail',
      reason: 'instance-exists: cannot reach AWS ec2 at http://127.0.0.1:9: ECONNREFUSED',
    });
    await expect(down.readState(request, ['state'], context())).rejects.toThrow(
      'cannot reach AWS ec2 at http://127.0.0.1:9: ECONNREFUSED',
    );
    down.close();
  });
});
