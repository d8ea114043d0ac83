import type { ApiCall } from '@agent-safe/core';

/** The AWS catalogue actions {@link awsApiCalls} can plan. */
export const PLANNED_AWS_ACTIONS = [
  'ec2-reboot-instance',
  'ec2-start-instance',
  'ec2-stop-instance',
  'ec2-terminate-instance',
  'ecs-scale-service',
  'ecs-stop-task',
  'ecs-update-service',
  'iam-attach-role-policy',
  'iam-detach-role-policy',
  'lambda-invoke-function',
  'lambda-update-function-config',
  's3-delete-object',
  's3-put-bucket-policy',
] as const;

const PLANNED = new Set<string>(PLANNED_AWS_ACTIONS);

/** True for an action name {@link awsApiCalls} plans (the dry run routes these to the AWS plan). */
export function isPlannedAwsAction(action: string): boolean {
  return PLANNED.has(action);
}

/** Default wait of ec2 stop / start / terminate when the request gives no `timeout` param. */
export const DEFAULT_AWS_WAIT_SECONDS = 300;

/** Reason StopTask records when the request gives none (ECS keeps it on the stopped task). */
export const DEFAULT_STOP_TASK_REASON = 'stopped by agent-safe';

/** Options of {@link awsApiCalls}. */
export interface AwsPlanOptions {
  /** Region when the params name none (the executor's option or AWS_REGION); shown in `query.region`. */
  readonly region?: string;
  /** Wait of ec2 stop/start when the params give no `timeout`, in seconds; default 300. */
  readonly waitSeconds?: number;
}

type Params = Readonly<Record<string, unknown>>;

function text(params: Params, name: string): string {
  const value = params[name];
  if (typeof value !== 'string' || value.length === 0) {
    throw new Error(`param "${name}" must be a non-empty string`);
  }
  return value;
}

function optional(params: Params, name: string): unknown {
  return Object.hasOwn(params, name) && params[name] !== undefined && params[name] !== null
    ? params[name]
    : undefined;
}

/**
 * Lambda environment variables from the `environment_variables` param: a JSON object of strings (as text,
 * as the seeds declare it, or already an object). The masked placeholder (`***`, the runner's
 * MASKED_VALUE) passes through unchanged so a reported plan never shows the values.
 */
export function lambdaEnvironment(value: unknown): Record<string, string> | string {
  if (value === '***') return value;
  let parsed: unknown = value;
  if (typeof value === 'string') {
    try {
      parsed = JSON.parse(value);
    } catch {
      throw new Error(
        'param "environment_variables" must be a JSON object of strings, e.g. {"LOG_LEVEL":"debug"}',
      );
    }
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new Error(
      'param "environment_variables" must be a JSON object of strings, e.g. {"LOG_LEVEL":"debug"}',
    );
  }
  const variables: Record<string, string> = {};
  for (const [key, entry] of Object.entries(parsed)) {
    if (typeof entry !== 'string') {
      throw new Error(
        `param "environment_variables": the value of ${JSON.stringify(key.slice(0, 100))} must be a string`,
      );
    }
    variables[key] = entry;
  }
  return variables;
}

function waitSeconds(params: Params, options: AwsPlanOptions): number {
  const timeout = optional(params, 'timeout_seconds') ?? optional(params, 'timeout');
  return typeof timeout === 'number' ? timeout : (options.waitSeconds ?? DEFAULT_AWS_WAIT_SECONDS);
}

/** The call and the state waited for of the EC2 actions that wait. */
const EC2_TRANSITIONS: Readonly<Record<string, readonly [string, string]>> = {
  'ec2-stop-instance': ['ec2:StopInstances', 'stopped'],
  'ec2-start-instance': ['ec2:StartInstances', 'running'],
  'ec2-terminate-instance': ['ec2:TerminateInstances', 'terminated'],
};

/** A JSON document param (an object, as catalog/aws takes it, or the seeds' JSON text) as text. */
function json(params: Params, name: string): string {
  const value = params[name];
  if (typeof value === 'string' && value.length > 0) return value;
  if (value !== null && typeof value === 'object') return JSON.stringify(value);
  throw new Error(`param "${name}" must be a JSON mapping`);
}

function call(path: string, body: unknown, region: string | undefined, description?: string): ApiCall {
  return {
    method: 'AWS',
    path,
    body,
    ...(region !== undefined ? { query: { region } } : {}),
    ...(description !== undefined ? { description } : {}),
  };
}

/**
 * The AWS API calls a catalogue action makes, as the dry run shows them and as the AWS executor makes
 * them: `method: 'AWS'`, `path: '<service>:<Operation>'` (e.g. `ec2:StopInstances`), `body` the exact
 * input of the SDK v3 command (Lambda's `Payload` shown as the text that is sent as bytes), `query.region`
 * the region (params, else `options.region`; IAM is global and still shows it). A `Describe…` call with a
 * "poll until …" description is repeated until the state is reached or the wait ends. Throws for an
 * action it does not plan or a missing param (pure: no SDK, no I/O).
 */
export function awsApiCalls(action: string, params: Params, options: AwsPlanOptions = {}): ApiCall[] {
  const region = typeof params.region === 'string' && params.region !== '' ? params.region : options.region;
  switch (action) {
    case 'ec2-stop-instance':
    case 'ec2-start-instance':
    case 'ec2-terminate-instance': {
      const [operation, wanted] = EC2_TRANSITIONS[action] as [string, string];
      const ids = { InstanceIds: [text(params, 'instance_id')] };
      return [
        call(operation, ids, region),
        call(
          'ec2:DescribeInstances',
          ids,
          region,
          `poll until the instance is ${wanted} or ${waitSeconds(params, options)}s pass`,
        ),
      ];
    }
    case 'ec2-reboot-instance':
      return [call('ec2:RebootInstances', { InstanceIds: [text(params, 'instance_id')] }, region)];
    case 'ecs-scale-service':
      if (typeof params.desired_count !== 'number') throw new Error('param "desired_count" must be a number');
      return [
        call(
          'ecs:UpdateService',
          {
            cluster: text(params, 'cluster'),
            service: text(params, 'service'),
            desiredCount: params.desired_count,
          },
          region,
          `set the desired count to ${params.desired_count}`,
        ),
      ];
    case 'ecs-update-service': {
      const body: Record<string, unknown> = {
        cluster: text(params, 'cluster'),
        service: text(params, 'service'),
      };
      const desired = optional(params, 'desired_count');
      const definition = optional(params, 'task_definition');
      const force = optional(params, 'force_new_deployment');
      if (desired !== undefined) body.desiredCount = desired;
      if (definition !== undefined) body.taskDefinition = definition;
      if (force !== undefined) body.forceNewDeployment = force;
      if (desired === undefined && definition === undefined && force !== true) {
        throw new Error(
          'ecs-update-service changes nothing: give desired_count, task_definition or force_new_deployment: true',
        );
      }
      return [call('ecs:UpdateService', body, region)];
    }
    case 'ecs-stop-task': {
      const reason = optional(params, 'reason');
      return [
        call(
          'ecs:StopTask',
          {
            cluster: text(params, 'cluster'),
            task: text(params, 'task'),
            reason: typeof reason === 'string' && reason !== '' ? reason : DEFAULT_STOP_TASK_REASON,
          },
          region,
        ),
      ];
    }
    case 'lambda-update-function-config': {
      const body: Record<string, unknown> = { FunctionName: text(params, 'function_name') };
      const memory = optional(params, 'memory_size');
      const timeout = optional(params, 'timeout');
      const environment = optional(params, 'environment_variables');
      if (memory !== undefined) body.MemorySize = memory;
      if (timeout !== undefined) body.Timeout = timeout;
      if (environment !== undefined) body.Environment = { Variables: lambdaEnvironment(environment) };
      if (Object.keys(body).length === 1) {
        throw new Error(
          'lambda-update-function-config changes nothing: give memory_size, timeout or environment_variables',
        );
      }
      return [
        call(
          'lambda:UpdateFunctionConfiguration',
          body,
          region,
          environment === undefined ? undefined : 'the environment replaces the whole set of variables',
        ),
      ];
    }
    case 'lambda-invoke-function': {
      const payload = optional(params, 'payload');
      return [
        call(
          'lambda:Invoke',
          {
            FunctionName: text(params, 'function_name'),
            InvocationType: 'RequestResponse',
            ...(payload !== undefined ? { Payload: json(params, 'payload') } : {}),
          },
          region,
          'synchronous; the payload is sent as UTF-8 bytes',
        ),
      ];
    }
    case 's3-delete-object':
      return [call('s3:DeleteObject', { Bucket: text(params, 'bucket'), Key: text(params, 'key') }, region)];
    case 's3-put-bucket-policy':
      return [
        call(
          's3:PutBucketPolicy',
          { Bucket: text(params, 'bucket'), Policy: json(params, 'policy') },
          region,
        ),
      ];
    case 'iam-attach-role-policy':
    case 'iam-detach-role-policy':
      return [
        call(
          action === 'iam-attach-role-policy' ? 'iam:AttachRolePolicy' : 'iam:DetachRolePolicy',
          { RoleName: text(params, 'role_name'), PolicyArn: text(params, 'policy_arn') },
          region,
        ),
      ];
    default:
      throw new Error(
        `no AWS plan for action "${String(action).slice(0, 100)}" (not an AWS catalogue action)`,
      );
  }
}
