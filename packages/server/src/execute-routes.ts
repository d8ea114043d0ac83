import type { IncomingMessage } from 'node:http';
import {
  AgentSafeError,
  type CredentialsOption,
  EXECUTOR_NAMES,
  type ExecuteOptions,
  type ExecutionResult,
  type Executor,
  InMemoryNonceStore,
  maskExecutionResult,
  unverifiedTicketClaims,
} from '@agent-safe/sdk';
import type { AgentSafe } from '@agent-safe/sdk/facade';
import { HttpError } from './http-error.js';
import type { JsonSchema } from './json-schema.js';
import type { RouteDescription } from './openapi.js';

/** Default longest run of POST /v1/execute (ms): one minute, under most proxies' read timeouts. */
export const DEFAULT_EXECUTE_TIMEOUT_MS = 60_000;
/** The longest run a server may be configured for (ms): the runner's own default, 5 minutes. */
export const MAX_EXECUTE_TIMEOUT_MS = 300_000;
/** Longest ticket accepted (characters); an execution ticket is well under 2 KiB. */
const MAX_TICKET_LENGTH = 16_384;

/** The executor names the server accepts (an Executor object only through the API, never a client). */
export type ServerExecutorName = (typeof EXECUTOR_NAMES)[number];

/**
 * The runner of POST /v1/execute (docs/server.md, "API: execute"): which executor and where it acts
 * come from here, from the operator, never from a request. Without it the route answers 409.
 */
export interface ExecuteServerOptions {
  /**
   * `dry-run` acts on nothing; `kubectl`, `kubernetes` (`k8s`) and `aws` act for real. From code, an
   * Executor object (your own, or one of the SDK's built with options) is used as it is.
   */
  readonly executor: ServerExecutorName | Executor;
  /** Kubeconfig file (kubectl, kubernetes). */
  readonly kubeconfig?: string;
  /** Kubeconfig context (kubectl, kubernetes). */
  readonly context?: string;
  /** Kubernetes executor: the pod's service account. */
  readonly inCluster?: boolean;
  /** AWS default region (aws; an action's region param wins). */
  readonly region?: string;
  /** AWS endpoint override (aws; https://, or http:// on loopback for moto / LocalStack). */
  readonly endpoint?: string;
  /** Per-run scoped credentials (a credential provider); default the executor's own identity. */
  readonly credentials?: CredentialsOption;
  /**
   * Longest run (ms), default {@link DEFAULT_EXECUTE_TIMEOUT_MS}, at most {@link MAX_EXECUTE_TIMEOUT_MS}.
   * A request may ask for less (`timeoutMs`), never more.
   */
  readonly timeoutMs?: number;
  /** Whether a request may set `force` (override prechecks the action marks force_allowed). Default false. */
  readonly allowForce?: boolean;
  /**
   * Where ticket nonces go when the project's `store` is memory (a file or Redis `store` is used as it
   * is): default the server's memory, which outlives reloads but not a restart. `agent-safe serve
   * --executor` passes a file store beside agent-safe.yaml (.agent-safe/state), as `runner execute` does,
   * so a ticket stays used across restarts. Shared with POST /v1/tickets/validate.
   */
  readonly nonceStore?: ExecuteOptions['nonceStore'];
}

/** What the execute route needs from the server. */
export interface ExecuteRouteHost {
  /** The facade serving now (a reload may replace it, so it is read per request). */
  safe(): AgentSafe;
  identityConfigured(): boolean;
  allowPlainCallers(): boolean;
  /** The bearer token of a request, undefined when none was sent (a malformed header throws 401). */
  bearerToken(request: IncomingMessage): string | undefined;
  /** The nonce store that outlives reloads, when the facade has no shared one (memory store). */
  nonceStore(): ExecuteOptions['nonceStore'];
  /** The server's configuration of the runner; undefined: the route answers 409. */
  readonly options: ExecuteServerOptions | undefined;
}

/** What an execute route handler receives. */
export interface ExecuteRouteContext {
  readonly request: IncomingMessage;
  readonly body: unknown;
  /** Aborted when the server closes: a run in flight is cancelled (and recorded as such). */
  readonly signal: AbortSignal;
}

/** The execute route: its description and its handler. */
export interface ExecuteRoute extends RouteDescription {
  handle(context: ExecuteRouteContext): Promise<{ status: number; json: unknown }>;
}

/** Body of POST /v1/execute: the ticket, the params it was issued for, and what a client may ask. */
export const EXECUTE_REQUEST: JsonSchema = {
  type: 'object',
  required: ['ticket', 'params'],
  additionalProperties: false,
  description:
    "Where and with which identity the run acts is the server's configuration (serve --executor …), never part of a request.",
  properties: {
    ticket: {
      type: 'string',
      minLength: 1,
      maxLength: MAX_TICKET_LENGTH,
      description: 'The execution ticket (decision.ticket.token of an ALLOW decision)',
    },
    params: {
      type: 'object',
      additionalProperties: true,
      description: 'Exactly the params the ticket was issued for (it carries their digest)',
    },
    caller: {
      type: 'string',
      description: 'Plain agent id, only when plain callers are allowed; else the bearer token is the caller',
    },
    timeoutMs: {
      type: 'integer',
      description: "A shorter limit for this run (ms); the server's limit is the most",
    },
    force: {
      type: 'boolean',
      description: 'Override failed prechecks marked force_allowed (audited); only when the server allows it',
    },
  },
};

const step: JsonSchema = {
  type: 'object',
  required: ['name', 'status', 'durationMs'],
  properties: {
    name: { type: 'string' },
    status: { type: 'string', enum: ['ok', 'failed', 'warned', 'forced', 'skipped'] },
    durationMs: { type: 'number' },
    detail: { type: 'string' },
  },
};

/** An ExecutionResult as the SDK returns it, sensitive values masked. */
export const EXECUTION_RESULT: JsonSchema = {
  type: 'object',
  required: ['status', 'action', 'target', 'executor', 'steps', 'durationMs', 'auditIds', 'forced'],
  additionalProperties: true,
  properties: {
    status: {
      type: 'string',
      enum: ['succeeded', 'failed', 'refused', 'cancelled', 'timed_out'],
      description: 'refused: stopped before acting (ticket, credentials, precheck); nothing changed',
    },
    action: { type: 'string' },
    target: { type: 'string' },
    executor: { type: 'string' },
    steps: { type: 'array', items: step },
    durationMs: { type: 'number' },
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: { code: { type: 'string' }, message: { type: 'string' } },
      description: 'Why it did not cleanly succeed (TICKET_REPLAYED, PRECHECK_FAILED …)',
    },
    output: { description: "The executor's output (for dry-run: the calls it would make)" },
    beforeState: { type: 'object', additionalProperties: true },
    afterState: { type: 'object', additionalProperties: true },
    diff: { type: 'object', additionalProperties: true },
    auditIds: { type: 'object', additionalProperties: true },
    forced: { type: 'boolean' },
  },
};

/**
 * The unverified `sub` claim of a ticket (its caller), read only to refuse a ticket presented by
 * another caller before the runner consumes it. Accepting never rests on it: the runner then verifies
 * the signature over the whole payload, `sub` included.
 */
function ticketSubject(token: string): string | undefined {
  const start = token.indexOf('.') + 1;
  const end = token.indexOf('.', start);
  if (start === 0 || end === -1) return undefined;
  try {
    const claims: unknown = JSON.parse(Buffer.from(token.slice(start, end), 'base64url').toString('utf8'));
    const sub = (claims as { sub?: unknown } | null)?.sub;
    return typeof sub === 'string' ? sub : undefined;
  } catch {
    return undefined;
  }
}

/** Refuses a configuration that cannot run (at server creation, not at the first request). */
export function checkExecuteOptions(options: ExecuteServerOptions): void {
  const fail = (message: string): never => {
    throw new AgentSafeError('USAGE', `execute options: ${message}`);
  };
  if (options === null || typeof options !== 'object') fail('expected { executor, … }');
  const executor = options.executor as unknown;
  const object = typeof executor === 'object' && executor !== null;
  if (object) {
    const candidate = executor as Partial<Executor>;
    for (const method of ['plan', 'execute', 'readState', 'precheck'] as const) {
      if (typeof candidate[method] !== 'function') fail(`an executor object needs a ${method}() method`);
    }
  } else if (!(EXECUTOR_NAMES as readonly string[]).includes(executor as string)) {
    fail(`executor must be one of ${EXECUTOR_NAMES.join(', ')}, or an Executor object`);
  }
  const aws = options.executor === 'aws';
  const cluster = options.executor !== 'aws' && options.executor !== 'dry-run' && !object;
  if (!aws && (options.region !== undefined || options.endpoint !== undefined)) {
    fail('region and endpoint apply to executor aws');
  }
  if (!cluster && (options.kubeconfig !== undefined || options.context !== undefined)) {
    fail(
      `kubeconfig and context apply to executors kubectl and kubernetes; ${object ? 'an executor object is built with its own' : `${options.executor} talks to no cluster`}`,
    );
  }
  if (options.inCluster !== undefined && options.executor !== 'kubernetes' && options.executor !== 'k8s') {
    fail('inCluster applies to executor kubernetes');
  }
  const store = options.nonceStore as { consume?: unknown } | undefined;
  if (store !== undefined && (store === null || typeof store.consume !== 'function')) {
    fail('nonceStore must be a nonce store (an object with consume())');
  }
  const timeout = options.timeoutMs;
  if (
    timeout !== undefined &&
    (!Number.isInteger(timeout) || timeout < 1000 || timeout > MAX_EXECUTE_TIMEOUT_MS)
  ) {
    fail(`timeoutMs must be an integer from 1000 to ${MAX_EXECUTE_TIMEOUT_MS}`);
  }
}

/**
 * POST /v1/execute (docs/server.md, "API: execute"): runs an execution ticket through the runner with
 * the executor the server was started with. The caller (bearer token) must be the one the ticket was
 * issued to; the ticket is single use (the nonce store outlives reloads, or is the shared `store`).
 */
export function executeRoutes(host: ExecuteRouteHost): ExecuteRoute[] {
  const configured = host.options;
  if (configured !== undefined) checkExecuteOptions(configured);
  const limit = configured?.timeoutMs ?? DEFAULT_EXECUTE_TIMEOUT_MS;

  /** The agent id of the request's caller: the verified bearer token, or a plain id when allowed. */
  const callerOf = async (
    safe: AgentSafe,
    request: IncomingMessage,
    bodyCaller: unknown,
  ): Promise<string> => {
    const token = host.bearerToken(request);
    if (token !== undefined) {
      if (bodyCaller !== undefined) {
        throw new HttpError(
          400,
          'INPUT_INVALID',
          'caller in the body and a bearer token were both sent; the token is the caller: leave "caller" out of the body',
          'caller',
        );
      }
      const verified = await safe.identity.verify(token);
      if (!verified.ok) {
        throw new HttpError(
          401,
          'IDENTITY_INVALID',
          `the bearer token was refused (${verified.code}): ${verified.reason}`,
          undefined,
          { 'www-authenticate': 'Bearer' },
        );
      }
      return verified.caller.agentId;
    }
    if (host.allowPlainCallers() && typeof bodyCaller === 'string' && bodyCaller !== '') return bodyCaller;
    throw new HttpError(
      401,
      'IDENTITY_INVALID',
      host.allowPlainCallers()
        ? 'no caller: send "Authorization: Bearer <identity token>" or an agent id as "caller" in the body'
        : 'an identity token is required: send "Authorization: Bearer <identity token>" of the agent the ticket was issued to',
      undefined,
      { 'www-authenticate': 'Bearer' },
    );
  };

  return [
    {
      method: 'POST',
      path: '/v1/execute',
      operationId: 'execute',
      summary:
        "Execute an ALLOW decision's ticket through the runner configured on the server (serve --executor)",
      request: EXECUTE_REQUEST,
      response: EXECUTION_RESULT,
      errors: [400, 401, 403, 409, 413, 415],
      authenticated: true,
      async handle({ request, body, signal }) {
        if (configured === undefined) {
          throw new HttpError(
            409,
            'USAGE',
            'no runner configured; start serve with --executor dry-run|kubectl|kubernetes|aws (createServer: execute: { executor })',
          );
        }
        if (!host.identityConfigured()) {
          throw new HttpError(
            409,
            'USAGE',
            'tickets are not configured on this server: set signing_key in agent-safe.yaml to issue and execute them',
          );
        }
        const safe = host.safe();
        const input = body as {
          ticket: string;
          params: Record<string, unknown>;
          caller?: string;
          timeoutMs?: number;
          force?: boolean;
        };
        const caller = await callerOf(safe, request, input.caller);
        if (input.force === true && configured.allowForce !== true) {
          throw new HttpError(
            403,
            'USAGE',
            'this server does not let requests force prechecks; its operator enables it (execute.allowForce)',
            'force',
          );
        }
        if (input.timeoutMs !== undefined && (input.timeoutMs < 1 || input.timeoutMs > limit)) {
          throw new HttpError(
            400,
            'INPUT_INVALID',
            `timeoutMs must be from 1 to ${limit} (this server's limit for a run)`,
            'timeoutMs',
          );
        }
        const subject = ticketSubject(input.ticket);
        const nonceStore = host.nonceStore();
        if (subject !== undefined && subject !== caller) {
          // Recorded in the audit log as a failed validation (CALLER_MISMATCH) on a throw-away nonce
          // store: the ticket is not used up by someone who stole it.
          const claims = unverifiedTicketClaims(input.ticket);
          const probe = await safe.createTicketValidator({ nonceStore: new InMemoryNonceStore() });
          await probe.validate(input.ticket, {
            action: claims.action ?? '',
            target: claims.target ?? '',
            params: input.params,
            caller,
          });
          throw new HttpError(
            403,
            'TICKET_INVALID',
            `the ticket was issued to another caller than ${caller.slice(0, 200)}; only the agent it was issued to may execute it`,
            'ticket',
          );
        }
        const result: ExecutionResult = await safe.execute(input.ticket, {
          executor: configured.executor,
          params: input.params,
          signal,
          timeoutMs: input.timeoutMs ?? limit,
          ...(configured.kubeconfig !== undefined ? { kubeconfig: configured.kubeconfig } : {}),
          ...(configured.context !== undefined ? { context: configured.context } : {}),
          ...(configured.inCluster !== undefined ? { inCluster: configured.inCluster } : {}),
          ...(configured.region !== undefined ? { region: configured.region } : {}),
          ...(configured.endpoint !== undefined ? { endpoint: configured.endpoint } : {}),
          ...(configured.credentials !== undefined ? { credentials: configured.credentials } : {}),
          ...(input.force === true ? { force: true } : {}),
          ...(nonceStore !== undefined ? { nonceStore } : {}),
        });
        // Secrets never leave the server: sensitive params and state fields are masked, as the CLI does.
        return {
          status: 200,
          json: maskExecutionResult(safe.registry.get(result.action), input.params, result),
        };
      },
    },
  ];
}
