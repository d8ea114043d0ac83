import { abortableSleep } from '@agent-safe/core';
import { type AwsClient, type AwsService, type ClientCache, command, loadAwsModule } from './clients.js';
import type { AwsCredentialKeys } from './credentials.js';
import { AwsCallError, type CallSite, describeAwsError, quote } from './errors.js';

/** The calls of one port call (execute, readState or precheck): one region, one identity, one signal. */
export class AwsSession {
  readonly region: string;
  readonly signal: AbortSignal;
  readonly pollIntervalMs: number;
  readonly requestTimeoutMs: number;
  readonly #cache: ClientCache;
  readonly #keys: AwsCredentialKeys | undefined;
  readonly #endpoint: string | undefined;

  constructor(options: {
    cache: ClientCache;
    region: string;
    keys: AwsCredentialKeys | undefined;
    endpoint: string | undefined;
    signal: AbortSignal;
    pollIntervalMs: number;
    requestTimeoutMs: number;
  }) {
    this.#cache = options.cache;
    this.region = options.region;
    this.#keys = options.keys;
    this.#endpoint = options.endpoint;
    this.signal = options.signal;
    this.pollIntervalMs = options.pollIntervalMs;
    this.requestTimeoutMs = options.requestTimeoutMs;
  }

  site(service: string): CallSite {
    return { service, region: this.region, endpoint: this.#endpoint };
  }

  /** One SDK call; rejects with the SDK's error (see {@link describeAwsError}) or the signal's abort. */
  async send<T>(service: AwsService, operation: string, input: unknown): Promise<T> {
    this.signal.throwIfAborted();
    const [client, module] = await Promise.all([
      this.#cache.get(service, this.region, this.#keys) as Promise<AwsClient>,
      loadAwsModule(service),
    ]);
    // The run's signal, and a limit on this call (its retries included) so a silent endpoint cannot
    // hold the run until the run's own timeout.
    const limit = AbortSignal.timeout(this.requestTimeoutMs);
    try {
      return (await client.send(command(module, service, operation, input), {
        abortSignal: AbortSignal.any([this.signal, limit]),
      })) as T;
    } catch (error) {
      if (limit.aborted && !this.signal.aborted) {
        const where = this.#endpoint ?? `its ${this.region} endpoint`;
        throw new AwsCallError(
          `AWS ${service} at ${quote(where, 200)} did not answer ${operation} within ${this.requestTimeoutMs} ms`,
        );
      }
      throw error;
    }
  }

  /** {@link send}, with a failure turned into one line (for prechecks). */
  describe(error: unknown, service: string): string {
    return describeAwsError(error, this.site(service));
  }

  /** Waits `ms`, or rejects as soon as the signal aborts. */
  async sleep(ms: number): Promise<void> {
    await abortableSleep(ms, this.signal);
  }
}

/** The AWS error code of a rejected call, for branches on NotFound and the like. */
export function codeOf(error: unknown): string | undefined {
  const name = (error as { name?: unknown; $metadata?: unknown } | null)?.name;
  return (error as { $metadata?: unknown } | null)?.$metadata !== undefined && typeof name === 'string'
    ? name
    : undefined;
}
