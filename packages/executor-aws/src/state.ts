import type { ExecutionRequest } from '@agent-safe/core';
import { firstInstance } from './actions.js';
import { type AwsSession, codeOf } from './session.js';

type Params = Readonly<Record<string, unknown>>;

/** Pages of ListAttachedRolePolicies followed at most (100 policies a page). */
export const MAX_POLICY_PAGES = 10;

const str = (params: Params, name: string) => String(params[name] ?? '');

async function ec2State(session: AwsSession, params: Params) {
  const out = await session.send<Parameters<typeof firstInstance>[0]>('ec2', 'DescribeInstances', {
    InstanceIds: [str(params, 'instance_id')],
  });
  const instance = firstInstance(out);
  const launched = instance?.LaunchTime;
  return {
    state: instance?.State?.Name,
    instance_type: instance?.InstanceType,
    launch_time: launched instanceof Date ? launched.toISOString() : launched,
  };
}

interface EcsServiceOut {
  services?: {
    status?: string;
    desiredCount?: number;
    runningCount?: number;
    pendingCount?: number;
    taskDefinition?: string;
  }[];
}

/** The ECS service the params name, or undefined when ECS reports it missing. */
export async function describeService(session: AwsSession, params: Params) {
  const out = await session.send<EcsServiceOut>('ecs', 'DescribeServices', {
    cluster: str(params, 'cluster'),
    services: [str(params, 'service')],
  });
  return out.services?.[0];
}

async function ecsServiceState(session: AwsSession, params: Params) {
  const service = await describeService(session, params);
  return {
    desired_count: service?.desiredCount,
    running_count: service?.runningCount,
    pending_count: service?.pendingCount,
    status: service?.status,
    task_definition: service?.taskDefinition,
  };
}

/** The ECS task the params name, or undefined when ECS reports it missing. */
export async function describeTask(session: AwsSession, params: Params) {
  const out = await session.send<{
    tasks?: {
      lastStatus?: string;
      desiredStatus?: string;
      stoppedReason?: string;
      group?: string;
      taskDefinitionArn?: string;
    }[];
  }>('ecs', 'DescribeTasks', { cluster: str(params, 'cluster'), tasks: [str(params, 'task')] });
  return out.tasks?.[0];
}

interface FunctionConfiguration {
  MemorySize?: number;
  Timeout?: number;
  Runtime?: string;
  State?: string;
  LastUpdateStatus?: string;
  RevisionId?: string;
  Environment?: { Variables?: Record<string, string> };
}

/**
 * The function's configuration: GetFunction for lambda-invoke-function (its credential has
 * lambda:GetFunction), GetFunctionConfiguration otherwise.
 */
export async function functionConfiguration(session: AwsSession, request: ExecutionRequest) {
  const name = str(request.params, 'function_name');
  if (request.action.name === 'lambda-invoke-function') {
    const out = await session.send<{ Configuration?: FunctionConfiguration }>('lambda', 'GetFunction', {
      FunctionName: name,
    });
    return out.Configuration ?? {};
  }
  return await session.send<FunctionConfiguration>('lambda', 'GetFunctionConfiguration', {
    FunctionName: name,
  });
}

async function lambdaState(session: AwsSession, request: ExecutionRequest) {
  const config = await functionConfiguration(session, request);
  return {
    memory_size: config.MemorySize,
    timeout: config.Timeout,
    runtime: config.Runtime,
    state: config.State,
    last_update_status: config.LastUpdateStatus,
    revision_id: config.RevisionId,
    // A mapping of strings, as the environment_variables param takes it ({} when none, so a rollback
    // removes variables a change added).
    environment_variables: { ...(config.Environment?.Variables ?? {}) },
  };
}

async function objectState(session: AwsSession, params: Params) {
  try {
    const head = await session.send<{
      ContentLength?: number;
      ContentType?: string;
      ETag?: string;
      LastModified?: Date;
      VersionId?: string;
    }>('s3', 'HeadObject', { Bucket: str(params, 'bucket'), Key: str(params, 'key') });
    return {
      exists: true,
      content_length: head.ContentLength,
      content_type: head.ContentType,
      etag: head.ETag,
    };
  } catch (error) {
    if (codeOf(error) === 'NotFound' || codeOf(error) === 'NoSuchKey') return { exists: false };
    throw error;
  }
}

/** The bucket's policy document, or null when it has none. */
export async function bucketPolicy(session: AwsSession, bucket: string): Promise<string | null> {
  try {
    const out = await session.send<{ Policy?: string }>('s3', 'GetBucketPolicy', { Bucket: bucket });
    return out.Policy ?? null;
  } catch (error) {
    if (codeOf(error) === 'NoSuchBucketPolicy') return null;
    throw error;
  }
}

/** The ARNs of the managed policies attached to a role, sorted (bounded by {@link MAX_POLICY_PAGES}). */
export async function attachedPolicies(session: AwsSession, role: string): Promise<string[]> {
  const arns: string[] = [];
  let marker: string | undefined;
  for (let page = 0; page < MAX_POLICY_PAGES; page += 1) {
    const out = await session.send<{
      AttachedPolicies?: { PolicyArn?: string }[];
      IsTruncated?: boolean;
      Marker?: string;
    }>('iam', 'ListAttachedRolePolicies', { RoleName: role, ...(marker ? { Marker: marker } : {}) });
    for (const policy of out.AttachedPolicies ?? []) if (policy.PolicyArn) arns.push(policy.PolicyArn);
    if (!out.IsTruncated || !out.Marker) break;
    marker = out.Marker;
  }
  return arns.sort();
}

async function iamState(session: AwsSession, params: Params) {
  const arns = await attachedPolicies(session, str(params, 'role_name'));
  return { attached_policies: arns, policy_attached: arns.includes(str(params, 'policy_arn')) };
}

const READERS: Readonly<
  Record<string, (session: AwsSession, request: ExecutionRequest) => Promise<Record<string, unknown>>>
> = {
  ec2: (session, request) => ec2State(session, request.params),
  'ecs-service': (session, request) => ecsServiceState(session, request.params),
  'ecs-task': async (session, request) => {
    const task = await describeTask(session, request.params);
    return {
      last_status: task?.lastStatus,
      desired_status: task?.desiredStatus,
      stopped_reason: task?.stoppedReason,
    };
  },
  lambda: lambdaState,
  's3-object': (session, request) => objectState(session, request.params),
  's3-policy': async (session, request) => {
    const policy = await bucketPolicy(session, str(request.params, 'bucket'));
    if (policy === null) return { policy_present: false };
    let document: unknown = policy;
    try {
      document = JSON.parse(policy); // catalog/aws takes the policy as a mapping
    } catch {
      // not JSON (S3 stores only JSON): kept as text
    }
    return { policy_present: true, policy: document };
  },
  iam: (session, request) => iamState(session, request.params),
};

/** Which reader serves an action (by the family its name belongs to). */
export function readerOf(action: string): string | undefined {
  if (action.startsWith('ec2-')) return 'ec2';
  if (action === 'ecs-stop-task') return 'ecs-task';
  if (action.startsWith('ecs-')) return 'ecs-service';
  if (action.startsWith('lambda-')) return 'lambda';
  if (action === 's3-delete-object') return 's3-object';
  if (action === 's3-put-bucket-policy') return 's3-policy';
  if (action.startsWith('iam-')) return 'iam';
  return undefined;
}

/**
 * The action's `state_fields` read from Describe/Get calls; only fields that exist are returned (a
 * missing instance, service or object gives none of its fields; a bucket without policy gives
 * `policy_present: false` and no `policy`).
 */
export async function readActionState(
  session: AwsSession,
  request: ExecutionRequest,
  fields: readonly string[],
): Promise<Record<string, unknown>> {
  const reader = readerOf(request.action.name);
  if (reader === undefined || fields.length === 0) return {};
  let all: Record<string, unknown>;
  try {
    all = await (READERS[reader] as (typeof READERS)[string])(session, request);
  } catch (error) {
    const code = codeOf(error);
    // The object is gone (e.g. read after a delete): none of its fields exist.
    if (code !== undefined && /NotFound|NoSuch|ResourceNotFound|InvalidInstanceID/.test(code)) return {};
    throw error;
  }
  const state: Record<string, unknown> = {};
  for (const field of fields) {
    if (Object.hasOwn(all, field) && all[field] !== undefined) state[field] = all[field];
  }
  return state;
}
