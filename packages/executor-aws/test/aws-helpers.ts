// Shared by the executor-aws tests: the shipped catalog/aws, requests built from it, and fixtures made
// directly with the SDK on a private moto server (one per test file; reset between tests as needed).
import { join } from 'node:path';
import type { ExecutionContext, ExecutionRequest, ExecutionTicket } from '@agent-safe/core';
import { ActionRegistry } from '@agent-safe/registry';
import {
  DescribeInstancesCommand,
  EC2Client,
  RunInstancesCommand,
  DescribeSubnetsCommand,
  DescribeSecurityGroupsCommand,
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
  CreatePolicyCommand,
  CreateRoleCommand,
  IAMClient,
  ListAttachedRolePoliciesCommand,
} from '@aws-sdk/client-iam';
import { CreateFunctionCommand, GetFunctionConfigurationCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { type MotoServer, startMoto } from '../../audit/test/moto-server.js';

export const CATALOG = join(import.meta.dirname, '..', '..', '..', 'catalog', 'aws');
export const REGION = 'us-east-1';
export const KEYS = Object.freeze({
  accessKeyId: 'AKIDAGENTSAFETEST',
  secretAccessKey: 'agent-safe-test-secret',
});

let registry: Promise<ActionRegistry> | undefined;

/** The shipped AWS catalogue. */
export function catalogue(): Promise<ActionRegistry> {
  registry ??= ActionRegistry.load(CATALOG);
  return registry;
}

/** An ExecutionRequest for a catalogue action (params validated, defaults applied, as the runner does). */
export async function requestFor(action: string, params: Record<string, unknown>): Promise<ExecutionRequest> {
  const actions = await catalogue();
  const definition = actions.get(action);
  if (definition === undefined) throw new Error(`no action ${action}`);
  const checked = actions.validateParams(action, params);
  if (!checked.ok) throw new Error(`bad params for ${action}: ${JSON.stringify(checked.errors)}`);
  return {
    action: definition,
    target: 'test',
    params: checked.params,
    ticket: { auditId: 'evt_test' } as unknown as ExecutionTicket,
  };
}

export function context(options: { signal?: AbortSignal; credentials?: unknown } = {}): ExecutionContext {
  return {
    signal: options.signal ?? new AbortController().signal,
    ...(options.credentials !== undefined ? { credentials: options.credentials } : {}),
  };
}

/** The SDK clients of the test itself (fixtures, reading back), on moto. */
export function clients(url: string) {
  const config = { endpoint: url, region: REGION, credentials: { ...KEYS } };
  return {
    ec2: new EC2Client(config),
    ecs: new ECSClient(config),
    lambda: new LambdaClient(config),
    s3: new S3Client({ ...config, forcePathStyle: true }),
    iam: new IAMClient(config),
  };
}
export type Clients = ReturnType<typeof clients>;

/** Starts moto and switches Lambda to its docker-less backend (before any function is created). */
export async function motoForTests(): Promise<MotoServer> {
  const moto = await startMoto();
  await configureMoto(moto.url);
  return moto;
}

async function configureMoto(url: string): Promise<void> {
  await fetch(`${url}/moto-api/config`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ lambda: { use_docker: false }, batch: { use_docker: false } }),
  });
}

/** Wipes every moto backend (and sets the Lambda backend again). */
export async function resetMoto(url: string): Promise<void> {
  await fetch(`${url}/moto-api/reset`, { method: 'POST' });
  await configureMoto(url);
}

/** Queues the results the docker-less Lambda returns to the next invocations. */
export async function queueLambdaResults(url: string, results: string[]): Promise<void> {
  await fetch(`${url}/moto-api/static/lambda-simple/response`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ results, region: REGION }),
  });
}

export async function runInstance(c: Clients): Promise<string> {
  const run = await c.ec2.send(
    new RunInstancesCommand({ ImageId: 'ami-12345678', InstanceType: 't3.micro', MinCount: 1, MaxCount: 1 }),
  );
  return run.Instances?.[0]?.InstanceId as string;
}

export async function instanceState(c: Clients, id: string): Promise<string | undefined> {
  const out = await c.ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
  return out.Reservations?.[0]?.Instances?.[0]?.State?.Name;
}

/** Cluster `c1` with service `web` (desired 2). */
export async function createService(c: Clients, desiredCount = 2): Promise<void> {
  await c.ecs.send(new CreateClusterCommand({ clusterName: 'c1' }));
  await c.ecs.send(
    new RegisterTaskDefinitionCommand({
      family: 'web',
      requiresCompatibilities: ['FARGATE'],
      networkMode: 'awsvpc',
      cpu: '256',
      memory: '512',
      containerDefinitions: [{ name: 'app', image: 'nginx', essential: true, memory: 512, cpu: 256 }],
    }),
  );
  await c.ecs.send(
    new CreateServiceCommand({
      cluster: 'c1',
      serviceName: 'web',
      taskDefinition: 'web',
      desiredCount,
      launchType: 'FARGATE',
    }),
  );
}

export async function service(c: Clients) {
  return (await c.ecs.send(new DescribeServicesCommand({ cluster: 'c1', services: ['web'] }))).services?.[0];
}

/** A running task in cluster `c1` (after createService); returns its id (the ARN's last part). */
export async function runTask(c: Clients): Promise<string> {
  const subnet = (await c.ec2.send(new DescribeSubnetsCommand({}))).Subnets?.[0]?.SubnetId as string;
  const group = (await c.ec2.send(new DescribeSecurityGroupsCommand({}))).SecurityGroups?.[0]
    ?.GroupId as string;
  const run = await c.ecs.send(
    new RunTaskCommand({
      cluster: 'c1',
      taskDefinition: 'web',
      launchType: 'FARGATE',
      count: 1,
      networkConfiguration: { awsvpcConfiguration: { subnets: [subnet], securityGroups: [group] } },
    }),
  );
  const arn = run.tasks?.[0]?.taskArn as string;
  return arn.slice(arn.lastIndexOf('/') + 1);
}

export async function task(c: Clients, id: string) {
  return (await c.ecs.send(new DescribeTasksCommand({ cluster: 'c1', tasks: [id] }))).tasks?.[0];
}

/** Role `fn-role` and customer managed policy `p1`; returns the policy's ARN. */
export async function createRoleAndPolicy(c: Clients): Promise<string> {
  await c.iam.send(
    new CreateRoleCommand({
      RoleName: 'fn-role',
      AssumeRolePolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          { Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' },
        ],
      }),
    }),
  );
  const policy = await c.iam.send(
    new CreatePolicyCommand({
      PolicyName: 'p1',
      PolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: '*' }],
      }),
    }),
  );
  return policy.Policy?.Arn as string;
}

export async function attached(c: Clients): Promise<string[]> {
  const out = await c.iam.send(new ListAttachedRolePoliciesCommand({ RoleName: 'fn-role' }));
  return (out.AttachedPolicies ?? []).map((policy) => policy.PolicyArn as string);
}

/** Function `fn1` (role fn-role must exist: createRoleAndPolicy). */
export async function createFunction(c: Clients): Promise<void> {
  await c.lambda.send(
    new CreateFunctionCommand({
      FunctionName: 'fn1',
      Runtime: 'nodejs20.x',
      Role: 'arn:aws:iam::123456789012:role/fn-role',
      Handler: 'index.handler',
      MemorySize: 128,
      Timeout: 3,
      Environment: { Variables: { MODE: 'old' } },
      Code: { ZipFile: new Uint8Array([0x50, 0x4b, 0x05, 0x06, ...new Array(18).fill(0)]) },
    }),
  );
}

export async function functionConfig(c: Clients) {
  return await c.lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'fn1' }));
}

/** Bucket `bucket-one` with object `k1`. */
export async function createBucket(c: Clients): Promise<void> {
  await c.s3.send(new CreateBucketCommand({ Bucket: 'bucket-one' }));
  await c.s3.send(
    new PutObjectCommand({ Bucket: 'bucket-one', Key: 'k1', Body: 'hello', ContentType: 'text/plain' }),
  );
}
