import {
  AgentSafeError,
  type ApiCall,
  type ExecutionContext,
  type ExecutionOutcome,
  type ExecutionRequest,
  type Executor,
  type PrecheckOutcome,
} from '@agent-safe/core';
import { awsApiCalls, MASKED_VALUE } from '@agent-safe/runner';
import { ACTIONS } from './actions.js';
import { ClientCache } from './clients.js';
import { type AwsCredentialKeys, awsCredentialKeys } from './credentials.js';
import { AwsCallError, describeAwsError, quote } from './errors.js';
import { runAwsPrecheck } from './prechecks.js';
import { AwsSession } from './session.js';
import { readActionState } from './state.js';

/** Options of {@link AwsExecutor}. */
export interface AwsExecutorOptions {
  /** Region when the params name none; else AWS_REGION, AWS_DEFAULT_REGION. */
  readonly region?: string;
  /** Endpoint of every client (e.g. moto's `http://127.0.0.1:5000`); default AWS's own. */
  readonly endpoint?: string;
  /**
   * The runner's own static keys (tests, development). Without them the runner's identity is the SDK's
   * default chain (environment, profile, instance role). Prechecks always use the runner's identity.
   */
  readonly credentials?: {
    readonly accessKeyId: string;
    readonly secretAccessKey: string;
    readonly sessionToken?: string;
  };
  /** Attempts per call, throttling and 5xx retried with the SDK's standard backoff; default 3. */
  readonly maxAttempts?: number;
  /** Longest wait of ec2 stop/start when the params give no timeout; default 300 000 ms. */
  readonly waitTimeoutMs?: number;
  /** Poll interval of those waits; default 2000 ms. */
  readonly pollIntervalMs?: number;
  /** Longest wait for one call, its retries included; default 30 000 ms (the run's signal still stops it earlier). */
  readonly requestTimeoutMs?: number;
  /** Path-style S3 URLs (moto, LocalStack, MinIO); default true when `endpoint` is set, else false. */
  readonly forcePathStyle?: boolean;
}

const REGION = /^[a-z]{2,4}(-[a-z]+)+-\d{1,2}$/;

function bounded(
  value: number | undefined,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new AgentSafeError(
      'USAGE',
      `${name} must be a whole number from ${min} to ${max}, got ${quote(String(value), 40)}`,
    );
  }
  return value;
}

function checkRegion(region: string, source: string): string {
  if (!REGION.test(region)) {
    throw new AgentSafeError(
      'USAGE',
      `${source} ${JSON.stringify(quote(region, 60))} is not an AWS region (e.g. us-east-1)`,
    );
  }
  return region;
}

function serviceOf(action: string): string {
  return action.split('-')[0] ?? 'aws';
}

/**
 * Runs the AWS catalogue actions with the AWS SDK v3 clients (each loaded on first use, cached per
 * region, endpoint and keys). Each action makes exactly the calls {@link AwsExecutor.plan} shows (the dry
 * run's `awsApiCalls`). With `context.credentials` (an STS session's Credential handle or a plain
 * `{ accessKeyId, secretAccessKey, sessionToken? }`) the action and its state reads use ONLY those keys,
 * never the default chain; prechecks always use the runner's identity (options.credentials or the
 * default chain): they are the runner's verification and read beyond the action's own grant (instance
 * attributes, role and policy existence). Failures come back as `ok: false` with `<Code>: <message>`.
 */
export class AwsExecutor implements Executor {
  readonly name = 'aws';
  readonly #options: AwsExecutorOptions;
  readonly #cache: ClientCache;
  readonly #waitTimeoutMs: number;
  readonly #pollIntervalMs: number;
  readonly #requestTimeoutMs: number;
  readonly #ownKeys: AwsCredentialKeys | undefined;

  constructor(options: AwsExecutorOptions = {}) {
    this.#options = options;
    const maxAttempts = bounded(options.maxAttempts, 'maxAttempts', 3, 1, 10);
    this.#waitTimeoutMs = bounded(options.waitTimeoutMs, 'waitTimeoutMs', 300_000, 1, 3_600_000);
    this.#pollIntervalMs = bounded(options.pollIntervalMs, 'pollIntervalMs', 2000, 1, 60_000);
    this.#requestTimeoutMs = bounded(options.requestTimeoutMs, 'requestTimeoutMs', 30_000, 1, 600_000);
    if (options.region !== undefined) checkRegion(options.region, 'options.region');
    if (options.endpoint !== undefined) {
      let url: URL | undefined;
      try {
        url = new URL(options.endpoint);
      } catch {
        url = undefined;
      }
      if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
        throw new AgentSafeError(
          'USAGE',
          `options.endpoint must be an http(s) URL, got ${JSON.stringify(quote(options.endpoint, 200))}`,
        );
      }
    }
    this.#ownKeys =
      options.credentials === undefined ? undefined : awsCredentialKeys(options.credentials).keys;
    this.#cache = new ClientCache({
      endpoint: options.endpoint,
      maxAttempts,
      // moto, LocalStack and MinIO need path-style URLs; AWS's own S3 endpoint needs none of it.
      forcePathStyle: options.forcePathStyle ?? options.endpoint !== undefined,
      graceMs: this.#requestTimeoutMs + 1000,
    });
  }

  /** Destroys the cached clients (their sockets). The executor stays usable. */
  close(): void {
    this.#cache.clear();
  }

  /** The region of a request: params, else options, else the credential's, else AWS_REGION / AWS_DEFAULT_REGION. */
  #region(request: ExecutionRequest, credentialRegion?: string): string {
    const param = request.params.region;
    if (typeof param === 'string' && param !== '') return checkRegion(param, 'param "region"');
    if (this.#options.region !== undefined) return this.#options.region;
    if (credentialRegion !== undefined) return checkRegion(credentialRegion, "the credential's region");
    const env = process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION;
    if (env) return checkRegion(env, 'AWS_REGION');
    throw new AgentSafeError(
      'USAGE',
      `no AWS region for ${quote(request.action.name, 100)}: give the region param, the executor's region option or AWS_REGION`,
    );
  }

  /**
   * A session for one port call. `identity: 'credential'`: with `context.credentials`, ONLY its keys;
   * otherwise the runner's identity. `identity: 'runner'` (prechecks): the runner's identity; a
   * credential in the context is still checked (a revoked or malformed one fails closed) but not used.
   */
  #session(
    request: ExecutionRequest,
    context: ExecutionContext,
    identity: 'credential' | 'runner',
  ): AwsSession {
    let keys = this.#ownKeys;
    let credentialRegion: string | undefined;
    if (context.credentials !== undefined) {
      const given = awsCredentialKeys(context.credentials);
      if (identity === 'credential') {
        keys = given.keys;
        credentialRegion = given.region;
      }
    }
    return new AwsSession({
      cache: this.#cache,
      region: this.#region(request, credentialRegion),
      keys,
      endpoint: this.#options.endpoint,
      signal: context.signal,
      pollIntervalMs: this.#pollIntervalMs,
      requestTimeoutMs: this.#requestTimeoutMs,
    });
  }

  #planOptions(region?: string) {
    return {
      ...(region !== undefined ? { region } : {}),
      waitSeconds: Math.round(this.#waitTimeoutMs / 1000),
    };
  }

  plan(request: ExecutionRequest): readonly ApiCall[] {
    return awsApiCalls(request.action.name, request.params, this.#planOptions(this.#options.region));
  }

  /** The calls as reported back: sensitive params (e.g. environment variables) masked. */
  #reported(request: ExecutionRequest, region: string): readonly ApiCall[] {
    const sensitive = request.action.parameters.filter(
      (parameter) => parameter.sensitive && Object.hasOwn(request.params, parameter.name),
    );
    const params: Record<string, unknown> = { ...request.params };
    for (const parameter of sensitive) params[parameter.name] = MASKED_VALUE;
    if (
      request.action.name === 'lambda-update-function-config' &&
      params.environment_variables !== undefined
    ) {
      params.environment_variables = MASKED_VALUE; // values may be secrets even where the file forgot to say so
    }
    return awsApiCalls(request.action.name, params, this.#planOptions(region));
  }

  async execute(request: ExecutionRequest, context: ExecutionContext): Promise<ExecutionOutcome> {
    const action = request?.action?.name;
    const implementation =
      typeof action === 'string' && Object.hasOwn(ACTIONS, action) ? ACTIONS[action] : undefined;
    if (implementation === undefined) {
      return {
        ok: false,
        error: `the AWS executor does not run ${quote(String(action), 100)} (not an AWS catalogue action)`,
      };
    }
    let session: AwsSession;
    try {
      session = this.#session(request, context, 'credential');
    } catch (error) {
      // Credentials refused (fail closed) or no region: one line, never a value.
      return { ok: false, error: quote((error as Error)?.message ?? error, 600) };
    }
    let planned: readonly ApiCall[];
    let calls: readonly ApiCall[];
    try {
      planned = awsApiCalls(action, request.params, this.#planOptions(session.region));
      calls = this.#reported(request, session.region);
    } catch (error) {
      return {
        ok: false,
        error: `cannot plan ${quote(action, 100)}: ${quote((error as Error)?.message ?? error)}`,
      };
    }
    const timeout =
      request.params.timeout_seconds ?? (action.startsWith('ec2-') ? request.params.timeout : undefined);
    const waitMs = typeof timeout === 'number' && timeout > 0 ? timeout * 1000 : this.#waitTimeoutMs;
    try {
      const result = await implementation({ request, planned, session, waitMs });
      return {
        ok: result.ok,
        calls,
        ...(result.output !== undefined ? { output: result.output } : {}),
        ...(result.error !== undefined ? { error: result.error } : {}),
      };
    } catch (error) {
      if (context.signal.aborted) {
        const reason = context.signal.reason as { message?: unknown } | undefined;
        return {
          ok: false,
          calls,
          error: `stopped: ${quote(typeof reason?.message === 'string' ? reason.message : 'the run was aborted')}`,
        };
      }
      return { ok: false, calls, error: describeAwsError(error, session.site(serviceOf(action))) };
    }
  }

  /**
   * Reads the action's `state_fields` with the run's credential when there is one: every catalogue
   * action's credential may describe its own resource, so the before- and after-state need no right of
   * the runner's. A failed read throws one line (the runner records it).
   */
  async readState(
    request: ExecutionRequest,
    fields: readonly string[],
    context: ExecutionContext,
  ): Promise<Record<string, unknown>> {
    if (fields.length === 0) return {};
    const session = this.#session(request, context, 'credential');
    try {
      return await readActionState(session, request, fields);
    } catch (error) {
      if (context.signal.aborted) throw error;
      throw new AwsCallError(describeAwsError(error, session.site(serviceOf(request.action.name))));
    }
  }

  /** Runs a named precheck with the runner's own identity (never the run's credential; see the class). */
  async precheck(
    name: string,
    request: ExecutionRequest,
    context: ExecutionContext,
  ): Promise<PrecheckOutcome> {
    let session: AwsSession;
    try {
      session = this.#session(request, context, 'runner');
    } catch (error) {
      return { status: 'fail', reason: quote((error as Error)?.message ?? error) };
    }
    return await runAwsPrecheck(name, request, session, serviceOf(request.action.name));
  }
}
