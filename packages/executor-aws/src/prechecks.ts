import type { ExecutionRequest, PrecheckOutcome } from '@agent-safe/core';
import { firstInstance } from './actions.js';
import { quote } from './errors.js';
import { type AwsSession, codeOf } from './session.js';
import {
  attachedPolicies,
  bucketPolicy,
  describeService,
  describeTask,
  functionConfiguration,
} from './state.js';

type Check = (request: ExecutionRequest, session: AwsSession) => Promise<PrecheckOutcome>;

const pass = (reason: string): PrecheckOutcome => ({ status: 'pass', reason });
const fail = (reason: string): PrecheckOutcome => ({ status: 'fail', reason });
const str = (request: ExecutionRequest, name: string) => String(request.params[name] ?? '');

/** Largest bucket policy S3 accepts (20 KB). */
export const MAX_BUCKET_POLICY_BYTES = 20 * 1024;

async function instance(request: ExecutionRequest, session: AwsSession) {
  try {
    const out = await session.send<Parameters<typeof firstInstance>[0]>('ec2', 'DescribeInstances', {
      InstanceIds: [str(request, 'instance_id')],
    });
    return firstInstance(out);
  } catch (error) {
    if (codeOf(error) === 'InvalidInstanceID.NotFound' || codeOf(error) === 'InvalidInstanceID.Malformed') {
      return undefined;
    }
    throw error;
  }
}

const instanceExists: Check = async (request, session) => {
  const id = quote(str(request, 'instance_id'), 40);
  const found = await instance(request, session);
  if (found === undefined) return fail(`instance ${id} does not exist in ${session.region}`);
  const state = found.State?.Name ?? 'unknown';
  return state === 'terminated'
    ? fail(`instance ${id} is terminated`)
    : pass(`instance ${id} exists (${quote(state, 40)})`);
};

function instanceIn(wanted: string): Check {
  return async (request, session) => {
    const id = quote(str(request, 'instance_id'), 40);
    const found = await instance(request, session);
    if (found === undefined) return fail(`instance ${id} does not exist in ${session.region}`);
    const state = found.State?.Name ?? 'unknown';
    return state === wanted
      ? pass(`instance ${id} is ${wanted}`)
      : fail(`instance ${id} is ${quote(state, 40)}; ${request.action.name} needs it ${wanted}`);
  };
}

function instanceAttribute(attribute: 'disableApiTermination' | 'disableApiStop', what: string): Check {
  return async (request, session) => {
    const id = quote(str(request, 'instance_id'), 40);
    const out = await session.send<Record<string, { Value?: boolean } | undefined>>(
      'ec2',
      'DescribeInstanceAttribute',
      { InstanceId: str(request, 'instance_id'), Attribute: attribute },
    );
    const key = attribute === 'disableApiTermination' ? 'DisableApiTermination' : 'DisableApiStop';
    return out[key]?.Value === true
      ? fail(`instance ${id} has ${what} enabled; turn it off first if this is intended`)
      : pass(`instance ${id} has no ${what}`);
  };
}

const serviceExists: Check = async (request, session) => {
  const name = `${quote(str(request, 'service'), 100)} in cluster ${quote(str(request, 'cluster'), 100)}`;
  const service = await describeService(session, request.params);
  if (service === undefined) return fail(`ECS service ${name} does not exist`);
  return service.status === 'ACTIVE'
    ? pass(`ECS service ${name} is ACTIVE (desired ${service.desiredCount ?? '?'})`)
    : fail(`ECS service ${name} is ${quote(service.status ?? 'unknown', 40)}, not ACTIVE`);
};

const taskExists: Check = async (request, session) => {
  const name = quote(str(request, 'task'), 200);
  const task = await describeTask(session, request.params);
  if (task === undefined)
    return fail(`ECS task ${name} does not exist in cluster ${quote(str(request, 'cluster'), 100)}`);
  return task.lastStatus === 'STOPPED' ||
    task.lastStatus === 'DEPROVISIONING' ||
    task.desiredStatus === 'STOPPED'
    ? fail(`ECS task ${name} is already stopped or stopping`)
    : pass(`ECS task ${name} is ${quote(task.lastStatus ?? 'unknown', 40)}`);
};

async function lambdaConfiguration(request: ExecutionRequest, session: AwsSession) {
  try {
    return await functionConfiguration(session, request);
  } catch (error) {
    if (codeOf(error) === 'ResourceNotFoundException') return undefined;
    throw error;
  }
}

const functionExists: Check = async (request, session) => {
  const name = quote(str(request, 'function_name'), 140);
  return (await lambdaConfiguration(request, session)) === undefined
    ? fail(`function ${name} does not exist in ${session.region}`)
    : pass(`function ${name} exists`);
};

function functionReady(updating: boolean): Check {
  return async (request, session) => {
    const name = quote(str(request, 'function_name'), 140);
    const config = await lambdaConfiguration(request, session);
    if (config === undefined) return fail(`function ${name} does not exist in ${session.region}`);
    if (config.State !== undefined && config.State !== 'Active') {
      return fail(`function ${name} is ${quote(config.State, 40)}, not Active`);
    }
    if (updating && config.LastUpdateStatus === 'InProgress') {
      return fail(`function ${name} is being updated (LastUpdateStatus InProgress); retry when it is done`);
    }
    return pass(
      `function ${name} is Active${updating ? ` (last update ${quote(config.LastUpdateStatus ?? 'none', 40)})` : ''}`,
    );
  };
}

const updateRequested: Check = async (request) => {
  const p = request.params;
  const given = (name: string) => p[name] !== undefined && p[name] !== null;
  if (request.action.name.startsWith('ecs-')) {
    return given('desired_count') || given('task_definition') || p.force_new_deployment === true
      ? pass('the request changes the service')
      : fail('the request changes nothing: give desired_count or force_new_deployment: true');
  }
  return given('memory_size') || given('timeout') || given('environment_variables')
    ? pass('the request changes the configuration')
    : fail('the request changes nothing: give memory_size, timeout or environment_variables');
};

/** Largest environment Lambda accepts (4 KB, the set serialised as JSON). */
export const MAX_LAMBDA_ENVIRONMENT_BYTES = 4096;
const ENV_NAME = /^[a-zA-Z][a-zA-Z0-9_]*$/;

/**
 * Why an environment_variables value is not one Lambda takes (names, reserved names, string values, 4 KB),
 * or undefined when it is. Never quotes a value.
 */
export function lambdaEnvironmentProblem(value: unknown): string | undefined {
  let variables: unknown = value;
  if (typeof value === 'string') {
    try {
      variables = JSON.parse(value);
    } catch {
      return 'environment_variables is not a JSON mapping';
    }
  }
  if (variables === null || typeof variables !== 'object' || Array.isArray(variables))
    return 'environment_variables must be a mapping of name to string value';
  for (const [name, entry] of Object.entries(variables)) {
    const shown = JSON.stringify(quote(name, 100));
    if (!ENV_NAME.test(name))
      return `environment variable ${shown} is not a valid name (^[a-zA-Z][a-zA-Z0-9_]*$)`;
    if (/^(AWS_|LAMBDA_)/.test(name) || name === '_HANDLER')
      return `environment variable ${shown} is reserved by Lambda (AWS_*, LAMBDA_*, _HANDLER)`;
    if (typeof entry !== 'string') return `the value of environment variable ${shown} must be a string`;
  }
  const bytes = Buffer.byteLength(JSON.stringify(variables), 'utf8');
  return bytes > MAX_LAMBDA_ENVIRONMENT_BYTES
    ? `environment_variables is ${bytes} bytes as JSON; Lambda allows ${MAX_LAMBDA_ENVIRONMENT_BYTES}`
    : undefined;
}

const environmentValid: Check = async (request) => {
  const value = request.params.environment_variables;
  if (value === undefined || value === null) return pass('no environment_variables given');
  const problem = lambdaEnvironmentProblem(value);
  return problem === undefined ? pass('environment_variables are valid') : fail(problem);
};

const objectExists: Check = async (request, session) => {
  const name = `s3://${quote(str(request, 'bucket'), 63)}/${quote(str(request, 'key'), 200)}`;
  try {
    await session.send('s3', 'HeadObject', { Bucket: str(request, 'bucket'), Key: str(request, 'key') });
    return pass(`object ${name} exists`);
  } catch (error) {
    if (codeOf(error) === 'NotFound' || codeOf(error) === 'NoSuchKey' || codeOf(error) === 'NoSuchBucket')
      return fail(`object ${name} does not exist`);
    throw error;
  }
};

const bucketExists: Check = async (request, session) => {
  const name = quote(str(request, 'bucket'), 63);
  try {
    const policy = await bucketPolicy(session, str(request, 'bucket'));
    return pass(
      `bucket ${name} exists in ${session.region} (${policy === null ? 'no policy yet' : 'has a policy'})`,
    );
  } catch (error) {
    const code = codeOf(error);
    if (code === 'NoSuchBucket' || code === 'NotFound') return fail(`bucket ${name} does not exist`);
    if (
      code === 'PermanentRedirect' ||
      code === 'AuthorizationHeaderMalformed' ||
      code === 'IllegalLocationConstraintException'
    )
      return fail(`bucket ${name} is not in ${session.region} (S3 answered ${quote(code, 60)})`);
    throw error;
  }
};

/**
 * Why a bucket policy document is not one S3 takes (structure only: S3 checks principals and ARNs), or
 * undefined when it is well formed. Pure, no call.
 */
export function bucketPolicyProblem(policy: unknown, bucket?: string): string | undefined {
  let document: unknown = policy;
  if (typeof policy === 'string') {
    try {
      document = JSON.parse(policy);
    } catch {
      return 'the policy is not JSON';
    }
  }
  const text = JSON.stringify(document) ?? '';
  if (Buffer.byteLength(text, 'utf8') > MAX_BUCKET_POLICY_BYTES)
    return `the policy is larger than ${MAX_BUCKET_POLICY_BYTES} bytes as JSON`;
  if (document === null || typeof document !== 'object' || Array.isArray(document))
    return 'the policy is not a JSON object';
  const { Version, Statement } = document as { Version?: unknown; Statement?: unknown };
  if (Version !== '2012-10-17' && Version !== '2008-10-17') return 'Version must be "2012-10-17"';
  const statements = Array.isArray(Statement) ? Statement : [Statement];
  if (Statement === undefined || statements.length === 0) return 'the policy has no Statement';
  for (const [index, statement] of statements.entries()) {
    const at = `Statement[${index}]`;
    if (statement === null || typeof statement !== 'object' || Array.isArray(statement))
      return `${at} is not an object`;
    const s = statement as Record<string, unknown>;
    if (s.Effect !== 'Allow' && s.Effect !== 'Deny') return `${at}.Effect must be "Allow" or "Deny"`;
    if ((s.Action === undefined) === (s.NotAction === undefined))
      return `${at} needs exactly one of Action and NotAction`;
    if ((s.Resource === undefined) === (s.NotResource === undefined))
      return `${at} needs exactly one of Resource and NotResource`;
    if ((s.Principal === undefined) === (s.NotPrincipal === undefined))
      return `${at} needs exactly one of Principal and NotPrincipal (a bucket policy names who it applies to)`;
    if (bucket !== undefined) {
      const resources = s.Resource ?? s.NotResource;
      for (const resource of Array.isArray(resources) ? resources : [resources]) {
        if (
          typeof resource !== 'string' ||
          (resource !== `arn:aws:s3:::${bucket}` && !resource.startsWith(`arn:aws:s3:::${bucket}/`))
        ) {
          return `${at}: Resource ${JSON.stringify(quote(String(resource), 200))} is not bucket ${bucket} or under it (arn:aws:s3:::${bucket}/...)`;
        }
      }
    }
  }
  return undefined;
}

const policyValid: Check = async (request) => {
  const problem = bucketPolicyProblem(request.params.policy, str(request, 'bucket'));
  return problem === undefined ? pass('the policy document is well formed') : fail(problem);
};

const roleExists: Check = async (request, session) => {
  const name = quote(str(request, 'role_name'), 64);
  try {
    await session.send('iam', 'GetRole', { RoleName: str(request, 'role_name') });
    return pass(`role ${name} exists`);
  } catch (error) {
    if (codeOf(error) === 'NoSuchEntity' || codeOf(error) === 'NoSuchEntityException')
      return fail(`role ${name} does not exist`);
    throw error;
  }
};

const policyExists: Check = async (request, session) => {
  const arn = quote(str(request, 'policy_arn'), 200);
  try {
    await session.send('iam', 'GetPolicy', { PolicyArn: str(request, 'policy_arn') });
    return pass(`managed policy ${arn} exists`);
  } catch (error) {
    if (codeOf(error) === 'NoSuchEntity' || codeOf(error) === 'NoSuchEntityException')
      return fail(`managed policy ${arn} does not exist`);
    throw error;
  }
};

function policyAttached(wanted: boolean): Check {
  return async (request, session) => {
    const arn = quote(str(request, 'policy_arn'), 200);
    const role = quote(str(request, 'role_name'), 64);
    const attached = (await attachedPolicies(session, str(request, 'role_name'))).includes(
      str(request, 'policy_arn'),
    );
    if (attached === wanted) return pass(`${arn} is ${wanted ? '' : 'not '}attached to role ${role}`);
    return fail(`${arn} is ${attached ? 'already' : 'not'} attached to role ${role}`);
  };
}

/** Every precheck name the AWS executor implements. */
export const AWS_PRECHECKS: Readonly<Record<string, Check>> = {
  'instance-exists': instanceExists,
  'instance-running': instanceIn('running'),
  'instance-stopped': instanceIn('stopped'),
  'not-termination-protected': instanceAttribute('disableApiTermination', 'termination protection'),
  'not-stop-protected': instanceAttribute('disableApiStop', 'stop protection'),
  'service-exists': serviceExists,
  'update-requested': updateRequested,
  'task-exists': taskExists,
  'function-exists': functionExists,
  'function-active': functionReady(false),
  'function-updatable': functionReady(true),
  'environment-valid': environmentValid,
  'object-exists': objectExists,
  'bucket-exists': bucketExists,
  'policy-valid-json': policyValid,
  // The seeds' names (seed-config/actions), kept so their action files keep working.
  'termination-protection': instanceAttribute('disableApiTermination', 'termination protection'),
  'policy-valid': policyValid,
  'role-exists': roleExists,
  'policy-exists': policyExists,
  'policy-attached': policyAttached(true),
  'policy-not-attached': policyAttached(false),
};

/** Runs a named precheck; an unknown name fails, a failed call fails with its reason. */
export async function runAwsPrecheck(
  name: string,
  request: ExecutionRequest,
  session: AwsSession,
  serviceOf: string,
): Promise<PrecheckOutcome> {
  const check = Object.hasOwn(AWS_PRECHECKS, name) ? AWS_PRECHECKS[name] : undefined;
  if (check === undefined) {
    return fail(
      `unknown precheck ${JSON.stringify(String(name).slice(0, 100))}: the AWS executor implements ${Object.keys(AWS_PRECHECKS).join(', ')}`,
    );
  }
  try {
    return await check(request, session);
  } catch (error) {
    if (session.signal.aborted) return fail('stopped: the run was aborted');
    return fail(`${name}: ${session.describe(error, serviceOf)}`);
  }
}
