import type { ApiCall, ExecutionRequest } from '@agent-safe/core';
import { AwsCallError, quote } from './errors.js';
import type { AwsSession } from './session.js';

/** Most bytes of payload sent to lambda-invoke-function (AWS allows 6 MB; agents need far less). */
export const MAX_INVOKE_PAYLOAD_BYTES = 256 * 1024;
/** Most bytes of a function's response returned as output (the rest is cut and flagged). */
export const MAX_INVOKE_OUTPUT_BYTES = 64 * 1024;

/** What one action reports: ok, output, error. */
export interface ActionResult {
  readonly ok: boolean;
  readonly output?: unknown;
  readonly error?: string;
}

interface ActionInput {
  readonly request: ExecutionRequest;
  readonly planned: readonly ApiCall[];
  readonly session: AwsSession;
  /** Longest wait of ec2 stop/start/terminate, in ms. */
  readonly waitMs: number;
}

type Implementation = (input: ActionInput) => Promise<ActionResult>;

function service(call: ApiCall): ['ec2' | 'ecs' | 'lambda' | 's3' | 'iam', string] {
  const [name, operation] = call.path.split(':') as [string, string];
  return [name as 'ec2', operation];
}

/** Sends the planned call as it is. */
async function send<T>(session: AwsSession, call: ApiCall | undefined): Promise<T> {
  if (call === undefined) throw new AwsCallError('the plan has no call to make');
  const [name, operation] = service(call);
  return await session.send<T>(name, operation, call.body);
}

interface InstanceStateChange {
  InstanceId?: string;
  PreviousState?: { Name?: string };
  CurrentState?: { Name?: string };
}

interface DescribeInstancesOutput {
  Reservations?: {
    Instances?: {
      InstanceId?: string;
      State?: { Name?: string };
      InstanceType?: string;
      LaunchTime?: Date;
    }[];
  }[];
}

/** The instance of a DescribeInstances answer (the first, as the call names one id). */
export function firstInstance(output: DescribeInstancesOutput) {
  return output.Reservations?.[0]?.Instances?.[0];
}

/** Polls the planned DescribeInstances until the instance is `wanted`, a dead end, or the wait ends. */
async function waitForInstance(
  session: AwsSession,
  describe: ApiCall | undefined,
  wanted: 'stopped' | 'running' | 'terminated',
  waitMs: number,
): Promise<string> {
  const deadline = Date.now() + waitMs;
  let state = 'unknown';
  for (;;) {
    state = firstInstance(await send<DescribeInstancesOutput>(session, describe))?.State?.Name ?? 'unknown';
    if (state === wanted) return state;
    if (
      state === 'terminated' ||
      state === 'shutting-down' ||
      (wanted === 'running' && state === 'stopped')
    ) {
      throw new AwsCallError(`the instance went ${quote(state, 40)} instead of ${wanted}`);
    }
    if (Date.now() + session.pollIntervalMs > deadline) {
      throw new AwsCallError(
        `the instance is still ${quote(state, 40)} after ${Math.round(waitMs / 1000)}s (wanted ${wanted}; the call was made, the wait ended)`,
      );
    }
    await session.sleep(session.pollIntervalMs);
  }
}

function ec2Transition(
  wanted: 'stopped' | 'running' | 'terminated',
  key: 'StoppingInstances' | 'StartingInstances' | 'TerminatingInstances',
): Implementation {
  return async ({ planned, session, waitMs }) => {
    const answer = await send<Record<string, InstanceStateChange[] | undefined>>(session, planned[0]);
    const change = answer[key]?.[0];
    const state = await waitForInstance(session, planned[1], wanted, waitMs);
    return {
      ok: true,
      output: { instanceId: change?.InstanceId, previousState: change?.PreviousState?.Name, state },
    };
  };
}

interface EcsService {
  serviceName?: string;
  status?: string;
  desiredCount?: number;
  runningCount?: number;
  pendingCount?: number;
  taskDefinition?: string;
}

const ecsService: Implementation = async ({ planned, session }) => {
  const answer = await send<{ service?: EcsService }>(session, planned[0]);
  const service = answer.service;
  return {
    ok: true,
    output: {
      service: service?.serviceName,
      status: service?.status,
      desiredCount: service?.desiredCount,
      runningCount: service?.runningCount,
      taskDefinition: service?.taskDefinition,
    },
  };
};

const ecsStopTask: Implementation = async ({ planned, session }) => {
  const answer = await send<{ task?: { taskArn?: string; lastStatus?: string; desiredStatus?: string } }>(
    session,
    planned[0],
  );
  return {
    ok: true,
    output: {
      task: answer.task?.taskArn,
      lastStatus: answer.task?.lastStatus,
      desiredStatus: answer.task?.desiredStatus,
    },
  };
};

const lambdaUpdate: Implementation = async ({ planned, session }) => {
  const answer = await send<{
    FunctionName?: string;
    MemorySize?: number;
    Timeout?: number;
    LastUpdateStatus?: string;
    Environment?: { Variables?: Record<string, string> };
  }>(session, planned[0]);
  // The environment's values may be secrets: only its variable names are reported.
  return {
    ok: true,
    output: {
      functionName: answer.FunctionName,
      memorySize: answer.MemorySize,
      timeout: answer.Timeout,
      lastUpdateStatus: answer.LastUpdateStatus,
      environmentVariableNames: Object.keys(answer.Environment?.Variables ?? {}).sort(),
    },
  };
};

const decoder = new TextDecoder('utf-8', { fatal: false });

const lambdaInvoke: Implementation = async ({ planned, session }) => {
  const call = planned[0];
  if (call === undefined) throw new AwsCallError('the plan has no call to make');
  const input = call.body as { FunctionName: string; InvocationType: string; Payload?: string };
  const bytes = input.Payload === undefined ? undefined : new TextEncoder().encode(input.Payload);
  if (bytes !== undefined && bytes.byteLength > MAX_INVOKE_PAYLOAD_BYTES) {
    return {
      ok: false,
      error: `the payload is ${bytes.byteLength} bytes; lambda-invoke-function sends at most ${MAX_INVOKE_PAYLOAD_BYTES}`,
    };
  }
  const answer = await session.send<{
    StatusCode?: number;
    FunctionError?: string;
    ExecutedVersion?: string;
    Payload?: Uint8Array;
  }>('lambda', 'Invoke', { ...input, ...(bytes !== undefined ? { Payload: bytes } : {}) });
  const raw = answer.Payload ?? new Uint8Array();
  const truncated = raw.byteLength > MAX_INVOKE_OUTPUT_BYTES;
  const payload = decoder.decode(truncated ? raw.subarray(0, MAX_INVOKE_OUTPUT_BYTES) : raw);
  const output = {
    statusCode: answer.StatusCode,
    executedVersion: answer.ExecutedVersion,
    payload,
    ...(truncated ? { payloadTruncated: true, payloadBytes: raw.byteLength } : {}),
  };
  if (answer.FunctionError !== undefined) {
    let detail = payload;
    try {
      const parsed = JSON.parse(payload) as { errorType?: unknown; errorMessage?: unknown };
      if (typeof parsed?.errorType === 'string') {
        detail = `${parsed.errorType}${typeof parsed.errorMessage === 'string' ? `: ${parsed.errorMessage}` : ''}`;
      }
    } catch {
      // not JSON: the payload text itself
    }
    return {
      ok: false,
      output: { ...output, functionError: answer.FunctionError },
      error: `the function failed (${quote(answer.FunctionError, 60)}): ${quote(detail)}`,
    };
  }
  return { ok: true, output };
};

const s3DeleteObject: Implementation = async ({ planned, session }) => {
  const answer = await send<{ DeleteMarker?: boolean; VersionId?: string }>(session, planned[0]);
  return {
    ok: true,
    output: {
      deleted: true,
      ...(answer.DeleteMarker !== undefined ? { deleteMarker: answer.DeleteMarker } : {}),
      ...(answer.VersionId !== undefined ? { versionId: answer.VersionId } : {}),
    },
  };
};

function plain(output: (body: Record<string, unknown>) => unknown): Implementation {
  return async ({ planned, session }) => {
    await send<unknown>(session, planned[0]);
    return { ok: true, output: output((planned[0]?.body ?? {}) as Record<string, unknown>) };
  };
}

/** The implementation of each AWS catalogue action (the calls are the plan's; see awsApiCalls). */
export const ACTIONS: Readonly<Record<string, Implementation>> = {
  'ec2-stop-instance': ec2Transition('stopped', 'StoppingInstances'),
  'ec2-start-instance': ec2Transition('running', 'StartingInstances'),
  'ec2-reboot-instance': plain((body) => ({ instanceId: (body.InstanceIds as string[])[0], rebooted: true })),
  'ec2-terminate-instance': ec2Transition('terminated', 'TerminatingInstances'),
  'ecs-update-service': ecsService,
  'ecs-scale-service': ecsService,
  'ecs-stop-task': ecsStopTask,
  'lambda-update-function-config': lambdaUpdate,
  'lambda-invoke-function': lambdaInvoke,
  's3-delete-object': s3DeleteObject,
  's3-put-bucket-policy': plain((body) => ({ bucket: body.Bucket, policySet: true })),
  'iam-attach-role-policy': plain((body) => ({
    role: body.RoleName,
    policyArn: body.PolicyArn,
    attached: true,
  })),
  'iam-detach-role-policy': plain((body) => ({
    role: body.RoleName,
    policyArn: body.PolicyArn,
    attached: false,
  })),
};
