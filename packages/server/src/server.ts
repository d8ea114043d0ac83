import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import {
  type IncomingMessage,
  type Server,
  type ServerResponse,
  createServer as createHttpServer,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, resolve } from 'node:path';
import { type AgentSafeOptions, type CheckRequest, type Decision, InMemoryNonceStore } from '@agent-safe/sdk';
import { AgentSafe } from '@agent-safe/sdk/facade';
import { agentRoutes } from './agent-routes.js';
import { approvalRoutes } from './approval-routes.js';
import { type ExecuteServerOptions, executeRoutes } from './execute-routes.js';
import { auditTailRoutes } from './audit-tail-routes.js';
import { type SlackOptions, checkSlackOptions, slackRoutes } from './slack-routes.js';
import { type TlsOptions, tlsServerFactory } from './tls.js';
import { EXPLAIN_PARAMETER, wantsExplanation, withoutExplanation } from './explain.js';
import { HttpError, statusOfCode } from './http-error.js';
import { type JsonSchema, validateSchema } from './json-schema.js';
import { ServerMetrics } from './metrics.js';
import { renderOperationalMetrics } from './operational-metrics.js';
import { ShadowMetrics } from './shadow-metrics.js';
import { type RouteDescription, openApiDocument } from './openapi.js';
import {
  RELOAD_RESPONSE,
  type ReloadStatus,
  type SafeFactory,
  SafeSwitch,
  renderReloadMetrics,
  requireAdmin,
} from './reload.js';
import {
  CHECK_PLAN_REQUEST,
  CHECK_PLAN_RESPONSE,
  CHECK_REQUEST,
  DECISION,
  HEALTH_RESPONSE,
  TICKET_VALIDATE_REQUEST,
  TICKET_VALIDATION_RESULT,
} from './schemas.js';

/** The largest request body accepted by default: 1 MiB. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

/** Options of {@link createServer}. */
export interface ServerOptions {
  /** The facade to serve; or `config`, from which one is built. The server closes it on close(). */
  readonly safe?: AgentSafe;
  /** Options for a new AgentSafe (paths, `config` file, `cwd` …) when `safe` is not given. */
  readonly config?: AgentSafeOptions;
  /**
   * Accept a plain agent id as `caller` in the body although identity is configured. Default: the
   * project's `allow_plain_callers` (security.allowPlainCallers).
   */
  readonly allowPlainCallers?: boolean;
  /** The audit log whose directory /readyz checks for writability. Default: the configured log. */
  readonly auditLogPath?: string | false;
  /** Largest request body in bytes (413 beyond). Default 1 MiB. */
  readonly maxBodyBytes?: number;
  /** Time to receive a request's headers (ms). Default 10 000. */
  readonly headersTimeoutMs?: number;
  /** Time to receive a whole request (ms). Default 30 000. */
  readonly requestTimeoutMs?: number;
  /** Idle keep-alive time (ms). Default 5 000. */
  readonly keepAliveTimeoutMs?: number;
  /** Requests served on one connection before it is closed. Default 10 000. */
  readonly maxRequestsPerSocket?: number;
  /** How long close() waits for requests in flight before cutting connections (ms). Default 10 000. */
  readonly shutdownTimeoutMs?: number;
  /** Called once per answered request (the CLI's `--log-requests`). */
  readonly onRequest?: (entry: RequestLogEntry) => void;
  /** The version /openapi.json states. */
  readonly version?: string;
  /**
   * Builds the facade a reload swaps in (docs/server.md, "Operations: reload"). Default with `config`:
   * `new AgentSafe(config)`; without either the server cannot reload.
   */
  readonly reload?: SafeFactory;
  /**
   * Roles whose verified tokens may read every approval request (GET /v1/approvals), besides the
   * approver roles, and call the admin endpoints (POST /v1/admin/reload). Default none.
   */
  readonly adminRoles?: readonly string[];
  /** Slack's interactions endpoint, POST /v1/slack/interactions (docs/server.md, "Slack approvals"). */
  readonly slack?: SlackOptions;
  /** Serve HTTPS; with `ca`, clients must present a certificate signed by it (docs/server.md, "TLS"). */
  readonly tls?: TlsOptions;
  /**
   * The runner of POST /v1/execute (docs/server.md, "API: execute"): the executor and where it acts.
   * Without it the route answers 409. A request never chooses the executor, cluster or credentials.
   */
  readonly execute?: ExecuteServerOptions;
}

/** One answered request, as `onRequest` receives it. */
export interface RequestLogEntry {
  readonly time: string;
  readonly method: string;
  readonly path: string;
  readonly route: string;
  readonly status: number;
  readonly durationMs: number;
}

/** Options of {@link startServer}: {@link ServerOptions} and where to listen. */
export interface StartServerOptions extends ServerOptions {
  /** Default 127.0.0.1: listening on every interface (0.0.0.0) must be asked for. */
  readonly host?: string;
  /** Default 8080; 0 picks a free port (see `url`). */
  readonly port?: number;
}

/** A running decision server. */
export interface AgentSafeServer {
  /** The Node HTTP server (not yet listening when made by createServer). */
  readonly http: Server;
  /** The facade that decides new requests (a reload replaces it). */
  readonly safe: AgentSafe;
  /**
   * Builds a new facade from the configuration, validates it and swaps it in; requests in flight finish
   * on the old one. Never rejects: a configuration that fails to load is reported and the old one serves.
   */
  reload(trigger?: string): Promise<ReloadStatus>;
  /** The last reload's outcome (also in /readyz); undefined before the first. */
  readonly lastReload: ReloadStatus | undefined;
  /** The routes, as /openapi.json documents them. */
  readonly routes: readonly RouteDescription[];
  /** `http://host:port` once listening. */
  readonly url: string;
  /**
   * Stops accepting connections, lets requests in flight finish (cut after `shutdownTimeoutMs`), then
   * closes the facade, which flushes the audit log. Safe to call twice.
   */
  close(): Promise<void>;
}

interface Route extends RouteDescription {
  handle(context: RequestContext): Promise<Answer> | Answer;
}

interface RequestContext {
  readonly request: IncomingMessage;
  readonly body: unknown;
  /** Path parameters of a templated route (`{id}`). */
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  /** Aborted when the server closes (long polls answer at once). */
  readonly signal: AbortSignal;
}

interface Answer {
  readonly status: number;
  readonly json?: unknown;
  readonly text?: string;
  readonly contentType?: string;
  /** A streamed answer (SSE): writes the head and body itself; resolves once the response ended. */
  readonly stream?: (response: ServerResponse) => Promise<void>;
}

/**
 * The decision API over `node:http` (docs/server.md): POST /v1/check, /v1/check-plan,
 * /v1/tickets/validate, GET /healthz, /readyz, /metrics, /openapi.json. Not listening yet: call
 * `http.listen`, or use {@link startServer}.
 */
export function createServer(options: ServerOptions = {}): AgentSafeServer {
  // Settings that cannot work are refused before a facade (and its audit log) is opened.
  if (options.slack) checkSlackOptions(options.slack);
  const createListener = options.tls ? tlsServerFactory(options.tls) : createHttpServer;
  let safe = options.safe ?? new AgentSafe(options.config ?? {});
  const metrics = new ServerMetrics();
  const shadowMetrics = new ShadowMetrics();
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const settingsOf = (facade: AgentSafe) => ({
    identityConfigured: hasIdentity(facade),
    allowPlainCallers:
      options.allowPlainCallers ??
      options.config?.security?.allowPlainCallers ??
      facade.projectConfig.security?.allowPlainCallers === true,
    auditLogPath: resolveAuditPath(options, facade),
  });
  let { identityConfigured, allowPlainCallers, auditLogPath } = settingsOf(safe);
  let validator: ReturnType<AgentSafe['createTicketValidator']> | undefined;
  // With the default memory store a facade's validator forgets nonces when a reload replaces it; this
  // one outlives every facade, so a ticket validated before a reload stays spent after it.
  const processNonces = options.execute?.nonceStore ?? new InMemoryNonceStore();
  const factory: SafeFactory | undefined =
    options.reload ?? (options.safe === undefined ? () => new AgentSafe(options.config ?? {}) : undefined);
  // A request leases the facade before it reads `safe` and releases it once answered (reload.ts).
  const reloads = new SafeSwitch(safe, factory, (fresh) => {
    shadowMetrics.retire(safe);
    // With store: memory the suspension list lives in the facade: the new one keeps it (kill switch).
    fresh.agents.adopt(safe.agents);
    safe = fresh;
    ({ identityConfigured, allowPlainCallers, auditLogPath } = settingsOf(fresh));
    validator = undefined;
  });
  const shutdown = new AbortController();

  /** The caller of a request: the bearer token, else the body's agent id when that is allowed. */
  const callerOf = (request: IncomingMessage, bodyCaller: unknown, path: string): string | undefined => {
    const token = bearerToken(request);
    if (token !== undefined) {
      if (!identityConfigured) {
        throw new HttpError(
          400,
          'USAGE',
          'a bearer token was sent but identity is not configured on this server, so it cannot be verified; configure signing_key (or verification_keys) or send a plain agent id as "caller" in the body',
        );
      }
      if (bodyCaller !== undefined && bodyCaller !== token) {
        throw new HttpError(
          400,
          'INPUT_INVALID',
          `${path} differs from the bearer token; the token is the caller: leave "caller" out of the body`,
          path,
        );
      }
      return token;
    }
    if (identityConfigured && !(allowPlainCallers && typeof bodyCaller === 'string')) {
      throw new HttpError(
        401,
        'IDENTITY_INVALID',
        allowPlainCallers
          ? 'no caller: send "Authorization: Bearer <identity token>" or an agent id as "caller" in the body'
          : 'an identity token is required: send "Authorization: Bearer <identity token>" (plain callers are not allowed on this server)',
        undefined,
        { 'www-authenticate': 'Bearer' },
      );
    }
    return bodyCaller as string | undefined;
  };

  const routes: Route[] = [
    {
      method: 'POST',
      path: '/v1/check',
      operationId: 'check',
      summary: 'Decide one request (and record it in the audit log)',
      parameters: [EXPLAIN_PARAMETER],
      request: CHECK_REQUEST,
      response: DECISION,
      errors: [400, 401, 413, 415],
      authenticated: true,
      async handle({ request, body, query }) {
        const explain = wantsExplanation(query);
        const input = body as CheckRequest;
        const caller = callerOf(request, input.caller, 'caller');
        const started = process.hrtime.bigint();
        const decision = await safe.check(withCaller(input, caller));
        metrics.recordDecision(decision.result, Number(process.hrtime.bigint() - started) / 1e9);
        return { status: 200, json: explain ? decision : withoutExplanation(decision) };
      },
    },
    {
      method: 'POST',
      path: '/v1/check-plan',
      operationId: 'checkPlan',
      summary: 'Decide every step of a plan; one decision per step, in order',
      parameters: [EXPLAIN_PARAMETER],
      request: CHECK_PLAN_REQUEST,
      response: CHECK_PLAN_RESPONSE,
      errors: [400, 401, 413, 415],
      authenticated: true,
      async handle({ request, body, query }) {
        const explain = wantsExplanation(query);
        const steps = (body as { steps: CheckRequest[] }).steps.map((step, index) =>
          withCaller(step, callerOf(request, step.caller, `steps[${index}].caller`)),
        );
        const decisions: Decision[] = await safe.checkPlan(steps);
        for (const decision of decisions) metrics.recordResult(decision.result);
        return { status: 200, json: { decisions: explain ? decisions : decisions.map(withoutExplanation) } };
      },
    },
    {
      method: 'POST',
      path: '/v1/tickets/validate',
      operationId: 'validateTicket',
      summary: 'Validate an execution ticket; consumes its nonce (single use), as an executor does',
      request: TICKET_VALIDATE_REQUEST,
      response: TICKET_VALIDATION_RESULT,
      errors: [400, 413, 415],
      async handle({ body }) {
        if (!identityConfigured) {
          throw new HttpError(
            400,
            'USAGE',
            'tickets are not configured on this server: set signing_key in agent-safe.yaml to issue and validate them',
          );
        }
        validator ??= safe.createTicketValidator(safe.sharesNonces ? {} : { nonceStore: processNonces });
        const current = validator;
        // A failed creation (a shared nonce store unreachable) is retried by the next request.
        current.catch(() => {
          if (validator === current) validator = undefined;
        });
        const { token, action, target, params, caller } = body as {
          token: string;
          action: string;
          target: string;
          params: Record<string, unknown>;
          caller?: string;
        };
        const result = await (await current).validate(token, {
          action,
          target,
          params,
          ...(caller !== undefined ? { caller } : {}),
        });
        return { status: 200, json: result };
      },
    },
    {
      method: 'GET',
      path: '/healthz',
      operationId: 'health',
      summary: 'The process is up',
      response: HEALTH_RESPONSE,
      handle: () => ({ status: 200, json: { status: 'ok' } }),
    },
    {
      method: 'GET',
      path: '/readyz',
      operationId: 'ready',
      summary: 'Configuration loaded, keys usable and the audit log writable',
      response: HEALTH_RESPONSE,
      errors: [503],
      async handle() {
        const checks: Record<string, string> = { config: 'ok' };
        try {
          await safe.ready();
          checks.keys = identityConfigured ? 'ok' : 'not configured';
        } catch (error) {
          checks.keys = `unusable: ${messageOf(error)}`;
        }
        const logPath = auditLogPath;
        if (logPath === false) checks.auditLog = 'off';
        else {
          try {
            await access(logPath, constants.W_OK).catch(async (error: NodeJS.ErrnoException) => {
              if (error.code !== 'ENOENT') throw error;
              await access(dirname(logPath), constants.W_OK);
            });
            checks.auditLog = 'ok';
          } catch (error) {
            checks.auditLog = `not writable: ${(error as NodeJS.ErrnoException).code ?? messageOf(error)}`;
          }
        }
        const ready = Object.values(checks).every(
          (value) => value === 'ok' || value === 'off' || value === 'not configured',
        );
        const lastReload = reloads.lastReload;
        return {
          status: ready ? 200 : 503,
          json: {
            status: ready ? 'ok' : 'unavailable',
            checks,
            policyRevision: safe.pdp.revision,
            ...(lastReload ? { lastReload } : {}),
          },
        };
      },
    },
    {
      method: 'POST',
      path: '/v1/admin/reload',
      operationId: 'reload',
      summary: 'Reload the configuration (admin role); the old one keeps serving if the new one fails',
      response: RELOAD_RESPONSE,
      errors: [401, 403, 409],
      authenticated: true,
      async handle({ request }) {
        await requireAdmin(safe, bearerToken(request), options.adminRoles ?? []);
        if (!reloads.reloadable) {
          throw new HttpError(
            409,
            'USAGE',
            'this server was given a facade, not a configuration, so it cannot reload',
          );
        }
        return { status: 200, json: await reloads.reload('admin') };
      },
    },
    {
      method: 'GET',
      path: '/metrics',
      operationId: 'metrics',
      summary: 'Prometheus metrics (text format 0.0.4)',
      response: { text: 'text/plain' },
      handle: async () => ({
        status: 200,
        text:
          metrics.render() +
          renderReloadMetrics(reloads) +
          shadowMetrics.render(safe) +
          renderOperationalMetrics(await safe.operationalStatistics()),
        contentType: 'text/plain; version=0.0.4; charset=utf-8',
      }),
    },
    {
      method: 'GET',
      path: '/openapi.json',
      operationId: 'openapi',
      summary: 'This OpenAPI 3.1 document',
      response: { type: 'object', additionalProperties: true },
      handle: () => ({ status: 200, json: document }),
    },
    ...agentRoutes({ safe: () => safe, adminRoles: options.adminRoles ?? [], bearerToken }),
    ...approvalRoutes({
      safe: () => safe,
      identityConfigured: () => identityConfigured,
      approverRoles: () =>
        options.config?.approvals?.approverRoles ?? safe.projectConfig.approvals?.approverRoles ?? [],
      adminRoles: options.adminRoles ?? [],
      bearerToken,
    }),
    ...executeRoutes({
      safe: () => safe,
      identityConfigured: () => identityConfigured,
      allowPlainCallers: () => allowPlainCallers,
      bearerToken,
      nonceStore: () => (safe.sharesNonces ? undefined : processNonces),
      options: options.execute,
    }),
    ...auditTailRoutes({
      safe: () => safe,
      auditLogPath: () => auditLogPath,
      adminRoles: options.adminRoles ?? [],
      bearerToken,
    }),
    ...slackRoutes({
      safe: () => safe,
      slack: options.slack,
      approverRoles: () =>
        options.config?.approvals?.approverRoles ?? safe.projectConfig.approvals?.approverRoles ?? [],
    }),
  ];
  const descriptions: RouteDescription[] = routes.map(({ handle: _handle, ...description }) => description);
  const document = openApiDocument(descriptions, options.version ?? '0.1.0');
  const byPath = new Map<string, Route[]>();
  for (const route of routes) byPath.set(route.path, [...(byPath.get(route.path) ?? []), route]);
  // Templated paths (`/v1/approvals/{id}`): one regular expression each, tried when no exact path matches.
  const templates = [...byPath.keys()]
    .filter((path) => path.includes('{'))
    .map((path) => ({
      path,
      names: [...path.matchAll(/\{(\w+)\}/g)].map((match) => match[1]!),
      pattern: new RegExp(`^${path.replace(/\{\w+\}/g, '([^/]+)')}$`),
    }));
  const match = (path: string): { path: string; params: Record<string, string> } | undefined => {
    if (byPath.has(path)) return { path, params: {} };
    for (const template of templates) {
      const found = template.pattern.exec(path);
      if (!found) continue;
      const params: Record<string, string> = {};
      template.names.forEach((name, index) => {
        params[name] = safeDecode(found[index + 1]!);
      });
      return { path: template.path, params };
    }
    return undefined;
  };

  let closing = false;
  const inFlight = new Set<Promise<void>>();

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const lease = reloads.acquire();
    try {
      await answerRequest(request, response);
    } finally {
      lease.release();
    }
  };

  const answerRequest = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const started = process.hrtime.bigint();
    const url = request.url ?? '/';
    const mark = url.indexOf('?');
    const path = mark < 0 ? url : url.slice(0, mark);
    const search = mark < 0 ? '' : url.slice(mark + 1);
    const matched = match(path);
    const candidates = matched && byPath.get(matched.path);
    const route = candidates?.find((candidate) => candidate.method === request.method);
    let answer: Answer;
    try {
      if (!candidates)
        throw new HttpError(404, 'USAGE', `no route ${printable(path)}; GET /openapi.json lists them`);
      if (!route) {
        const allowed = candidates.map((candidate) => candidate.method).join(', ');
        throw new HttpError(
          405,
          'USAGE',
          `${path} accepts ${allowed}, not ${printable(request.method ?? '')}`,
          undefined,
          {
            allow: allowed,
          },
        );
      }
      const body = route.request ? await readJsonBody(request, route.request, maxBodyBytes) : undefined;
      answer = await route.handle({
        request,
        body,
        params: matched?.params ?? {},
        // Parsed only by the routes that read it (the decision routes do not).
        get query() {
          return new URLSearchParams(search);
        },
        signal: shutdown.signal,
      });
    } catch (error) {
      answer = errorAnswer(error);
      if (error instanceof HttpError)
        for (const [name, value] of Object.entries(error.headers)) response.setHeader(name, value);
      // The body may not have been read (413, 415, 404): do not leave the connection half-read.
      if (!request.complete) response.setHeader('connection', 'close');
    }
    if (closing) response.setHeader('connection', 'close');
    if (answer.stream) await answer.stream(response);
    else {
      const payload = answer.text ?? JSON.stringify(answer.json);
      response.writeHead(answer.status, {
        'content-type': answer.contentType ?? 'application/json; charset=utf-8',
        'content-length': Buffer.byteLength(payload),
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
      });
      response.end(payload);
    }
    const routeLabel = route?.path ?? matched?.path ?? 'unmatched';
    metrics.recordRequest(routeLabel, answer.status);
    options.onRequest?.({
      time: new Date().toISOString(),
      method: request.method ?? '',
      path: printable(path),
      route: routeLabel,
      status: answer.status,
      durationMs: Number(process.hrtime.bigint() - started) / 1e6,
    });
  };

  const http = createListener(
    {
      headersTimeout: options.headersTimeoutMs ?? 10_000,
      requestTimeout: options.requestTimeoutMs ?? 30_000,
      keepAliveTimeout: options.keepAliveTimeoutMs ?? 5_000,
    },
    (request, response) => {
      const work = handle(request, response).catch(() => {
        // Writing the answer failed (the client went away): nothing left to tell anyone.
        if (!response.headersSent) response.destroy();
      });
      inFlight.add(work);
      void work.finally(() => inFlight.delete(work));
    },
  );
  http.maxRequestsPerSocket = options.maxRequestsPerSocket ?? 10_000;

  let closed: Promise<void> | undefined;
  const server: AgentSafeServer = {
    http,
    get safe() {
      return safe;
    },
    reload: (trigger = 'api') => reloads.reload(trigger),
    get lastReload() {
      return reloads.lastReload;
    },
    routes: descriptions,
    get url() {
      const address = http.address() as AddressInfo | null;
      if (!address || typeof address === 'string') return '';
      const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      return `${options.tls ? 'https' : 'http'}://${host}:${address.port}`;
    },
    close() {
      closed ??= (async () => {
        closing = true;
        shutdown.abort();
        const stopped = new Promise<void>((done) => http.close(() => done()));
        http.closeIdleConnections();
        const timer = setTimeout(() => http.closeAllConnections(), options.shutdownTimeoutMs ?? 10_000);
        timer.unref();
        while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
        http.closeIdleConnections();
        await stopped;
        clearTimeout(timer);
        await reloads.close();
      })();
      return closed;
    },
  };
  return server;
}

/** Creates the server and listens (default 127.0.0.1:8080); resolves once it accepts connections. */
export async function startServer(options: StartServerOptions = {}): Promise<AgentSafeServer> {
  const server = createServer(options);
  await new Promise<void>((done, fail) => {
    server.http.once('error', fail);
    server.http.listen(options.port ?? 8080, options.host ?? '127.0.0.1', () => {
      server.http.off('error', fail);
      done();
    });
  });
  return server;
}

/** Reads and parses a JSON body of at most `limit` bytes, then checks it against `schema`. */
async function readJsonBody(request: IncomingMessage, schema: JsonSchema, limit: number): Promise<unknown> {
  const type = (request.headers['content-type'] ?? '').split(';', 1)[0]!.trim().toLowerCase();
  if (type !== 'application/json') {
    throw new HttpError(
      415,
      'INPUT_INVALID',
      `the body must be JSON: send "Content-Type: application/json"${type ? ` (got ${printable(type)})` : ''}`,
    );
  }
  const declared = Number(request.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge(limit);
  const bytes = await readBody(request, limit);
  let body: unknown;
  try {
    body = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new HttpError(400, 'INPUT_INVALID', `the body is not valid JSON: ${messageOf(error)}`);
  }
  const problem = validateSchema(body, schema);
  if (problem) throw new HttpError(400, 'INPUT_INVALID', problem.message, problem.path || undefined);
  return body;
}

/**
 * The request's body, at most `limit` bytes (413 beyond). Listens for the
 * stream's events rather than iterating it: an async iterator costs a few microseconds per request.
 */
function readBody(request: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((done, fail) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = () => {
      request.off('data', onData);
      request.off('end', onEnd);
      request.off('error', onError);
      request.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        // Not destroyed: that would cut the socket before the 413 is sent. The rest of the body is
        // discarded and the answer closes the connection (request.complete is false).
        stop();
        fail(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      stop();
      done(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onError = (error: Error) => {
      stop();
      fail(error);
    };
    const onClose = () => {
      stop();
      fail(new Error('the client closed the request before its body ended'));
    };
    request.on('data', onData);
    request.on('end', onEnd);
    request.on('error', onError);
    request.on('close', onClose);
  });
}

function tooLarge(limit: number): HttpError {
  return new HttpError(
    413,
    'INPUT_INVALID',
    `the body is larger than ${limit} bytes; send a smaller request`,
  );
}

/** The error body for anything a handler threw: HttpErrors as they are, SDK errors by code, else INTERNAL. */
function errorAnswer(error: unknown): Answer {
  if (error instanceof HttpError) return { status: error.status, json: error.body() };
  const code = (error as { code?: unknown })?.code;
  if (typeof code === 'string' && /^[A-Z_]+$/.test(code) && error instanceof Error) {
    return { status: statusOfCode(code), json: { error: { code, message: error.message } } };
  }
  // Never a stack trace, and nothing of an unexpected error's text either: it may quote internals.
  return {
    status: 500,
    json: { error: { code: 'INTERNAL', message: 'internal failure; the request failed closed' } },
  };
}

/** The token of an `Authorization: Bearer …` header; a header in another scheme is refused. */
function bearerToken(request: IncomingMessage): string | undefined {
  const header = request.headers.authorization;
  if (header === undefined) return undefined;
  const match = /^Bearer +(\S+) *$/i.exec(header);
  if (!match) {
    throw new HttpError(
      401,
      'IDENTITY_INVALID',
      'the Authorization header must be "Bearer <identity token>"',
      undefined,
      {
        'www-authenticate': 'Bearer',
      },
    );
  }
  return match[1];
}

function withCaller(request: CheckRequest, caller: string | undefined): CheckRequest {
  if (caller === request.caller) return request;
  const { caller: _dropped, ...rest } = request;
  return caller === undefined ? rest : { ...rest, caller };
}

/** Whether the facade has identity keys (its `identity` getter throws USAGE when it has none). */
function hasIdentity(safe: AgentSafe): boolean {
  try {
    void safe.identity;
    return true;
  } catch {
    return false;
  }
}

function resolveAuditPath(options: ServerOptions, safe: AgentSafe): string | false {
  if (options.auditLogPath !== undefined) return options.auditLogPath;
  const cwd = options.config?.cwd ?? process.cwd();
  const configured = options.safe
    ? safe.projectConfig.auditLog
    : (options.config?.auditLog ?? safe.projectConfig.auditLog);
  if (configured === false) return false;
  if (configured !== undefined && typeof configured !== 'string') return false;
  return resolve(cwd, configured ?? './audit.jsonl');
}

/** A percent-decoded path segment; a malformed escape is kept as it was. */
function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** At most 200 printable characters of something a client sent, for messages and logs. */
function printable(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is replaced
  const clean = text.replace(/[\u0000-\u001f\u007f]/g, '?');
  return clean.length > 200 ? `${clean.slice(0, 200)}…` : clean;
}
