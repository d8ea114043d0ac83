import { readdir, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, resolve } from 'node:path';
import { AgentSafeError } from '@agent-safe/core';
import {
  type BatchRead,
  type LogPosition,
  fileWithInode,
  latestCheckpoint,
  locatePosition,
  logHead,
  nextLogFile,
  readBatch,
} from './log-batch-reader.js';
import {
  type LockOwner,
  ShipLock,
  type ShipState,
  checkShipperName,
  initialState,
  lockPath,
  positionOf,
  readState,
  statePath,
  writeState,
} from './ship-state.js';
import type { ShipBatch } from './ship-batch.js';
import { ShipError, type Shipper, errorMessage } from './shipper.js';

/** Options of {@link AuditShipping}. */
export interface ShippingOptions {
  /** The audit log to ship. */
  readonly log: string;
  readonly shippers: readonly Shipper[];
  /** Names the log at the receivers; default `<hostname>-<log file name without .jsonl>`. */
  readonly logId?: string;
  /** Lines per batch, at most. Default 1000. */
  readonly maxBatchEvents?: number;
  /** Bytes per batch, about (one longer line makes a batch of its own). Default 4 MiB. */
  readonly maxBatchBytes?: number;
  /** How often a caught-up shipper looks for new lines (ms). Default 500. */
  readonly pollIntervalMs?: number;
  /** First retry delay after a failure; doubled per consecutive failure, with jitter (ms). Default 500. */
  readonly retryBaseMs?: number;
  /** Longest delay between attempts; also the delay after a refusal that will not improve (ms). Default 60 000. */
  readonly retryMaxMs?: number;
  /** Called on every failed attempt (for logs and metrics); must not throw. */
  readonly onError?: (failure: ShipFailure) => void;
}

/** One failed attempt. */
export interface ShipFailure {
  readonly shipper: string;
  readonly firstSequence: number;
  readonly lastSequence: number;
  readonly error: string;
  readonly retryable: boolean;
  readonly consecutiveFailures: number;
}

/** A shipper's progress, from its state file and the log. */
export interface ShipperStatus {
  readonly shipper: string;
  readonly destination: string;
  readonly logId: string;
  /** Last sequence the destination acknowledged. */
  readonly acknowledgedSequence: number;
  /** Last sequence in the log. */
  readonly headSequence: number;
  /** Events not yet acknowledged. */
  readonly lag: number;
  readonly batchesShipped: number;
  readonly failures: number;
  readonly consecutiveFailures: number;
  readonly lastError: string | null;
  readonly lastErrorAt: string | null;
  readonly lastSuccessAt: string | null;
  readonly warning: string | null;
  readonly stateFile: string;
  /** The process shipping now, when one holds the lock. */
  readonly shippingProcess: LockOwner | null;
}

/** Progress of {@link AuditShipping.shipOnce}. */
export interface ShipProgress {
  readonly shipper: string;
  readonly acknowledgedSequence: number;
  readonly headSequence: number;
  readonly bytesShipped: number;
  readonly bytesTotal: number;
}

/** The result of {@link AuditShipping.shipOnce} for one shipper. */
export interface ShipRunResult {
  readonly shipper: string;
  readonly destination: string;
  readonly ok: boolean;
  readonly batches: number;
  readonly lines: number;
  readonly acknowledgedSequence: number;
  readonly headSequence: number;
  readonly error?: AgentSafeError;
  readonly warning?: string;
}

const DEFAULTS = {
  maxBatchEvents: 1000,
  maxBatchBytes: 4 * 1024 * 1024,
  pollIntervalMs: 500,
  retryBaseMs: 500,
  retryMaxMs: 60_000,
};
/** How often a process that found another one shipping checks whether it can take over. */
const STANDBY_MS = 5_000;

function usage(message: string, path: string, fix: string): AgentSafeError {
  return new AgentSafeError('USAGE', message, { issues: [{ path, message: fix }] });
}

function positiveInteger(value: unknown, name: string, fallback: number, minimum = 1): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < minimum) {
    throw usage(`${name} must be an integer ≥ ${minimum}, got ${String(value)}`, name, `e.g. ${fallback}`);
  }
  return value;
}

/** `<hostname>-<log name>`, reduced to characters safe in a file name and an S3 key. */
export function defaultLogId(log: string): string {
  const name = basename(log).replace(/\.jsonl$/, '');
  return safeLogId(`${hostname()}-${name}`);
}

function safeLogId(value: string): string {
  const cleaned = value
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[.-]+/, '')
    .slice(0, 128);
  return cleaned === '' ? 'audit' : cleaned;
}

/** Exponential backoff with jitter: between half and all of base·2^(n-1), capped. */
export function backoffDelay(consecutiveFailures: number, baseMs: number, maxMs: number): number {
  const delay = Math.min(maxMs, baseMs * 2 ** Math.min(30, Math.max(0, consecutiveFailures - 1)));
  return delay / 2 + Math.random() * (delay / 2);
}

interface Unit {
  readonly shipper: Shipper;
  readonly statePath: string;
  readonly lock: ShipLock;
  state: ShipState;
  position: LogPosition | undefined;
  /** The file being read: the log, or a rotated file not yet shipped to its end. */
  file: string;
  /** Its inode, to notice it being rotated away under the log's name. */
  inode: number | undefined;
  /** Where a batch was last found not to continue the acknowledged event (checked once per place). */
  gapCheckedAt: string | undefined;
  located: boolean;
  /** The batch whose delivery failed, kept for the retry so it is not read and hashed again. */
  pending: { batch: ShipBatch; next: LogPosition } | undefined;
}

/**
 * Ships an audit log to one or more destinations, off the hot path. The log itself is the queue: each
 * shipper reads whole lines after the last sequence its destination acknowledged (kept in
 * `<log>.ship-<name>.json`), sends them as a batch, and records the new acknowledgement only after the
 * destination confirmed it. Memory stays bounded (one batch per shipper) however far a destination
 * falls behind, a destination that is down only delays its own copy, and after a crash shipping resumes
 * from the state file: delivery is at least once. One process ships per log and shipper (a lock file);
 * others stand by.
 */
export class AuditShipping {
  readonly log: string;
  readonly logId: string;
  readonly #units: Unit[];
  readonly #limits: { maxEvents: number; maxBytes: number };
  readonly #pollIntervalMs: number;
  readonly #retryBaseMs: number;
  readonly #retryMaxMs: number;
  readonly #onError: ((failure: ShipFailure) => void) | undefined;
  #running: Promise<void>[] = [];
  #stopping = false;
  #wake: (() => void)[] = [];
  readonly #stopWaiters = new Set<() => void>();
  readonly #abort = new AbortController();

  constructor(options: ShippingOptions) {
    if (typeof options?.log !== 'string' || options.log === '' || options.log.includes('\0')) {
      throw usage('shipping needs the audit log path', 'log', 'e.g. ./audit.jsonl');
    }
    if (!Array.isArray(options.shippers) || options.shippers.length === 0) {
      throw usage(
        'shipping needs at least one shipper',
        'shippers',
        'a FilesystemShipper, WebhookShipper or S3Shipper',
      );
    }
    this.log = resolve(options.log);
    this.logId = options.logId === undefined ? defaultLogId(this.log) : options.logId;
    if (typeof this.logId !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(this.logId)) {
      throw usage(
        `logId ${JSON.stringify(options.logId)} is not usable`,
        'logId',
        '1-128 of letters, digits, ".", "_" and "-"',
      );
    }
    const names = new Set<string>();
    for (const shipper of options.shippers) {
      checkShipperName(shipper?.name);
      if (names.has(shipper.name)) {
        throw usage(`two shippers are named "${shipper.name}"`, 'shippers', 'give each shipper its own name');
      }
      names.add(shipper.name);
    }
    this.#limits = {
      maxEvents: positiveInteger(options.maxBatchEvents, 'maxBatchEvents', DEFAULTS.maxBatchEvents),
      maxBytes: positiveInteger(options.maxBatchBytes, 'maxBatchBytes', DEFAULTS.maxBatchBytes, 1024),
    };
    this.#pollIntervalMs = positiveInteger(options.pollIntervalMs, 'pollIntervalMs', DEFAULTS.pollIntervalMs);
    this.#retryBaseMs = positiveInteger(options.retryBaseMs, 'retryBaseMs', DEFAULTS.retryBaseMs);
    this.#retryMaxMs = positiveInteger(options.retryMaxMs, 'retryMaxMs', DEFAULTS.retryMaxMs);
    this.#onError = options.onError;
    this.#units = options.shippers.map((shipper) => ({
      shipper,
      statePath: statePath(this.log, shipper.name),
      lock: new ShipLock(lockPath(this.log, shipper.name)),
      state: initialState(shipper.name, shipper.destination, this.logId),
      position: undefined,
      file: this.log,
      inode: undefined,
      gapCheckedAt: undefined,
      located: false,
      pending: undefined,
    }));
  }

  /** Starts shipping in the background until {@link stop}. Never throws: failures go to the state files. */
  start(): void {
    if (this.#running.length > 0 || this.#stopping) return;
    this.#running = this.#units.map((unit) => this.#loop(unit));
  }

  /** Wakes caught-up shippers now (e.g. after an append) instead of at their next poll. */
  notify(): void {
    const waiting = this.#wake;
    if (waiting.length === 0) return;
    this.#wake = [];
    for (const wake of waiting) wake();
  }

  /**
   * Stops background shipping: each shipper finishes what it can send without waiting (until it is
   * caught up, a send fails, or `timeoutMs` passes, when an unfinished send is aborted), records its
   * state and releases its lock. Unshipped lines stay in the log for the next start.
   */
  async stop(timeoutMs = 5_000): Promise<void> {
    this.#stopping = true;
    this.notify();
    for (const finish of [...this.#stopWaiters]) finish();
    let timer: NodeJS.Timeout | undefined;
    const all = Promise.all(this.#running);
    await Promise.race([all, new Promise((done) => (timer = setTimeout(done, timeoutMs)))]);
    clearTimeout(timer);
    this.#abort.abort();
    await all;
    this.#running = [];
    await Promise.all(this.#units.map((unit) => unit.lock.release()));
    await Promise.all(this.#units.map((unit) => unit.shipper.close?.().catch(() => undefined)));
  }

  /**
   * Ships everything in the log now and returns (the CLI's `audit ship`): retryable failures are
   * retried up to `maxAttempts` times per batch with backoff; a refusal ends that shipper's run.
   */
  async shipOnce(
    options: { maxAttempts?: number; onProgress?: (progress: ShipProgress) => void } = {},
  ): Promise<ShipRunResult[]> {
    const maxAttempts = positiveInteger(options.maxAttempts, 'maxAttempts', 5);
    await logHead(this.log); // a missing or unreadable log fails here, naming it
    try {
      return await Promise.all(
        this.#units.map((unit) => this.#shipAll(unit, maxAttempts, options.onProgress)),
      );
    } finally {
      await Promise.all(this.#units.map((unit) => unit.lock.release()));
      await Promise.all(this.#units.map((unit) => unit.shipper.close?.().catch(() => undefined)));
    }
  }

  async #shipAll(
    unit: Unit,
    maxAttempts: number,
    onProgress: ((progress: ShipProgress) => void) | undefined,
  ): Promise<ShipRunResult> {
    const result = (
      ok: boolean,
      batches: number,
      lines: number,
      head: number,
      error?: AgentSafeError,
    ): ShipRunResult => ({
      shipper: unit.shipper.name,
      destination: unit.shipper.destination,
      ok,
      batches,
      lines,
      acknowledgedSequence: unit.state.acknowledged_sequence,
      headSequence: head,
      ...(error ? { error } : {}),
      ...(unit.state.warning ? { warning: unit.state.warning } : {}),
    });
    const locked = await unit.lock.acquire();
    if (!locked.acquired) {
      const owner = locked.owner;
      return result(
        false,
        0,
        0,
        0,
        new AgentSafeError(
          'USAGE',
          `another process is shipping ${this.log} to ${unit.shipper.name}${owner ? ` (pid ${owner.pid} on ${owner.host} since ${owner.since})` : ''}`,
          {
            issues: [
              {
                file: unit.lock.path,
                message: 'wait for it, or stop it; `audit ship --status` shows its progress',
              },
            ],
          },
        ),
      );
    }
    await this.#prepare(unit);
    const head = await logHead(this.log);
    const startOffset = unit.position!.offset;
    let batches = 0;
    let lines = 0;
    let attempts = 0;
    const report = () =>
      onProgress?.({
        shipper: unit.shipper.name,
        acknowledgedSequence: unit.state.acknowledged_sequence,
        headSequence: Math.max(head.sequence, unit.state.acknowledged_sequence),
        bytesShipped: unit.position!.offset - startOffset,
        bytesTotal: Math.max(0, head.size - startOffset),
      });
    report();
    while (true) {
      const outcome = await this.#step(unit);
      if (outcome.kind === 'idle')
        return result(true, batches, lines, Math.max(head.sequence, unit.state.acknowledged_sequence));
      if (outcome.kind === 'sent') {
        batches++;
        lines += outcome.lines;
        attempts = 0;
        report();
        continue;
      }
      attempts++;
      if (!outcome.retryable || attempts >= maxAttempts) {
        return result(false, batches, lines, head.sequence, outcome.error);
      }
      await this.#sleep(backoffDelay(attempts, this.#retryBaseMs, this.#retryMaxMs));
    }
  }

  /** Reads the state file and checks the position against the log. */
  async #prepare(unit: Unit): Promise<void> {
    if (unit.located) return;
    const stored = await readState(unit.statePath);
    if (stored) {
      unit.state = { ...stored, destination: unit.shipper.destination };
      if (stored.log_id !== this.logId) {
        unit.state = {
          ...unit.state,
          log_id: this.logId,
          warning: `log id changed from "${stored.log_id}" to "${this.logId}": new batches go under the new id`,
        };
      }
    }
    const recorded = unit.state.file ?? this.log;
    const { file, position, lost } = await locatePosition(this.log, recorded, positionOf(unit.state));
    unit.position = position;
    unit.file = file;
    unit.inode = undefined;
    unit.pending = undefined;
    if (lost) unit.state = { ...unit.state, warning: lost, offset: position.offset };
    unit.state = { ...unit.state, file: file === this.log ? null : file };
    unit.located = true;
  }

  /** One batch: read, send, acknowledge. */
  async #step(
    unit: Unit,
  ): Promise<
    | { kind: 'idle' }
    | { kind: 'sent'; lines: number }
    | { kind: 'failed'; retryable: boolean; error: AgentSafeError }
  > {
    let read: BatchRead;
    try {
      await this.#followRotation(unit);
      const pending = unit.pending;
      read =
        pending !== undefined && pending.batch.byteOffset === unit.position!.offset
          ? { kind: 'batch', ...pending }
          : await readBatch(unit.file, unit.position!, this.#limits, {
              logId: this.logId,
              checkpoint: await latestCheckpoint(this.log),
            });
    } catch (error) {
      const failure =
        error instanceof AgentSafeError
          ? error
          : new ShipError(unit.shipper.name, `cannot read ${this.log}: ${errorMessage(error)}`, {
              retryable: true,
            });
      await this.#recordFailure(unit, failure, true, 0, 0);
      return { kind: 'failed', retryable: true, error: failure };
    }
    if (read.kind === 'idle') {
      // A rotated file read to its end: go on with the next file of the chain, from its start.
      const next = unit.file === this.log ? undefined : await nextLogFile(this.log, unit.file);
      if (next === undefined) return { kind: 'idle' };
      unit.file = next;
      unit.inode = undefined;
      unit.position = { ...unit.position!, offset: 0 };
      unit.state = {
        ...unit.state,
        file: next === this.log ? null : next,
        offset: 0,
        updated_at: new Date().toISOString(),
      };
      await writeState(unit.statePath, unit.state);
      return { kind: 'sent', lines: 0 };
    }
    if (read.kind === 'skipped') {
      unit.position = read.next;
      unit.state = {
        ...unit.state,
        offset: read.next.offset,
        warning: `passed over ${read.bytes} bytes at byte ${read.next.offset - read.bytes} of ${this.log} that are not audit events`,
        updated_at: new Date().toISOString(),
      };
      await writeState(unit.statePath, unit.state).catch(() => undefined);
      return { kind: 'sent', lines: 0 };
    }
    const { batch, next } = read;
    if (unit.position!.sequence > 0 && batch.firstPrevHash !== unit.position!.hash) {
      // The batch does not continue what was acknowledged. A rotation that raced with switching files
      // can do this: look for the acknowledged event again, once per place; if it is still so there,
      // the log itself has the gap, and shipping it shows the receiver.
      const here = `${unit.file}:${unit.position!.offset}:${unit.position!.sequence}`;
      if (unit.gapCheckedAt !== here) {
        unit.gapCheckedAt = here;
        unit.located = false;
        await this.#prepare(unit);
        return { kind: 'sent', lines: 0 };
      }
    }
    try {
      await unit.shipper.send(batch, this.#abort.signal);
    } catch (error) {
      const failure =
        error instanceof AgentSafeError
          ? error
          : new ShipError(unit.shipper.name, errorMessage(error), { retryable: true, cause: error });
      const retryable = error instanceof ShipError ? error.retryable : true;
      unit.pending = { batch, next };
      await this.#recordFailure(unit, failure, retryable, batch.firstSequence, batch.lastSequence);
      return { kind: 'failed', retryable, error: failure };
    }
    unit.position = next;
    unit.pending = undefined;
    const now = new Date().toISOString();
    unit.state = {
      ...unit.state,
      acknowledged_sequence: next.sequence,
      acknowledged_hash: next.hash,
      offset: next.offset,
      file: unit.file === this.log ? null : unit.file,
      batches_shipped: unit.state.batches_shipped + 1,
      lines_shipped: unit.state.lines_shipped + batch.lineCount,
      consecutive_failures: 0,
      last_success_at: now,
      updated_at: now,
    };
    // Not fsync'd: losing the latest acknowledgement in a machine crash only re-sends a batch.
    await writeState(unit.statePath, unit.state);
    return { kind: 'sent', lines: batch.lineCount };
  }

  /**
   * When the file being read is no longer the one at its path (rotated: renamed to `<log>.<sequence>`),
   * keeps reading it under its new name, so no line written before the rotation is skipped.
   */
  async #followRotation(unit: Unit): Promise<void> {
    let inode: number | undefined;
    try {
      inode = (await stat(unit.file)).ino;
    } catch {
      inode = undefined;
    }
    if (unit.inode === undefined) {
      unit.inode = inode;
      return;
    }
    if (inode === unit.inode) return;
    const moved = await fileWithInode(this.log, unit.inode);
    if (moved !== undefined) {
      unit.file = moved;
      unit.state = { ...unit.state, file: moved === this.log ? null : moved };
      return;
    }
    // Gone altogether (removed before it was shipped to its end): find the position again.
    unit.located = false;
    await this.#prepare(unit);
  }

  async #recordFailure(
    unit: Unit,
    error: AgentSafeError,
    retryable: boolean,
    firstSequence: number,
    lastSequence: number,
  ): Promise<void> {
    const now = new Date().toISOString();
    unit.state = {
      ...unit.state,
      failures: unit.state.failures + 1,
      consecutive_failures: unit.state.consecutive_failures + 1,
      last_error: error.message.slice(0, 1000),
      last_error_at: now,
      updated_at: now,
    };
    await writeState(unit.statePath, unit.state).catch(() => undefined);
    try {
      this.#onError?.({
        shipper: unit.shipper.name,
        firstSequence,
        lastSequence,
        error: error.message,
        retryable,
        consecutiveFailures: unit.state.consecutive_failures,
      });
    } catch {
      // A failing error handler must not stop shipping.
    }
  }

  async #loop(unit: Unit): Promise<void> {
    while (!this.#stopping) {
      try {
        if (!unit.lock.held) {
          const locked = await unit.lock.acquire();
          if (!locked.acquired) {
            await this.#wait(STANDBY_MS);
            continue;
          }
          unit.located = false;
          unit.pending = undefined;
        }
        await this.#prepare(unit);
        const outcome = await this.#step(unit);
        if (outcome.kind === 'sent') continue;
        if (outcome.kind === 'idle') {
          if (this.#stopping) break;
          await this.#wait(this.#pollIntervalMs);
          continue;
        }
        if (this.#stopping) break;
        await this.#wait(
          outcome.retryable
            ? backoffDelay(unit.state.consecutive_failures, this.#retryBaseMs, this.#retryMaxMs)
            : this.#retryMaxMs,
          false,
        );
      } catch (error) {
        // State or lock files that cannot be written: recorded where possible, then retried later.
        try {
          this.#onError?.({
            shipper: unit.shipper.name,
            firstSequence: 0,
            lastSequence: 0,
            error: errorMessage(error),
            retryable: true,
            consecutiveFailures: unit.state.consecutive_failures,
          });
        } catch {
          // ignored, as above
        }
        if (this.#stopping) break;
        await this.#wait(this.#retryMaxMs, false);
      }
    }
    // Stopping: send what can be sent now (until caught up, a failure, or stop()'s timeout aborts).
    if (!unit.lock.held || !unit.located) return;
    try {
      while (!this.#abort.signal.aborted) {
        if ((await this.#step(unit)).kind !== 'sent') break;
      }
    } catch {
      // Recorded by #step where it can be; the lines stay in the log for the next start.
    }
  }

  /** Sleeps `ms`, or less when notified (if `wakeable`) or stopping. */
  #wait(ms: number, wakeable = true): Promise<void> {
    return new Promise((done) => {
      let finished = false;
      const finish = () => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        this.#stopWaiters.delete(finish);
        done();
      };
      const timer = setTimeout(finish, ms);
      // Waiting for work never keeps the process alive on its own (a host that forgets close() can exit).
      timer.unref?.();
      if (wakeable) this.#wake.push(finish);
      this.#stopWaiters.add(finish);
      if (this.#stopping) finish();
    });
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((done) => setTimeout(done, ms));
  }
}

/**
 * The progress of every shipper of `log`, from the state files beside it (`<log>.ship-*.json`) and the
 * log's head. Read-only: works while a shipper runs.
 */
export async function shippingStatus(log: string, names?: readonly string[]): Promise<ShipperStatus[]> {
  const path = resolve(log);
  const head = await logHead(path);
  const prefix = `${basename(path)}.ship-`;
  let shipperNames = names ? [...names] : [];
  if (!names) {
    const entries = await readdir(dirname(path));
    shipperNames = entries
      .filter((entry) => entry.startsWith(prefix) && entry.endsWith('.json'))
      .map((entry) => entry.slice(prefix.length, -'.json'.length))
      .filter((name) => /^[a-z0-9][a-z0-9-]{0,39}$/.test(name))
      .sort();
  }
  const statuses: ShipperStatus[] = [];
  for (const name of shipperNames) {
    const file = statePath(path, name);
    const state = (await readState(file)) ?? initialState(name, '', defaultLogId(path));
    const lock = new ShipLock(lockPath(path, name));
    statuses.push({
      shipper: name,
      destination: state.destination,
      logId: state.log_id,
      acknowledgedSequence: state.acknowledged_sequence,
      headSequence: head.sequence,
      lag: Math.max(0, head.sequence - state.acknowledged_sequence),
      batchesShipped: state.batches_shipped,
      failures: state.failures,
      consecutiveFailures: state.consecutive_failures,
      lastError: state.last_error,
      lastErrorAt: state.last_error_at,
      lastSuccessAt: state.last_success_at,
      warning: state.warning,
      stateFile: file,
      shippingProcess: (await lock.owner()) ?? null,
    });
  }
  return statuses;
}
