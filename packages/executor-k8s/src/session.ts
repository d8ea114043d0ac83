import { AgentSafeError, abortableSleep, escapeForTerminal } from '@agent-safe/core';
import type { ConfigurationOptions } from '@kubernetes/client-node';
import type { KubernetesApis } from './apis.js';
import type { KubernetesClientModule } from './client.js';

/** Longest piece of server text quoted in an error or output. */
export const SERVER_TEXT_MAX = 300;

/** Page size of the list calls the executor makes; lists are followed for at most {@link MAX_PAGES}. */
export const LIST_PAGE = 500;
export const MAX_PAGES = 20;

/** A failed API call, already described as `HTTP <code>: <server message>` or a network failure. */
export class KubernetesCallError extends Error {
  readonly status: number | undefined;
  constructor(message: string, status?: number) {
    super(message);
    this.name = 'KubernetesCallError';
    this.status = status;
  }
}

/** Untrusted text (server messages, names read back) made printable and cut. */
export function quote(text: unknown, max = SERVER_TEXT_MAX): string {
  const flat = escapeForTerminal(typeof text === 'string' ? text : String(text));
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

/** The HTTP status of a client-node ApiException, if it is one. */
export function statusOf(error: unknown): number | undefined {
  if (error instanceof KubernetesCallError) return error.status;
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/**
 * The API server's own message in a client-node ApiException's body (a Status object's `message`, or
 * a plain-text body), trimmed, not yet escaped; empty when there is none.
 */
export function serverMessage(error: unknown): string {
  let body = (error as { body?: unknown } | null)?.body;
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body);
    } catch {
      // a plain-text body is the message itself
    }
  }
  const message =
    body !== null && typeof body === 'object' && typeof (body as { message?: unknown }).message === 'string'
      ? (body as { message: string }).message
      : typeof body === 'string'
        ? body
        : '';
  return message.trim();
}

/**
 * One line about a failed call: `HTTP <code>: <server message>` for an API answer (never the
 * exception's own text, which carries response headers), the network reason otherwise.
 */
export function describeCallError(error: unknown, server: string): string {
  if (error instanceof KubernetesCallError || error instanceof AgentSafeError) return error.message;
  const status = statusOf(error);
  if (status !== undefined) {
    const message = serverMessage(error);
    return message === '' ? `HTTP ${status}` : `HTTP ${status}: ${quote(message)}`;
  }
  const code = (error as { code?: unknown } | null)?.code;
  const text = error instanceof Error ? error.message : String(error);
  const firstLine = text.split('\n')[0] ?? '';
  if ((error as { name?: unknown } | null)?.name === 'FetchError' || typeof code === 'string') {
    const reason = typeof code === 'string' ? code : firstLine;
    return `cannot reach the Kubernetes API server at ${quote(server, 200)}: ${quote(reason)}`;
  }
  return `the Kubernetes API call failed: ${quote(firstLine)}`;
}

/**
 * `pending`, or a rejection with the signal's reason as soon as the signal aborts (a call that ignores
 * its signal cannot hold the run). The listener is removed once either settles.
 */
export async function untilAborted<T>(signal: AbortSignal, pending: Promise<T>): Promise<T> {
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  aborted.catch(() => undefined);
  try {
    return await Promise.race([pending, aborted]);
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}

/** Everything one run's API calls need: the clients (runner config or the credential's token) and the signal. */
export class Session {
  readonly k8s: KubernetesClientModule;
  readonly apis: KubernetesApis;
  readonly signal: AbortSignal;
  readonly requestTimeoutMs: number;
  readonly pollIntervalMs: number;
  readonly server: string;

  constructor(options: {
    k8s: KubernetesClientModule;
    apis: KubernetesApis;
    signal: AbortSignal;
    requestTimeoutMs: number;
    pollIntervalMs: number;
  }) {
    this.k8s = options.k8s;
    this.apis = options.apis;
    this.signal = options.signal;
    this.requestTimeoutMs = options.requestTimeoutMs;
    this.pollIntervalMs = options.pollIntervalMs;
    this.server = options.apis.config.getCurrentCluster()?.server ?? '(no server)';
  }

  /**
   * Request options binding one call to the run's signal and a per-request timeout (client-node 1.4
   * lets an Observable middleware set the fetch signal), with an optional Content-Type (patches).
   */
  options(signal: AbortSignal, contentType?: string): ConfigurationOptions {
    const { Observable } = this.k8s;
    const middleware = {
      pre: (context: {
        setSignal(signal: AbortSignal): void;
        setHeaderParam(k: string, v: string): void;
      }) => {
        context.setSignal(signal);
        if (contentType !== undefined) context.setHeaderParam('Content-Type', contentType);
        return new Observable(Promise.resolve(context));
      },
      post: (response: { httpStatusCode?: number; headers?: Record<string, string> }) => {
        // A 204 (e.g. the log of a pod that never ran) has no Content-Type, which client-node cannot parse.
        if (response.headers && response.httpStatusCode === 204 && !response.headers['content-type']) {
          response.headers['content-type'] = 'text/plain';
        }
        return new Observable(Promise.resolve(response));
      },
    };
    return { middleware: [middleware], middlewareMergeStrategy: 'append' } as unknown as ConfigurationOptions;
  }

  /**
   * Makes one API call: aborted with the run, timed out after `requestTimeoutMs`, its failure turned
   * into a {@link KubernetesCallError} (`HTTP <code>: <message>`); an abort rethrows the run's reason.
   */
  async call<T>(request: (options: ConfigurationOptions) => Promise<T>, contentType?: string): Promise<T> {
    this.signal.throwIfAborted();
    const timeout = AbortSignal.timeout(this.requestTimeoutMs);
    const signal = AbortSignal.any([this.signal, timeout]);
    try {
      return await untilAborted(signal, request(this.options(signal, contentType)));
    } catch (error) {
      if (this.signal.aborted) throw this.signal.reason;
      if (timeout.aborted) {
        throw new KubernetesCallError(
          `the Kubernetes API server at ${quote(this.server, 200)} did not answer within ${this.requestTimeoutMs} ms`,
        );
      }
      throw new KubernetesCallError(describeCallError(error, this.server), statusOf(error));
    }
  }

  /** Waits `ms`, or rejects with the run's reason as soon as it is aborted. */
  async sleep(ms: number): Promise<void> {
    await abortableSleep(ms, this.signal);
  }

  /** Every item of a paged list call (pages of {@link LIST_PAGE}); more than {@link MAX_PAGES} pages is an error. */
  async listAll<T>(
    what: string,
    page: (
      cursor: { limit: number; _continue?: string },
      options: ConfigurationOptions,
    ) => Promise<{ items: T[]; metadata?: { _continue?: string } }>,
  ): Promise<T[]> {
    const all: T[] = [];
    let cursor: string | undefined;
    for (let index = 0; index < MAX_PAGES; index += 1) {
      const list = await this.call((options) =>
        page({ limit: LIST_PAGE, ...(cursor !== undefined ? { _continue: cursor } : {}) }, options),
      );
      all.push(...(list.items ?? []));
      cursor = list.metadata?._continue;
      if (!cursor) return all;
    }
    throw new KubernetesCallError(`${what}: more than ${LIST_PAGE * MAX_PAGES} objects, too many to read`);
  }
}

const RENAMED: Readonly<Record<string, string>> = {
  _from: 'from',
  _continue: 'continue',
  _default: 'default',
  _enum: 'enum',
  _int: 'int',
};

/**
 * A client-node model object as the API's plain JSON: client-node renames a few keys (`from` →
 * `_from` …) and turns timestamps into Dates; a patch body must use the wire names.
 */
export function plainJson(value: unknown): unknown {
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(plainJson);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    if (item === undefined) continue;
    out[RENAMED[key] ?? key] = plainJson(item);
  }
  return out;
}
