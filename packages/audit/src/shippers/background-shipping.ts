import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { AuditShipping, type ShipFailure, type ShippingOptions } from './audit-shipping.js';
import { type ShipperSpec, shipperFromSpec } from './shipper-spec.js';

/** What the worker thread receives (structured-clonable: shippers as specs, no callbacks). */
export interface WorkerShippingOptions extends Omit<ShippingOptions, 'shippers' | 'onError'> {
  readonly shippers: readonly ShipperSpec[];
}

/** Options of {@link BackgroundShipping}. */
export interface BackgroundShippingOptions extends WorkerShippingOptions {
  readonly onError?: (failure: ShipFailure) => void;
  /** Run in this thread instead of a worker (tests; hosts without worker threads). Default false. */
  readonly inProcess?: boolean;
}

const WORKER = new URL('./shipping-worker.js', import.meta.url);

/**
 * {@link AuditShipping} in a worker thread, for long-running hosts (the SDK): the thread that appends
 * audit events and answers checks does none of the shipping work (reading, hashing, signing, sending),
 * so a busy or failing destination costs `check()` nothing. Settings are checked here, at construction.
 * When the worker's module cannot be found (a bundle that did not copy it), shipping runs in-process.
 */
export class BackgroundShipping {
  readonly #options: BackgroundShippingOptions;
  #worker: Worker | undefined;
  #local: AuditShipping | undefined;
  #started = false;
  #startedAt: number | undefined;
  /** The names of the shippers (their state files `<log>.ship-<name>.json`), for status and metrics. */
  readonly shipperNames: readonly string[];

  constructor(options: BackgroundShippingOptions) {
    // Build once here so that bad settings fail now, in the caller's thread, naming the setting.
    const shippers = options.shippers.map(shipperFromSpec);
    const probe = new AuditShipping({ ...options, shippers });
    void probe;
    this.#options = options;
    this.shipperNames = shippers.map((shipper) => shipper.name);
  }

  /** The audit log shipped. */
  get log(): string {
    return this.#options.log;
  }

  /** When shipping started (ms since the epoch); undefined before start(). */
  get startedAt(): number | undefined {
    return this.#startedAt;
  }

  /** Starts shipping (idempotent). */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#startedAt = Date.now();
    const { onError, inProcess, ...data } = this.#options;
    const local = () => {
      this.#local = new AuditShipping({
        ...data,
        shippers: data.shippers.map(shipperFromSpec),
        ...(onError ? { onError } : {}),
      });
      this.#local.start();
    };
    if (inProcess || !existsSync(fileURLToPath(WORKER))) {
      local();
      return;
    }
    const worker = new Worker(WORKER, { workerData: data });
    worker.on('message', (message: { type: string; failure?: ShipFailure }) => {
      if (message?.type === 'error' && message.failure) {
        try {
          onError?.(message.failure);
        } catch {
          // A failing handler must not stop shipping.
        }
      }
    });
    // A worker that dies (it should not) leaves shipping to this thread rather than to nobody.
    worker.on('error', () => {
      if (this.#worker !== worker) return;
      this.#worker = undefined;
      local();
    });
    // Never keeps the host alive on its own (a host that forgets close() can exit).
    worker.unref();
    this.#worker = worker;
  }

  /** Wakes caught-up shippers now. */
  notify(): void {
    this.#local?.notify();
    this.#worker?.postMessage({ type: 'notify' });
  }

  /**
   * Stops: shippers send what they can without waiting (at most `timeoutMs`), record their state and
   * release their locks; then the worker exits (or is terminated).
   */
  async stop(timeoutMs = 5_000): Promise<void> {
    if (this.#local) {
      await this.#local.stop(timeoutMs);
      return;
    }
    const worker = this.#worker;
    if (!worker) return;
    this.#worker = undefined;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.postMessage({ type: 'stop', timeoutMs });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([exited, new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs + 2_000)))]);
    clearTimeout(timer);
    await worker.terminate();
  }
}
