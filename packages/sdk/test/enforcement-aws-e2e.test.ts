// End to end on moto (real AWS APIs in server mode, one private server for this file; `scripts/services.sh
// install moto` installs it once per machine; never skipped): for every catalogue AWS action, check →
// ticket → runner (AWS executor) → the resource really changed (described back with the AWS SDK) → the
// audit log holds the decision, the execution and the state capture → the rollback, decided by the PDP,
// restores the before-state (or generateRollback says why there is none). Plus: bad ids and ARNs are
// refused by the constraints before any call, a moto that is down is a clear audited failure, and a
// replayed ticket is refused.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  DescribeInstancesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  EC2Client,
  RunInstancesCommand,
  StartInstancesCommand,
  StopInstancesCommand,
} from '@aws-sdk/client-ec2';
import {
  CreateClusterCommand,
  CreateServiceCommand,
  DescribeServicesCommand,
  DescribeTasksCommand,
  ECSClient,
  RegisterTaskDefinitionCommand,
  RunTaskCommand,
} from '@aws-sdk/client-ecs';
import {
  AttachRolePolicyCommand,
  CreatePolicyCommand,
  CreateRoleCommand,
  IAMClient,
  ListAttachedRolePoliciesCommand,
} from '@aws-sdk/client-iam';
import { CreateFunctionCommand, GetFunctionConfigurationCommand, LambdaClient } from '@aws-sdk/client-lambda';
import {
  CreateBucketCommand,
  GetBucketPolicyCommand,
  HeadObjectCommand,
  PutBucketPolicyCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { type MotoServer, startMoto } from '../../audit/test/moto-server.js';
import { AgentSafe, type Decision, type ExecutionResult, StsCredentialProvider } from '../src/index.js';

// moto accepts any key; the SDK's default chain reads these (and must not wait for an instance role).
process.env.AWS_ACCESS_KEY_ID = 'testing';
process.env.AWS_SECRET_ACCESS_KEY = 'testing-secret-never-printed';
process.env.AWS_EC2_METADATA_DISABLED = 'true';
delete process.env.AWS_PROFILE;
delete process.env.AWS_ENDPOINT_URL;

const CATALOG = join(import.meta.dirname, '..', '..', '..', 'catalog', 'aws');
const SECRET = 'e2e-aws-ticket-secret-with-at-least-32-bytes';
const REGION = 'us-east-1';
const CALLER = 'e2e-agent';
const ACCOUNT = '123456789012';
const CLUSTER = 'shop';
const SERVICE = 'web';
const FUNCTION = 'resize';
const BUCKET = 'e2e-reports';
const OBJECT_KEY = 'daily/2026-12-03.csv';
const ROLE = 'app-role';
const ENV_SECRET = 'db-password-never-in-the-audit-log';

/** API answers, read loosely by the assertions. */
// biome-ignore lint/suspicious/noExplicitAny: the API objects are only read by assertions
type Json = any;

let moto: MotoServer;
let dir: string;
let safe: AgentSafe;
let auditPath: string;
const instances: Record<'main' | 'doomed', string> = { main: '', doomed: '' };
let taskId = '';
let policyArns: Record<'attach' | 'detach', string> = { attach: '', detach: '' };
let initialBucketPolicy: Record<string, unknown> = {};

function clients() {
  const config = {
    endpoint: moto.url,
    region: REGION,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  };
  return {
    ec2: new EC2Client(config),
    ecs: new ECSClient(config),
    iam: new IAMClient(config),
    lambda: new LambdaClient(config),
    s3: new S3Client({ ...config, forcePathStyle: true }),
  };
}
let aws: ReturnType<typeof clients>;

async function motoApi(path: string, body: unknown): Promise<void> {
  const response = await fetch(`${moto.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`moto ${path}: HTTP ${response.status}`);
  await response.body?.cancel();
}

async function instanceState(id: string): Promise<string | undefined> {
  const answer = await aws.ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
  return answer.Reservations?.[0]?.Instances?.[0]?.State?.Name;
}

async function service(): Promise<Json> {
  const answer = await aws.ecs.send(new DescribeServicesCommand({ cluster: CLUSTER, services: [SERVICE] }));
  return answer.services?.[0];
}

async function attachedPolicies(): Promise<string[]> {
  const answer = await aws.iam.send(new ListAttachedRolePoliciesCommand({ RoleName: ROLE }));
  return (answer.AttachedPolicies ?? []).map((policy) => policy.PolicyArn ?? '').sort();
}

function bucketPolicyDocument(sid: string): Record<string, unknown> {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: sid,
        Effect: 'Deny',
        Principal: '*',
        Action: 's3:DeleteBucket',
        Resource: `arn:aws:s3:::${BUCKET}`,
      },
    ],
  };
}

async function createResources(): Promise<void> {
  // Lambda without Docker: set before any function is created (switching later hides functions).
  await motoApi('/moto-api/config', { lambda: { use_docker: false }, batch: { use_docker: false } });
  for (const name of ['main', 'doomed'] as const) {
    const run = await aws.ec2.send(
      new RunInstancesCommand({
        ImageId: 'ami-12345678',
        InstanceType: 't3.micro',
        MinCount: 1,
        MaxCount: 1,
      }),
    );
    instances[name] = run.Instances?.[0]?.InstanceId ?? '';
  }
  await aws.ecs.send(new CreateClusterCommand({ clusterName: CLUSTER }));
  await aws.ecs.send(
    new RegisterTaskDefinitionCommand({
      family: 'web',
      requiresCompatibilities: ['FARGATE'],
      networkMode: 'awsvpc',
      cpu: '256',
      memory: '512',
      containerDefinitions: [{ name: 'app', image: 'nginx', essential: true, memory: 512, cpu: 256 }],
    }),
  );
  await aws.ecs.send(
    new CreateServiceCommand({
      cluster: CLUSTER,
      serviceName: SERVICE,
      taskDefinition: 'web',
      desiredCount: 2,
      launchType: 'FARGATE',
    }),
  );
  // moto's services start no tasks: run one as the scheduler would, for ecs-stop-task.
  const subnet = (await aws.ec2.send(new DescribeSubnetsCommand({}))).Subnets?.[0]?.SubnetId ?? '';
  const group =
    (await aws.ec2.send(new DescribeSecurityGroupsCommand({}))).SecurityGroups?.[0]?.GroupId ?? '';
  const task = await aws.ecs.send(
    new RunTaskCommand({
      cluster: CLUSTER,
      taskDefinition: 'web',
      launchType: 'FARGATE',
      count: 1,
      networkConfiguration: { awsvpcConfiguration: { subnets: [subnet], securityGroups: [group] } },
    }),
  );
  taskId = task.tasks?.[0]?.taskArn?.split('/').pop() ?? '';

  const trust = (service_: string) =>
    JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Principal: { Service: service_ }, Action: 'sts:AssumeRole' }],
    });
  const functionRole = await aws.iam.send(
    new CreateRoleCommand({ RoleName: 'resize-fn', AssumeRolePolicyDocument: trust('lambda.amazonaws.com') }),
  );
  await aws.iam.send(
    new CreateRoleCommand({ RoleName: ROLE, AssumeRolePolicyDocument: trust('ec2.amazonaws.com') }),
  );
  for (const name of ['attach', 'detach'] as const) {
    const created = await aws.iam.send(
      new CreatePolicyCommand({
        PolicyName: `reports-${name}`,
        PolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: `arn:aws:s3:::${BUCKET}/*` }],
        }),
      }),
    );
    policyArns = { ...policyArns, [name]: created.Policy?.Arn ?? '' };
  }
  await aws.iam.send(new AttachRolePolicyCommand({ RoleName: ROLE, PolicyArn: policyArns.detach }));

  await aws.lambda.send(
    new CreateFunctionCommand({
      FunctionName: FUNCTION,
      Runtime: 'nodejs20.x',
      Role: functionRole.Role?.Arn ?? '',
      Handler: 'index.handler',
      MemorySize: 128,
      Timeout: 3,
      Environment: { Variables: { DB_PASSWORD: ENV_SECRET } },
      Code: { ZipFile: new Uint8Array([0x50, 0x4b, 0x05, 0x06, ...new Array(18).fill(0)]) },
    }),
  );

  await aws.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  await aws.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: OBJECT_KEY, Body: 'a,b\n1,2\n' }));
  initialBucketPolicy = bucketPolicyDocument('keep-the-bucket');
  await aws.s3.send(
    new PutBucketPolicyCommand({ Bucket: BUCKET, Policy: JSON.stringify(initialBucketPolicy) }),
  );
}

function writeProject(): string {
  const root = mkdtempSync(join(tmpdir(), 'agent-safe-aws-e2e-'));
  const target = (id: string, type: string, identifiers: Record<string, string>) => ({
    id,
    type,
    environment: 'dev',
    sensitivity: 'internal',
    identifiers,
  });
  const targets = [
    target('aws/ec2-main', 'aws-ec2-instance', { instance_id: instances.main, region: REGION }),
    target('aws/ec2-doomed', 'aws-ec2-instance', { instance_id: instances.doomed, region: REGION }),
    target('aws/ecs-shop', 'aws-ecs-cluster', { cluster: CLUSTER, region: REGION }),
    target('aws/ecs-web', 'aws-ecs-service', { cluster: CLUSTER, name: SERVICE, region: REGION }),
    target('aws/fn-resize', 'aws-lambda-function', { name: FUNCTION, region: REGION }),
    target('aws/s3-reports', 'aws-s3-bucket', { name: BUCKET, region: REGION }),
    target('aws/iam-app', 'aws-iam-role', { name: ROLE }),
  ];
  writeFileSync(join(root, 'inventory.yaml'), JSON.stringify({ targets }));
  writeFileSync(
    join(root, 'policy.yaml'),
    'rules:\n  - { name: e2e-allow-all, priority: 100, match: { actions: ["*"] }, decision: allow, reason: e2e }\n',
  );
  mkdirSync(join(root, 'audit'));
  writeFileSync(
    join(root, 'agent-safe.yaml'),
    [
      `registry: ${JSON.stringify(CATALOG)}`,
      'policies: ./policy.yaml',
      'inventory: ./inventory.yaml',
      'audit_log: ./audit/audit.jsonl',
      'enforce_target_binding: true',
      `aws: { region: ${REGION} }`,
      '',
    ].join('\n'),
  );
  return root;
}

beforeAll(async () => {
  moto = await startMoto();
  aws = clients();
  await createResources();
  dir = writeProject();
  auditPath = join(dir, 'audit', 'audit.jsonl');
  safe = new AgentSafe({ cwd: dir, security: { signingKey: SECRET, allowPlainCallers: true } });
}, 120_000);

afterAll(async () => {
  await safe?.close();
  await moto?.stop();
}, 30_000);

async function decide(action: string, target: string, params: Record<string, unknown>): Promise<Decision> {
  const decision = await safe.check({ action, target, caller: CALLER, params });
  expect({ result: decision.result, errors: decision.errors }).toEqual({ result: 'ALLOW', errors: [] });
  expect(decision.ticket?.token).toEqual(expect.any(String));
  return decision;
}

function executeOptions() {
  return { executor: 'aws' as const, endpoint: moto.url, timeoutMs: 60_000 };
}

/** The run succeeded; on failure the assertion shows its error and steps. */
function expectSucceeded(result: ExecutionResult): void {
  expect({
    status: result.status,
    error: result.error,
    steps: result.steps.map((step) => step.name),
  }).toEqual({ status: 'succeeded', error: undefined, steps: expect.any(Array) });
  expect(result.executor).toBe('aws');
}

/** check → execute with the AWS executor on moto. */
async function run(action: string, target: string, params: Record<string, unknown>) {
  const decision = await decide(action, target, params);
  const result = await safe.execute(decision, executeOptions());
  return { decision, result };
}

function auditEvents(): Json[] {
  return readFileSync(auditPath, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Json);
}

/** The decision, the execution and the state capture of a run are in the log, linked by the audit id. */
function expectAudited(decision: Decision, status: string, withCapture = true): Json {
  const events = auditEvents();
  expect(events.some((event) => event.event_id === decision.auditId && event.decision === 'ALLOW')).toBe(
    true,
  );
  const execution = events.find(
    (event) => event.event_type === 'execution' && event.decision_audit_id === decision.auditId,
  );
  expect(execution?.status).toBe(status);
  expect(execution?.executor).toBe('aws');
  const capture = events.find(
    (event) => event.event_type === 'state_capture' && event.decision_audit_id === decision.auditId,
  );
  expect(capture !== undefined).toBe(withCapture);
  return capture;
}

/** The rollback plan of `decision`, decided (ALLOW, correlated to it) and executed on moto. */
async function rollback(decision: Decision) {
  const outcome = await safe.executeRollback(decision.auditId, { ...executeOptions(), caller: CALLER });
  expect(outcome.decision.result).toBe('ALLOW');
  expect(outcome.decision.correlationId).toBe(decision.auditId);
  expect({ status: outcome.result?.status, error: outcome.result?.error }).toEqual({
    status: 'succeeded',
    error: undefined,
  });
  return outcome;
}

/** An irreversible action has no rollback, and generateRollback says why. */
async function expectNoRollback(decision: Decision): Promise<void> {
  const plan = await safe.generateRollback(decision.auditId);
  expect(plan).toEqual({ ok: false, reason: expect.stringMatching(/not reversible|no rollback/i) });
}

describe('AWS enforcement end to end (moto)', () => {
  it('ec2-stop-instance stops the instance (waits for stopped); the rollback starts it again', async () => {
    const params = { instance_id: instances.main, region: REGION };
    const { decision, result } = await run('ec2-stop-instance', 'aws/ec2-main', params);
    expectSucceeded(result);
    expect(await instanceState(instances.main)).toBe('stopped');
    expect(result.beforeState?.state).toBe('running');
    expect(result.diff?.state).toEqual({ before: 'running', after: 'stopped' });
    expectAudited(decision, 'succeeded');
    expect(await safe.generateRollback(decision.auditId)).toEqual({
      ok: true,
      plan: expect.objectContaining({ action: 'ec2-start-instance', params }),
    });
    await rollback(decision);
    expect(await instanceState(instances.main)).toBe('running');
  });

  it('ec2-start-instance starts a stopped instance; the rollback stops it again', async () => {
    await aws.ec2.send(new StopInstancesCommand({ InstanceIds: [instances.main] }));
    expect(await instanceState(instances.main)).toBe('stopped');
    const { decision, result } = await run('ec2-start-instance', 'aws/ec2-main', {
      instance_id: instances.main,
      region: REGION,
    });
    expectSucceeded(result);
    expect(await instanceState(instances.main)).toBe('running');
    expectAudited(decision, 'succeeded');
    await rollback(decision);
    expect(await instanceState(instances.main)).toBe('stopped');
    await aws.ec2.send(new StartInstancesCommand({ InstanceIds: [instances.main] }));
  });

  it('ec2-reboot-instance reboots a running instance; it has no rollback', async () => {
    const { decision, result } = await run('ec2-reboot-instance', 'aws/ec2-main', {
      instance_id: instances.main,
      region: REGION,
    });
    expectSucceeded(result);
    expect(await instanceState(instances.main)).toBe('running');
    expectAudited(decision, 'succeeded');
    await expectNoRollback(decision);
  });

  it('ec2-terminate-instance terminates the instance; it has no rollback', async () => {
    const { decision, result } = await run('ec2-terminate-instance', 'aws/ec2-doomed', {
      instance_id: instances.doomed,
      region: REGION,
    });
    expectSucceeded(result);
    expect(['shutting-down', 'terminated']).toContain(await instanceState(instances.doomed));
    expectAudited(decision, 'succeeded');
    await expectNoRollback(decision);
  });

  it('ecs-scale-service sets the desired count; the rollback restores the captured one', async () => {
    expect((await service()).desiredCount).toBe(2);
    const { decision, result } = await run('ecs-scale-service', 'aws/ecs-web', {
      cluster: CLUSTER,
      service: SERVICE,
      desired_count: 4,
      region: REGION,
    });
    expectSucceeded(result);
    expect((await service()).desiredCount).toBe(4);
    expect(result.beforeState?.desired_count).toBe(2);
    expectAudited(decision, 'succeeded');
    await rollback(decision);
    expect((await service()).desiredCount).toBe(2);
  });

  it('ecs-update-service changes the service (count, new deployment); the rollback restores the count', async () => {
    const { decision, result } = await run('ecs-update-service', 'aws/ecs-web', {
      cluster: CLUSTER,
      service: SERVICE,
      desired_count: 3,
      force_new_deployment: true,
      region: REGION,
    });
    expectSucceeded(result);
    expect((await service()).desiredCount).toBe(3);
    expectAudited(decision, 'succeeded');
    await rollback(decision);
    expect((await service()).desiredCount).toBe(2);
  });

  it('ecs-stop-task stops the task; it has no rollback', async () => {
    const { decision, result } = await run('ecs-stop-task', 'aws/ecs-shop', {
      cluster: CLUSTER,
      task: taskId,
      reason: 'e2e: stopped by agent-safe',
      region: REGION,
    });
    expectSucceeded(result);
    const described = await aws.ecs.send(new DescribeTasksCommand({ cluster: CLUSTER, tasks: [taskId] }));
    expect(described.tasks?.[0]?.desiredStatus).toBe('STOPPED');
    expectAudited(decision, 'succeeded');
    await expectNoRollback(decision);
  });

  it('lambda-update-function-config changes memory, timeout and variables; the rollback (from the result: variables are sensitive) restores them', async () => {
    const { decision, result } = await run('lambda-update-function-config', 'aws/fn-resize', {
      function_name: FUNCTION,
      region: REGION,
      memory_size: 256,
      timeout: 9,
      environment_variables: { DB_PASSWORD: 'rotated-value', MODE: 'fast' },
    });
    expectSucceeded(result);
    let config = await aws.lambda.send(new GetFunctionConfigurationCommand({ FunctionName: FUNCTION }));
    expect([config.MemorySize, config.Timeout, config.Environment?.Variables]).toEqual([
      256,
      9,
      { DB_PASSWORD: 'rotated-value', MODE: 'fast' },
    ]);
    const capture = expectAudited(decision, 'succeeded');
    // The variables are masked in the log: the old and the new secret never reach it.
    expect(capture.before_state.environment_variables).toBe('***');
    const log = readFileSync(auditPath, 'utf8');
    expect(log).not.toContain(ENV_SECRET);
    expect(log).not.toContain('rotated-value');
    expect(await safe.generateRollback(decision.auditId)).toEqual({
      ok: false,
      reason: expect.stringContaining('sensitive'),
    });
    const plan = await safe.generateRollback(result);
    if (!plan.ok) throw new Error(plan.reason);
    expect(plan.plan.params).toEqual({
      function_name: FUNCTION,
      region: REGION,
      memory_size: 128,
      timeout: 3,
      environment_variables: { DB_PASSWORD: ENV_SECRET },
    });
    const undo = await safe.check({ ...plan.plan, params: { ...plan.plan.params }, caller: CALLER });
    expect(undo).toMatchObject({ result: 'ALLOW', correlationId: decision.auditId });
    expectSucceeded(await safe.execute(undo, executeOptions()));
    config = await aws.lambda.send(new GetFunctionConfigurationCommand({ FunctionName: FUNCTION }));
    expect([config.MemorySize, config.Timeout, config.Environment?.Variables]).toEqual([
      128,
      3,
      { DB_PASSWORD: ENV_SECRET },
    ]);
  });

  it('lambda-invoke-function invokes the function and returns its result; it has no rollback', async () => {
    // Lambda code does not run without Docker: moto hands out the queued result.
    await motoApi('/moto-api/static/lambda-simple/response', {
      results: ['{"resized":3}'],
      region: REGION,
    });
    const { decision, result } = await run('lambda-invoke-function', 'aws/fn-resize', {
      function_name: FUNCTION,
      region: REGION,
      payload: { images: 3 },
    });
    expectSucceeded(result);
    expect(JSON.stringify(result.output)).toContain('resized');
    expectAudited(decision, 'succeeded');
    await expectNoRollback(decision);
  });

  it('s3-delete-object deletes the object; it has no rollback', async () => {
    const { decision, result } = await run('s3-delete-object', 'aws/s3-reports', {
      bucket: BUCKET,
      key: OBJECT_KEY,
      region: REGION,
    });
    expectSucceeded(result);
    await expect(
      aws.s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: OBJECT_KEY })),
    ).rejects.toMatchObject({
      $metadata: { httpStatusCode: 404 },
    });
    expect(result.beforeState?.content_length).toBe(8);
    expectAudited(decision, 'succeeded');
    await expectNoRollback(decision);
  });

  it('s3-put-bucket-policy replaces the policy; the rollback restores the captured one', async () => {
    const policy = bucketPolicyDocument('agent-safe-e2e');
    const { decision, result } = await run('s3-put-bucket-policy', 'aws/s3-reports', {
      bucket: BUCKET,
      policy,
      region: REGION,
    });
    expectSucceeded(result);
    const current = await aws.s3.send(new GetBucketPolicyCommand({ Bucket: BUCKET }));
    expect(JSON.parse(current.Policy ?? '{}')).toEqual(policy);
    expectAudited(decision, 'succeeded');
    await rollback(decision);
    const restored = await aws.s3.send(new GetBucketPolicyCommand({ Bucket: BUCKET }));
    expect(JSON.parse(restored.Policy ?? '{}')).toEqual(initialBucketPolicy);
  });

  it('iam-attach-role-policy attaches the policy; the rollback detaches it', async () => {
    expect(await attachedPolicies()).toEqual([policyArns.detach]);
    const { decision, result } = await run('iam-attach-role-policy', 'aws/iam-app', {
      role_name: ROLE,
      policy_arn: policyArns.attach,
      region: REGION,
    });
    expectSucceeded(result);
    expect(await attachedPolicies()).toEqual([policyArns.attach, policyArns.detach].sort());
    expectAudited(decision, 'succeeded');
    await rollback(decision);
    expect(await attachedPolicies()).toEqual([policyArns.detach]);
  });

  it('iam-detach-role-policy detaches the policy; the rollback attaches it again', async () => {
    const { decision, result } = await run('iam-detach-role-policy', 'aws/iam-app', {
      role_name: ROLE,
      policy_arn: policyArns.detach,
      region: REGION,
    });
    expectSucceeded(result);
    expect(await attachedPolicies()).toEqual([]);
    expectAudited(decision, 'succeeded');
    await rollback(decision);
    expect(await attachedPolicies()).toEqual([policyArns.detach]);
  });
});

/** A local HTTP server standing in for AWS that counts the requests it gets (none, it is hoped). */
async function countingEndpoint(): Promise<{ url: string; count: () => number; close: () => Promise<void> }> {
  let requests = 0;
  const server: Server = createServer((request, response) => {
    requests += 1;
    request.resume();
    response.writeHead(500).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    count: () => requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe('a per-run STS session (credentials: StsCredentialProvider)', () => {
  it('the action runs with a session scoped by its credentials block, revoked when the run ends', async () => {
    await aws.iam.send(
      new CreateRoleCommand({
        RoleName: 'agent-safe-executor',
        AssumeRolePolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            { Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: 'sts:AssumeRole' },
          ],
        }),
      }),
    );
    const credentials = new StsCredentialProvider({
      roleArn: `arn:aws:iam::${ACCOUNT}:role/agent-safe-executor`,
      region: REGION,
      endpoint: moto.url,
    });
    const decision = await decide('ec2-stop-instance', 'aws/ec2-main', {
      instance_id: instances.main,
      region: REGION,
    });
    const result = await safe.execute(decision, { ...executeOptions(), credentials });
    expectSucceeded(result);
    expect(await instanceState(instances.main)).toBe('stopped');
    const steps = Object.fromEntries(result.steps.map((step) => [step.name, step]));
    expect(steps.credentials?.status).toBe('ok');
    expect(steps.revoke?.status).toBe('ok');
    // The audit names the session and the clamped lifetime, never a key.
    const execution = auditEvents().find(
      (event) => event.event_type === 'execution' && event.decision_audit_id === decision.auditId,
    );
    const audited = execution.steps.find((step: Json) => step.name === 'credentials');
    expect(audited.detail).toContain(`assumed-role/agent-safe-executor/agent-safe-${decision.auditId}`);
    expect(audited.detail).toContain("raised to STS's minimum session of 900s");
    const log = readFileSync(auditPath, 'utf8');
    expect(log).not.toMatch(/"(secretAccessKey|sessionToken)"/);
    await aws.ec2.send(new StartInstancesCommand({ InstanceIds: [instances.main] }));
  });
});

describe('refusals on AWS', () => {
  it.each([
    ['ec2-stop-instance', 'aws/ec2-main', { instance_id: 'i-XYZ', region: REGION }, 'instance_id'],
    [
      'ec2-stop-instance',
      'aws/ec2-main',
      { instance_id: 'i-0123456789abcdef0;', region: REGION },
      'instance_id',
    ],
    ['ec2-stop-instance', 'aws/ec2-main', { instance_id: '', region: 'us-east-1"' }, 'region'],
    [
      'iam-attach-role-policy',
      'aws/iam-app',
      { role_name: ROLE, policy_arn: `arn:aws:iam::${ACCOUNT}:role/not-a-policy`, region: REGION },
      'policy_arn',
    ],
    [
      'iam-detach-role-policy',
      'aws/iam-app',
      { role_name: ROLE, policy_arn: 'arn:aws:iam::12:policy/short-account', region: REGION },
      'policy_arn',
    ],
    ['s3-delete-object', 'aws/s3-reports', { bucket: 'Bad_Bucket', key: 'k', region: REGION }, 'bucket'],
    ['ecs-stop-task', 'aws/ecs-shop', { cluster: CLUSTER, task: 'arn:aws:ecs:x', region: REGION }, 'task'],
    [
      'lambda-invoke-function',
      'aws/fn-resize',
      { function_name: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${FUNCTION}`, region: REGION },
      'function_name',
    ],
  ])(
    '%s with a bad %j is DENY (PARAMS_INVALID) and nothing calls AWS',
    async (action, target, params, field) => {
      const endpoint = await countingEndpoint();
      try {
        const decision = await safe.check({ action, target, caller: CALLER, params });
        expect(decision.result).toBe('DENY');
        expect(decision.errors).toEqual(
          expect.arrayContaining([expect.objectContaining({ code: 'PARAMS_INVALID' })]),
        );
        expect(JSON.stringify(decision.errors)).toContain(field);
        expect(decision.ticket ?? null).toBeNull();
        const result = await safe.execute(decision, { executor: 'aws', endpoint: endpoint.url });
        expect(result.status).toBe('refused');
        expect(endpoint.count()).toBe(0);
      } finally {
        await endpoint.close();
      }
    },
  );

  it('a ticket run with other (bad) params than it was issued for is refused before any call', async () => {
    const endpoint = await countingEndpoint();
    try {
      const decision = await decide('ec2-reboot-instance', 'aws/ec2-main', {
        instance_id: instances.main,
        region: REGION,
      });
      const result = await safe.execute(decision.ticket?.token ?? '', {
        executor: 'aws',
        endpoint: endpoint.url,
        params: { instance_id: 'i-../../etc', region: REGION },
      });
      expect(result.status).toBe('refused');
      expect(result.error?.code).toMatch(/PARAMS/);
      expect(endpoint.count()).toBe(0);
    } finally {
      await endpoint.close();
    }
  });

  it('moto down: a clear, audited failure, no credential in it, nothing half-done unrecorded', async () => {
    const endpoint = await countingEndpoint();
    const url = endpoint.url;
    await endpoint.close(); // nothing listens there any more
    const decision = await decide('ec2-reboot-instance', 'aws/ec2-main', {
      instance_id: instances.main,
      region: REGION,
    });
    const result = await safe.execute(decision, { executor: 'aws', endpoint: url, timeoutMs: 30_000 });
    expect(['refused', 'failed']).toContain(result.status);
    expect(result.error?.message).toEqual(expect.any(String));
    expect(result.error?.message).toMatch(/ECONNREFUSED|connect|reach|unreachable|network/i);
    expect(result.error?.message).not.toMatch(/\n\s+at /);
    const execution = auditEvents().find(
      (event) => event.event_type === 'execution' && event.decision_audit_id === decision.auditId,
    );
    expect(execution?.status).toBe(result.status);
    const log = readFileSync(auditPath, 'utf8');
    expect(log).not.toContain('testing-secret-never-printed');
    expect(JSON.stringify(result)).not.toContain('testing-secret-never-printed');
  });

  it('a replayed ticket is refused, and the instance is not touched again', async () => {
    const decision = await decide('ec2-reboot-instance', 'aws/ec2-main', {
      instance_id: instances.main,
      region: REGION,
    });
    expectSucceeded(await safe.execute(decision, executeOptions()));
    const again = await safe.execute(decision, executeOptions());
    expect(again.status).toBe('refused');
    expect(again.error?.code).toMatch(/REPLAY/);
    expect(again.steps.some((step) => step.name !== 'ticket')).toBe(false);
    // The refusal is audited too (as an unverified ticket: it is not linked to the decision).
    const refusal = auditEvents()
      .filter((event) => event.event_type === 'execution')
      .pop();
    expect(refusal).toMatchObject({
      status: 'refused',
      ticket_verified: false,
      action: 'ec2-reboot-instance',
    });
    expect(JSON.stringify(refusal)).toContain('REPLAYED');
  });
});
