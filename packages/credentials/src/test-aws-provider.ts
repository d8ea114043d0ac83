import { randomBytes } from 'node:crypto';
import { AgentSafeError } from '@agent-safe/core';
import { awsErrorName, awsErrorReason, loadAwsClient } from './aws-sdk-loader.js';
import { AWS_REVOKE_POLICY_NAME, type AwsStaticCredentials } from './sts-credential-provider.js';
import type { ProviderCheck, ProviderTestResult } from './test-kubernetes-provider.js';
import { type SecretsManagerSecrets, secretIdFor } from './secrets-manager-vault.js';

/** Options of {@link testAwsProvider}. */
export interface TestAwsProviderOptions {
  readonly roleArn: string;
  readonly region?: string;
  readonly endpoint?: string;
  /** The runner's own credentials (default: the SDK's default provider chain). */
  readonly credentials?: AwsStaticCredentials;
  /** Name of the role the revoke deny goes on; default: the name in `roleArn`. */
  readonly revokeRoleName?: string;
}

const ROLE_ARN = /^arn:[a-z-]+:iam::\d{12}:role\/(?:[\x21-\x7e]*\/)?([\w+=,.@-]{1,64})$/;
const DENY_ALL = JSON.stringify({
  Version: '2012-10-17',
  Statement: [{ Effect: 'Deny', Action: '*', Resource: '*' }],
});

type StsModule = typeof import('@aws-sdk/client-sts');
type IamModule = typeof import('@aws-sdk/client-iam');
type SecretsModule = typeof import('@aws-sdk/client-secrets-manager');

function config(options: { region?: string; endpoint?: string; credentials?: AwsStaticCredentials }) {
  return {
    ...(options.region === undefined ? {} : { region: options.region }),
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
    maxAttempts: 2,
  };
}

/** The IAM principal a caller ARN stands for (an assumed-role session's role). */
function principalArn(callerArn: string): string {
  const match = /^arn:([a-z-]+):sts::(\d{12}):assumed-role\/([\w+=,.@-]+)\/[^/]+$/.exec(callerArn);
  return match === null ? callerArn : `arn:${match[1]}:iam::${match[2]}:role/${match[3]}`;
}

/**
 * Checks that the runner's identity can run the STS credential provider (for `agent-safe credential
 * test-vault --vault aws`), creating nothing that lasts: GetCallerIdentity answers (who the runner is),
 * the role exists (`iam:GetRole`), AssumeRole works — with a deny-all session policy, so the session it
 * opens can do nothing, and its keys are dropped at once — and the runner may read and write the revoke
 * policy on the role (`iam:GetRolePolicy`, `iam:PutRolePolicy`, asked through SimulatePrincipalPolicy;
 * where the endpoint does not implement it, e.g. moto, the check says it was not checked). Never prints
 * a key.
 */
export async function testAwsProvider(options: TestAwsProviderOptions): Promise<ProviderTestResult> {
  const match = ROLE_ARN.exec(typeof options?.roleArn === 'string' ? options.roleArn : '');
  if (match === null) {
    throw new AgentSafeError(
      'USAGE',
      'testAwsProvider: roleArn must be an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)',
      {
        details: { field: 'roleArn' },
      },
    );
  }
  const roleName = options.revokeRoleName ?? match[1]!;
  const stsModule = await loadAwsClient<StsModule>('@aws-sdk/client-sts');
  const iamModule = await loadAwsClient<IamModule>('@aws-sdk/client-iam');
  const sts = new stsModule.STSClient(config(options));
  const iam = new iamModule.IAMClient({ region: 'us-east-1', ...config(options) });
  const checks: ProviderCheck[] = [];
  let caller: string | undefined;
  try {
    const identity = await sts.send(new stsModule.GetCallerIdentityCommand({}));
    caller = identity.Arn;
    checks.push({
      name: 'sts:GetCallerIdentity',
      ok: true,
      required: true,
      detail: `the runner is ${identity.Arn}`,
    });
  } catch (error) {
    checks.push({
      name: 'sts:GetCallerIdentity',
      ok: false,
      required: true,
      detail: `failed (${awsErrorReason(error)}): check the runner's AWS credentials, region and endpoint`,
    });
    return { ok: false, checks };
  }
  try {
    const role = await iam.send(new iamModule.GetRoleCommand({ RoleName: roleName }));
    checks.push({
      name: `iam:GetRole ${roleName}`,
      ok: true,
      required: true,
      detail: `the role exists (maximum session ${role.Role?.MaxSessionDuration ?? 3600}s)`,
    });
  } catch (error) {
    const missing = awsErrorName(error) === 'NoSuchEntity' || awsErrorName(error) === 'NoSuchEntityException';
    checks.push({
      name: `iam:GetRole ${roleName}`,
      ok: false,
      required: true,
      detail: `${missing ? 'the role does not exist' : 'failed'} (${awsErrorReason(error)}): create the role or fix roleArn, and let the runner iam:GetRole it`,
    });
  }
  try {
    await sts.send(
      new stsModule.AssumeRoleCommand({
        RoleArn: options.roleArn,
        RoleSessionName: `agent-safe-test-vault-${randomBytes(4).toString('hex')}`,
        Policy: DENY_ALL,
        DurationSeconds: 900,
      }),
    );
    checks.push({
      name: `sts:AssumeRole ${options.roleArn}`,
      ok: true,
      required: true,
      detail:
        'works (tested with a deny-all session policy: the session opened can do nothing and its keys were dropped)',
    });
  } catch (error) {
    checks.push({
      name: `sts:AssumeRole ${options.roleArn}`,
      ok: false,
      required: true,
      detail: `failed (${awsErrorReason(error)}): the role's trust policy must allow the runner, and the runner needs sts:AssumeRole on it`,
    });
  }
  const actions = ['iam:GetRolePolicy', 'iam:PutRolePolicy'];
  try {
    const result = await iam.send(
      new iamModule.SimulatePrincipalPolicyCommand({
        PolicySourceArn: principalArn(caller ?? ''),
        ActionNames: actions,
        ResourceArns: [options.roleArn],
      }),
    );
    for (const action of actions) {
      const decision = result.EvaluationResults?.find(
        (entry) => entry.EvalActionName === action,
      )?.EvalDecision;
      checks.push({
        name: `${action} ${roleName}`,
        ok: decision === 'allowed',
        required: true,
        detail:
          decision === 'allowed'
            ? `allowed (revoke writes ${AWS_REVOKE_POLICY_NAME} on the role)`
            : `${decision ?? 'no answer'}: revoke writes a deny into ${AWS_REVOKE_POLICY_NAME} on the role; grant the runner ${action} on it`,
      });
    }
  } catch (error) {
    checks.push({
      name: `${actions.join(', ')} ${roleName}`,
      ok: false,
      required: false,
      detail: `not checked: SimulatePrincipalPolicy failed (${awsErrorReason(error)}); make sure the runner may ${actions.join(' and ')} on the role, or revoke will fail`,
    });
  }
  return { ok: checks.every((check) => check.ok || !check.required), checks };
}

/** Options of {@link testSecretsManagerVault}. */
export interface TestSecretsManagerVaultOptions {
  readonly region: string;
  readonly endpoint?: string;
  readonly credentials?: AwsStaticCredentials;
  readonly secrets: SecretsManagerSecrets;
  /** Actions to check (needed when `secrets` is a function). Default: the keys of `secrets`. */
  readonly actions?: readonly string[];
}

/**
 * Checks that each configured secret exists and can be described (`secretsmanager:DescribeSecret`),
 * never reading a value. Whether the runner may read it (`GetSecretValue`) is not checked: that would
 * read it.
 */
export async function testSecretsManagerVault(
  options: TestSecretsManagerVaultOptions,
): Promise<ProviderTestResult> {
  const actions =
    options.actions ?? (typeof options.secrets === 'function' ? [] : Object.keys(options.secrets));
  if (actions.length === 0 || actions.length > 256) {
    throw new AgentSafeError(
      'USAGE',
      'testSecretsManagerVault: name between 1 and 256 actions (or secrets) to check',
      {
        details: { field: 'actions' },
      },
    );
  }
  const module = await loadAwsClient<SecretsModule>('@aws-sdk/client-secrets-manager');
  const client = new module.SecretsManagerClient(config(options));
  const checks: ProviderCheck[] = [];
  for (const action of actions) {
    const secretId = secretIdFor(options.secrets, action);
    if (typeof secretId !== 'string' || secretId === '') {
      checks.push({
        name: `secret for ${action}`,
        ok: false,
        required: true,
        detail: 'no secret configured for it',
      });
      continue;
    }
    try {
      const described = await client.send(new module.DescribeSecretCommand({ SecretId: secretId }));
      checks.push({
        name: `secretsmanager:DescribeSecret ${secretId}`,
        ok: described.DeletedDate === undefined,
        required: true,
        detail:
          described.DeletedDate === undefined
            ? `exists (${described.ARN ?? secretId}); its value was not read`
            : 'is scheduled for deletion: restore it or configure another secret',
      });
    } catch (error) {
      checks.push({
        name: `secretsmanager:DescribeSecret ${secretId}`,
        ok: false,
        required: true,
        detail: `failed (${awsErrorReason(error)}): create the secret or let the runner describe it`,
      });
    }
  }
  return { ok: checks.every((check) => check.ok || !check.required), checks };
}
