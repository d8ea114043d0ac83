import type { AssumeRoleCommandOutput } from '@aws-sdk/client-sts';
import {
  AgentSafeError,
  type Clock,
  Credential,
  type CredentialProvider,
  type CredentialRequest,
  systemClock,
} from '@agent-safe/core';
import { type AwsPolicyDocument, type AwsPolicyStatement, awsSessionPolicy } from './aws-session-policy.js';
import { awsErrorName, awsErrorReason, loadAwsClient } from './aws-sdk-loader.js';

/** STS's shortest session (AssumeRole `DurationSeconds`). */
export const AWS_MIN_SESSION_SECONDS = 900;
/** STS's longest session (a role's `MaxSessionDuration` may allow up to 12 h; default 1 h). */
export const AWS_MAX_SESSION_SECONDS = 43_200;
/** Name of the inline policy on the role that denies revoked sessions. */
export const AWS_REVOKE_POLICY_NAME = 'AgentSafeRevokedSessions';
/** IAM's limit on all inline policies of a role together, in characters (without whitespace). */
const IAM_ROLE_INLINE_POLICY_MAX_CHARS = 10_240;
/** A revoked session's deny is kept this long past the session's expiry (clock skew between hosts). */
const PRUNE_MARGIN_MS = 5 * 60_000;
const ROLE_ARN =
  /^arn:(aws|aws-cn|aws-us-gov|aws-iso|aws-iso-b|aws-iso-e|aws-iso-f|aws-eusc):iam::(\d{12}):role\/(?:[\x21-\x7e]*\/)?([\w+=,.@-]{1,64})$/;
const SESSION_NAME_PART = /[^\w+=,.@-]/g;

/**
 * Temporary AWS credentials of one assumed-role session: pass the object as `credentials` to an AWS SDK
 * v3 client (it is a plain, unfrozen object because the SDK annotates the object it is given). Never logged or printed (it lives only in the `Credential` handle's material).
 */
export interface AwsCredentialMaterial {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken: string;
  readonly expiration: Date;
  readonly region?: string;
}

/** Static credentials of the runner's own identity (the SDK's default chain is used without them). */
export interface AwsStaticCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

/** Options of {@link StsCredentialProvider}. */
export interface StsCredentialProviderOptions {
  /** The role every session assumes; its own policies bound what any session policy can grant. */
  readonly roleArn: string;
  /** Region of the STS endpoint and of the material handed out; default: the SDK's (AWS_REGION…). */
  readonly region?: string;
  /** Endpoint override for STS and IAM (tests against moto). */
  readonly endpoint?: string;
  /** Start of every session name (letters, digits and `+=,.@-`, ≤ 32); default `agent-safe`. */
  readonly sessionNamePrefix?: string;
  /** `ExternalId` the role's trust policy requires, if any. */
  readonly externalId?: string;
  /** The runner's own credentials (default: the SDK's default provider chain). */
  readonly credentials?: AwsStaticCredentials;
  /** Name of the role the revoke deny is written on; default: the name in `roleArn`. */
  readonly revokeRoleName?: string;
  readonly clock?: Clock;
}

/** What the provider remembers of a session it issued (nothing secret). */
interface SessionRecord {
  readonly assumedRoleId: string;
  readonly sessionName: string;
  readonly expiresAt: number;
  readonly policy: AwsPolicyDocument;
  readonly requestedSeconds: number;
  readonly grantedSeconds: number;
}

/** The session name for a request id: `<prefix>-<id>` with characters STS refuses replaced, ≤ 64. */
export function awsSessionName(requestId: string, prefix = 'agent-safe'): string {
  const id = String(requestId).replace(SESSION_NAME_PART, '-');
  return `${prefix}-${id}`.slice(0, 64);
}

/** The session lifetime STS is asked for: the block's ttl raised to 900 s (and at most 12 h), with a note. */
export function awsSessionDuration(ttlSeconds: number): { seconds: number; note?: string } {
  if (ttlSeconds < AWS_MIN_SESSION_SECONDS) {
    return {
      seconds: AWS_MIN_SESSION_SECONDS,
      note: `ttl ${ttlSeconds}s raised to STS's minimum session of ${AWS_MIN_SESSION_SECONDS}s (revoke denies the session as soon as the action ends)`,
    };
  }
  if (ttlSeconds > AWS_MAX_SESSION_SECONDS) {
    return {
      seconds: AWS_MAX_SESSION_SECONDS,
      note: `ttl ${ttlSeconds}s lowered to STS's maximum session of ${AWS_MAX_SESSION_SECONDS}s`,
    };
  }
  return { seconds: ttlSeconds };
}

type StsModule = typeof import('@aws-sdk/client-sts');
type IamModule = typeof import('@aws-sdk/client-iam');

/**
 * Scoped, short-lived AWS credentials: for each request it assumes `roleArn` (STS AssumeRole) with the
 * inline session policy rendered from the action's `credentials` block ({@link awsSessionPolicy}), so the
 * session can do at most what both the role and that policy allow. `DurationSeconds` is the block's ttl
 * raised to STS's 900 s minimum (a note records it). The session name is derived from the request id.
 *
 * STS sessions cannot be deleted, so `revoke` writes an inline deny on the role
 * ({@link AWS_REVOKE_POLICY_NAME}: Deny `*` on `*` when `aws:userid` is that session's
 * `<roleId>:<sessionName>`), dropping the entries of sessions that have expired so the policy stays under
 * IAM's size limit. The runner's own identity needs `sts:AssumeRole` on the role and
 * `iam:GetRole`, `iam:GetRolePolicy`, `iam:PutRolePolicy` on it. Keys are only in the returned handle's
 * material, never in an error, note or id.
 */
export class StsCredentialProvider implements CredentialProvider<AwsCredentialMaterial> {
  readonly type = 'aws';
  readonly #options: StsCredentialProviderOptions;
  readonly #clock: Clock;
  readonly #roleName: string;
  readonly #sessions = new Map<string, SessionRecord>();
  /** Revokes of this process, one at a time: each rewrites the same inline policy. */
  #revoking: Promise<unknown> = Promise.resolve();
  #sts: Promise<{ module: StsModule; client: InstanceType<StsModule['STSClient']> }> | undefined;
  #iam: Promise<{ module: IamModule; client: InstanceType<IamModule['IAMClient']> }> | undefined;

  constructor(options: StsCredentialProviderOptions) {
    const match = ROLE_ARN.exec(typeof options?.roleArn === 'string' ? options.roleArn : '');
    if (match === null) {
      throw new AgentSafeError(
        'USAGE',
        'StsCredentialProvider: roleArn must be an IAM role ARN such as arn:aws:iam::123456789012:role/agent-safe-executor',
        { details: { field: 'roleArn' } },
      );
    }
    const prefix = options.sessionNamePrefix ?? 'agent-safe';
    if (!/^[\w+=,.@-]{1,32}$/.test(prefix)) {
      throw new AgentSafeError(
        'USAGE',
        'StsCredentialProvider: sessionNamePrefix must be 1-32 letters, digits or + = , . @ - _',
        { details: { field: 'sessionNamePrefix' } },
      );
    }
    if (options.revokeRoleName !== undefined && !/^[\w+=,.@-]{1,64}$/.test(options.revokeRoleName)) {
      throw new AgentSafeError('USAGE', 'StsCredentialProvider: revokeRoleName must be an IAM role name', {
        details: { field: 'revokeRoleName' },
      });
    }
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#roleName = options.revokeRoleName ?? match[3]!;
  }

  /** The client configuration shared by STS and IAM (region, endpoint, the runner's own credentials). */
  #clientConfig(): Record<string, unknown> {
    const { region, endpoint, credentials } = this.#options;
    return {
      ...(region === undefined ? {} : { region }),
      ...(endpoint === undefined ? {} : { endpoint }),
      ...(credentials === undefined ? {} : { credentials }),
      maxAttempts: 3,
    };
  }

  async #stsClient() {
    this.#sts ??= loadAwsClient<StsModule>('@aws-sdk/client-sts').then((module) => ({
      module,
      client: new module.STSClient(this.#clientConfig()),
    }));
    return await this.#sts;
  }

  async #iamClient() {
    this.#iam ??= loadAwsClient<IamModule>('@aws-sdk/client-iam').then((module) => ({
      module,
      // IAM is global; its endpoint lives in us-east-1 unless overridden.
      client: new module.IAMClient({ region: 'us-east-1', ...this.#clientConfig() }),
    }));
    return await this.#iam;
  }

  async issue(request: CredentialRequest): Promise<Credential<AwsCredentialMaterial>> {
    const policy = awsSessionPolicy(request.scope);
    const duration = awsSessionDuration(request.ttlSeconds);
    const sessionName = awsSessionName(request.requestId, this.#options.sessionNamePrefix);
    const { module, client } = await this.#stsClient();
    const issuedAt = this.#clock.now();
    let output: AssumeRoleCommandOutput;
    try {
      output = await client.send(
        new module.AssumeRoleCommand({
          RoleArn: this.#options.roleArn,
          RoleSessionName: sessionName,
          Policy: JSON.stringify(policy),
          DurationSeconds: duration.seconds,
          ...(this.#options.externalId === undefined ? {} : { ExternalId: this.#options.externalId }),
        }),
      );
    } catch (error) {
      const name = awsErrorName(error);
      const hint =
        name === 'PackedPolicyTooLarge'
          ? 'the session policy is too large once packed: list fewer resources or shorter ARNs'
          : name === 'AccessDenied'
            ? "the runner's identity may not assume the role (its trust policy and the runner's sts:AssumeRole right)"
            : 'check the role ARN, region and endpoint';
      throw new AgentSafeError(
        'INTERNAL',
        `AssumeRole of ${this.#options.roleArn} for ${request.action} failed (${awsErrorReason(error)}); ${hint}`,
        { details: { action: request.action, requestId: request.requestId } },
      );
    }
    const keys = output.Credentials;
    const user = output.AssumedRoleUser;
    if (
      typeof keys?.AccessKeyId !== 'string' ||
      typeof keys.SecretAccessKey !== 'string' ||
      typeof keys.SessionToken !== 'string' ||
      typeof user?.Arn !== 'string' ||
      typeof user.AssumedRoleId !== 'string'
    ) {
      throw new AgentSafeError(
        'INTERNAL',
        `AssumeRole of ${this.#options.roleArn} for ${request.action} returned no credentials`,
        { details: { action: request.action, requestId: request.requestId } },
      );
    }
    const planned = issuedAt + duration.seconds * 1000;
    const serverExpiry = keys.Expiration instanceof Date ? keys.Expiration.getTime() : Number.NaN;
    const expiresAt = Number.isFinite(serverExpiry) ? Math.min(serverExpiry, planned) : planned;
    const notes = [
      `role ${this.#options.roleArn}, session ${sessionName}`,
      ...(duration.note === undefined ? [] : [duration.note]),
      ...(typeof output.PackedPolicySize === 'number'
        ? [`session policy uses ${output.PackedPolicySize}% of STS's packed size`]
        : []),
    ];
    this.#sessions.set(user.Arn, {
      assumedRoleId: user.AssumedRoleId,
      sessionName,
      expiresAt,
      policy,
      requestedSeconds: request.ttlSeconds,
      grantedSeconds: duration.seconds,
    });
    return new Credential<AwsCredentialMaterial>({
      kind: 'aws-sts-session',
      id: user.Arn,
      issuedAt,
      expiresAt,
      // Not frozen: AWS SDK clients given it as `credentials` record on the object where it came from.
      material: {
        accessKeyId: keys.AccessKeyId,
        secretAccessKey: keys.SecretAccessKey,
        sessionToken: keys.SessionToken,
        expiration: new Date(expiresAt),
        ...(this.#options.region === undefined ? {} : { region: this.#options.region }),
      },
      clock: this.#clock,
      notes,
    });
  }

  /** The session policy, assumed-role id and durations of a session this provider issued (non-secret). */
  sessionOf(credential: Credential<AwsCredentialMaterial>):
    | {
        readonly assumedRoleId: string;
        readonly sessionName: string;
        readonly policy: AwsPolicyDocument;
        readonly requestedSeconds: number;
        readonly grantedSeconds: number;
      }
    | undefined {
    return this.#sessions.get(credential.id);
  }

  /**
   * Denies the session at AWS: adds its `aws:userid` (`<roleId>:<sessionName>`) to the role's inline
   * policy {@link AWS_REVOKE_POLICY_NAME} (a Deny of every action on every resource), pruning entries
   * of sessions expired more than 5 minutes ago, then reads the policy back to make sure the entry is
   * there (two runners writing at once: the loser retries). The handle is invalidated first, whatever
   * AWS answers. A session issued by another process (id = its assumed-role ARN) is found through
   * `iam:GetRole`. Throws `INTERNAL` naming the role and the AWS reason. Idempotent.
   */
  async revoke(credential: Credential<AwsCredentialMaterial>): Promise<void> {
    credential.invalidate();
    const record = this.#sessions.get(credential.id);
    const userId = record?.assumedRoleId ?? (await this.#rediscover(credential.id));
    if (userId === undefined) return;
    const expiresAt = record?.expiresAt ?? credential.expiresAt;
    const run = this.#revoking.then(() => this.#denySession(credential.id, userId, expiresAt));
    this.#revoking = run.catch(() => undefined);
    await run;
    this.#sessions.delete(credential.id);
  }

  /** Adds `userId` to the revoke policy and reads it back (another runner may write at the same time). */
  async #denySession(id: string, userId: string, expiresAt: number): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const current = await this.#readRevokePolicy();
      const next = revokePolicyWith(current, userId, expiresAt, this.#clock.now());
      await this.#writeRevokePolicy(next);
      const written = await this.#readRevokePolicy();
      if (revokedUserIds(written).has(userId)) break;
      if (attempt >= 3) {
        throw new AgentSafeError(
          'INTERNAL',
          `Revoking ${id}: the deny on role ${this.#roleName} did not hold after 3 writes (another writer keeps replacing ${AWS_REVOKE_POLICY_NAME})`,
          { details: { credential: id } },
        );
      }
    }
  }

  /** The `aws:userid` of a session named by its assumed-role ARN, through the role's id. */
  async #rediscover(id: string): Promise<string | undefined> {
    const match = /^arn:[a-z-]+:sts::\d{12}:assumed-role\/([\w+=,.@-]{1,64})\/([\w+=,.@-]{2,64})$/.exec(id);
    if (match === null || match[1] !== this.#roleName) return undefined;
    const { module, client } = await this.#iamClient();
    try {
      const output = await client.send(new module.GetRoleCommand({ RoleName: this.#roleName }));
      const roleId = output.Role?.RoleId;
      return typeof roleId === 'string' ? `${roleId}:${match[2]}` : undefined;
    } catch (error) {
      throw new AgentSafeError(
        'INTERNAL',
        `Revoking ${id}: reading role ${this.#roleName} failed (${awsErrorReason(error)})`,
        { details: { credential: id } },
      );
    }
  }

  async #readRevokePolicy(): Promise<AwsPolicyDocument | undefined> {
    const { module, client } = await this.#iamClient();
    try {
      const output = await client.send(
        new module.GetRolePolicyCommand({ RoleName: this.#roleName, PolicyName: AWS_REVOKE_POLICY_NAME }),
      );
      const text = output.PolicyDocument;
      if (typeof text !== 'string') return undefined;
      return JSON.parse(decodePolicyDocument(text)) as AwsPolicyDocument;
    } catch (error) {
      if (awsErrorName(error) === 'NoSuchEntity' || awsErrorName(error) === 'NoSuchEntityException')
        return undefined;
      if (error instanceof SyntaxError) return undefined;
      throw new AgentSafeError(
        'INTERNAL',
        `Reading the revoke policy ${AWS_REVOKE_POLICY_NAME} of role ${this.#roleName} failed (${awsErrorReason(error)}); the runner needs iam:GetRolePolicy on it`,
        { details: { role: this.#roleName } },
      );
    }
  }

  async #writeRevokePolicy(document: AwsPolicyDocument): Promise<void> {
    const text = JSON.stringify(document);
    if (text.length > IAM_ROLE_INLINE_POLICY_MAX_CHARS) {
      throw new AgentSafeError(
        'INTERNAL',
        `The revoke policy of role ${this.#roleName} would be ${text.length} characters, over IAM's ${IAM_ROLE_INLINE_POLICY_MAX_CHARS}: too many unexpired revoked sessions; use AWSRevokeOlderSessions (aws:TokenIssueTime) instead`,
        { details: { role: this.#roleName } },
      );
    }
    const { module, client } = await this.#iamClient();
    try {
      await client.send(
        new module.PutRolePolicyCommand({
          RoleName: this.#roleName,
          PolicyName: AWS_REVOKE_POLICY_NAME,
          PolicyDocument: text,
        }),
      );
    } catch (error) {
      throw new AgentSafeError(
        'INTERNAL',
        `Writing the revoke policy ${AWS_REVOKE_POLICY_NAME} on role ${this.#roleName} failed (${awsErrorReason(error)}); the runner needs iam:PutRolePolicy on it`,
        { details: { role: this.#roleName } },
      );
    }
  }
}

/** IAM returns policy documents URL-encoded (RFC 3986); the SDK passes them through as is. */
function decodePolicyDocument(text: string): string {
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{')) return text;
  return decodeURIComponent(text);
}

/** Sid of the statement denying the sessions that expire in the minute `until` (epoch ms) ends. */
function revokeSid(until: number): string {
  return `RevokedUntil${new Date(until).toISOString().slice(0, 16).replace(/[-:T]/g, '')}`;
}

/** The epoch ms a revoke statement's Sid stands for, or NaN. */
function sidExpiry(sid: unknown): number {
  const match =
    typeof sid === 'string' ? /^RevokedUntil(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(sid) : null;
  if (match === null) return Number.NaN;
  return Date.UTC(+match[1]!, +match[2]! - 1, +match[3]!, +match[4]!, +match[5]!) + 60_000;
}

/** Every `aws:userid` a revoke policy denies. */
export function revokedUserIds(document: AwsPolicyDocument | undefined): Set<string> {
  const ids = new Set<string>();
  for (const statement of document?.Statement ?? []) {
    const values = statement.Condition?.StringEquals?.['aws:userid'];
    for (const value of typeof values === 'string' ? [values] : (values ?? [])) ids.add(value);
  }
  return ids;
}

/**
 * The revoke policy with `userId` denied: its statements grouped by the minute their sessions expire
 * (the Sid says which), statements whose sessions all expired more than 5 minutes before `now` dropped,
 * statements this provider did not write (another Sid) kept as they are.
 */
export function revokePolicyWith(
  current: AwsPolicyDocument | undefined,
  userId: string,
  expiresAt: number,
  now: number,
): AwsPolicyDocument {
  const kept: AwsPolicyStatement[] = [];
  const sid = revokeSid(expiresAt);
  let added = false;
  for (const statement of Array.isArray(current?.Statement) ? current.Statement : []) {
    const expiry = sidExpiry(statement.Sid);
    if (Number.isFinite(expiry) && expiry + PRUNE_MARGIN_MS < now) continue;
    if (statement.Sid === sid) {
      const ids = revokedUserIds({ Version: '2012-10-17', Statement: [statement] });
      ids.add(userId);
      kept.push(denyStatement(sid, [...ids]));
      added = true;
    } else {
      kept.push(statement);
    }
  }
  if (!added) kept.push(denyStatement(sid, [userId]));
  return { Version: '2012-10-17', Statement: kept };
}

function denyStatement(sid: string, userIds: readonly string[]): AwsPolicyStatement {
  return {
    Sid: sid,
    Effect: 'Deny',
    Action: '*',
    Resource: '*',
    Condition: { StringEquals: { 'aws:userid': [...userIds].sort() } },
  };
}
