import { constants } from 'node:fs';
import { type FileHandle, link, open, stat, unlink } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { AgentSafeError, randomId, systemClock } from '@agent-safe/core';
import type { AuditEvent, AuditEventBody, AuditSink, Clock } from '@agent-safe/core';
import { BatchEncoder, worstCaseBytes } from './batch-encoder.js';
import {
  CHECKPOINT_EVENT_TYPE,
  type SignedCheckpoint,
  appendCheckpoints,
  signCheckpoint,
} from './checkpoint.js';
import type { CheckpointKey } from './checkpoint-key.js';
import { LockFile } from './lock-file.js';
import { type PreparedEvent, prepareEvent } from './prepared-event.js';
import { CONTINUED_EVENT_TYPE, type TailState, readLogId, readTail } from './tail.js';

/** Options of {@link AuditLog.open}. */
export interface AuditLogOptions {
  /**
   * `'fsync'` (default): `append` resolves after the event is written and fdatasync'd.
   * `'write'`: after the write syscall (survives a crash of the process, not of the machine).
   */
  readonly durability?: 'fsync' | 'write';
  /** How long a batch waits for the cross-process lock before failing with AUDIT_LOCK_TIMEOUT (ms, default 10 000). */
  readonly lockTimeoutMilliseconds?: number;
  /** A lock file older than this is taken to be abandoned (ms, default 30 000). */
  readonly staleLockMilliseconds?: number;
  /** Time source for the log's own (recovery) events. */
  readonly clock?: Clock;
  /** Most events written by one write + fdatasync (default 1024). */
  readonly maxBatch?: number;
  /** Largest serialised event accepted, in bytes (default 1 MiB). */
  readonly maxEventBytes?: number;
  /** Signed checkpoints (see docs/audit.md); off when absent. */
  readonly checkpoints?: CheckpointOptions;
  /** Rotation by size and/or by day (see docs/audit.md); off when absent. */
  readonly rotate?: RotateOptions;
}

/**
 * Rotation: the current file is renamed to `<log>.<sequence of its last event, 12 digits>` and a new
 * file started whose first event (`log_continued`) links to the last event of the old one and names it.
 */
export interface RotateOptions {
  /** Rotate once the file has reached this many bytes (it may pass it by one batch). */
  readonly maxBytes?: number;
  /** Rotate at the first write of a new UTC day (by the log's clock). */
  readonly daily?: boolean;
}

/** Options of signed checkpoints: {@link AuditLogOptions.checkpoints}. */
export interface CheckpointOptions {
  /** The signing key (HS256 secret or Ed25519 private key): {@link loadCheckpointKey}. */
  readonly key: CheckpointKey;
  /** A checkpoint whenever the sequence crosses a multiple of this (default 1000). */
  readonly every?: number;
  /** And when the last one is older than this many seconds and events were added since (default 60). */
  readonly intervalSeconds?: number;
  /** Where checkpoints are also appended (default `<log>.checkpoints`). */
  readonly file?: string;
}

/** What {@link AuditLog.backlog} reports. */
export interface AuditLogBacklog {
  /** Appends waiting for their write: queued, or in the batch being written. */
  readonly events: number;
  /** Seconds the last batch took from being cut off the queue to being written (and synced). */
  readonly lastBatchSeconds: number;
}

/** Counters for tests and operators. */
export interface AuditLogStatistics {
  /** Events acknowledged. */
  readonly appends: number;
  /** Batches committed (each one write). */
  readonly batches: number;
  /** Durable writes: fdatasync calls, or batch writes through O_DSYNC where the platform has it. */
  readonly fsyncs: number;
  /** Times the tail had to be read from the file because another writer (or a failure) changed it. */
  readonly tailReads: number;
  /** Torn lines acknowledged with a recovery event. */
  readonly recoveries: number;
  /** Lock attempts that found the lock taken and waited. */
  readonly lockRetries: number;
  readonly staleLocksRemoved: number;
  /** Batches that failed (every append in them was rejected). */
  readonly failedBatches: number;
  /** Checkpoints written by this writer. */
  readonly checkpoints: number;
  /** Checkpoints that reached the log but not the checkpoint file (the error is in lastCheckpointFileError). */
  readonly checkpointFileFailures: number;
  /** Files this writer rotated. */
  readonly rotations: number;
}

interface Pending {
  readonly prepared: PreparedEvent;
  readonly resolve: (event: AuditEvent) => void;
  readonly reject: (error: unknown) => void;
}

interface CachedTail {
  readonly size: number;
  readonly lastSequence: number;
  readonly lastHash: string;
  readonly lastEventType: string | undefined;
  readonly lastTimestamp: string | undefined;
}

/** Where the chain continues from when the file at the path was replaced under us. */
interface Continuation {
  readonly lastSequence: number;
  readonly lastHash: string;
  readonly logId: string | undefined;
  /** Name of the previous file when known (our own rotation), else null. */
  readonly previousFile: string | null;
  readonly reason: 'rotated' | 'renamed or removed by another program' | 'truncated in place';
}

/**
 * How often (ms) a writer that keeps the lock across batches still checks that the path names its
 * file, so a rename by logrotate is noticed within this long even under sustained load.
 */
const ROTATION_CHECK_MS = 100;

interface CheckpointSettings {
  readonly key: CheckpointKey;
  readonly every: number;
  readonly intervalMilliseconds: number;
  readonly file: string;
}

/** Queued by {@link AuditLog.checkpoint}: asks the next batch for a checkpoint; never written itself. */
const CHECKPOINT_REQUEST: PreparedEvent = Object.freeze({
  snapshot: {},
  members: '',
  beforeHash: 0,
  beforePrevHash: 0,
  beforeSequence: 0,
});

const DEFAULTS = {
  durability: 'fsync',
  lockTimeoutMilliseconds: 10_000,
  staleLockMilliseconds: 30_000,
  maxBatch: 1024,
  maxEventBytes: 1024 * 1024,
} as const;

/**
 * How often a writer that keeps the cross-process lock across batches checks whether another writer is
 * waiting for it (ms); a waiting writer gets the lock within about this long.
 */
const MAX_HOLD_MS = 10;
/**
 * Longest continuous hold when nobody is waiting (ms). Releasing now and then keeps the lock file young,
 * far from the age at which another process would judge it abandoned (staleLockMilliseconds).
 */
const MAX_UNCONTENDED_HOLD_MS = 1000;

/**
 * Largest encoded batch (worst case), so the write buffer stays bounded however large maxBatch and
 * maxEventBytes are; a single larger event still gets a batch of its own.
 */
const MAX_BATCH_BYTES = 8 * 1024 * 1024;

/** Queues shorter than this are never split (see #drain). */
const MIN_SPLIT_QUEUE = 16;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// O_NOFOLLOW: a log path that is a symlink is refused, so a planted link cannot redirect the log.
const OPEN_FLAGS = constants.O_RDWR | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW;
/**
 * With O_DSYNC each write returns only once its data is durable, exactly as if fdatasync followed it, but
 * in one system call and one trip through libuv's thread pool instead of two. Platforms without it
 * (Windows) write, then fdatasync.
 */
const SYNC_ON_WRITE: number | undefined =
  typeof constants.O_DSYNC === 'number' ? constants.O_DSYNC : undefined;

function openFlags(durability: 'fsync' | 'write'): number {
  return durability === 'fsync' && SYNC_ON_WRITE !== undefined ? OPEN_FLAGS | SYNC_ON_WRITE : OPEN_FLAGS;
}

function usage(message: string, path: string): AgentSafeError {
  return new AgentSafeError('USAGE', message, { issues: [{ message, path }] });
}

function validateOptions(options: AuditLogOptions): void {
  if (options.durability !== undefined && options.durability !== 'fsync' && options.durability !== 'write') {
    throw usage(`durability must be 'fsync' or 'write', got ${String(options.durability)}`, 'durability');
  }
  for (const [name, minimum] of [
    ['lockTimeoutMilliseconds', 0],
    ['staleLockMilliseconds', 1],
    ['maxBatch', 1],
    ['maxEventBytes', 64],
  ] as const) {
    const value = options[name];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < minimum) {
      throw usage(`${name} must be a finite number ≥ ${minimum}, got ${String(value)}`, name);
    }
    if (name === 'maxBatch' && !Number.isInteger(value)) {
      throw usage(`maxBatch must be an integer, got ${value}`, name);
    }
  }
  if (options.clock !== undefined && typeof options.clock?.now !== 'function') {
    throw usage('clock must have a now() method', 'clock');
  }
  const checkpoints = options.checkpoints;
  if (checkpoints !== undefined) {
    const key = checkpoints?.key;
    if (key === undefined || typeof key?.sign !== 'function' || typeof key.keyId !== 'string') {
      throw usage('checkpoints.key must be a key from loadCheckpointKey()', 'checkpoints.key');
    }
    if (!key.canSign) {
      throw usage(
        `checkpoints.key (${key.source}) is a public key and cannot sign; give the writer the private key`,
        'checkpoints.key',
      );
    }
    for (const [name, minimum] of [
      ['every', 1],
      ['intervalSeconds', 0.01],
    ] as const) {
      const value = checkpoints[name];
      if (value === undefined) continue;
      if (typeof value !== 'number' || !Number.isFinite(value) || value < minimum) {
        throw usage(
          `checkpoints.${name} must be a finite number ≥ ${minimum}, got ${String(value)}`,
          `checkpoints.${name}`,
        );
      }
    }
    if (checkpoints.file !== undefined && (typeof checkpoints.file !== 'string' || checkpoints.file === '')) {
      throw usage('checkpoints.file must be a non-empty path', 'checkpoints.file');
    }
  }
  const rotate = options.rotate;
  if (rotate !== undefined) {
    if (rotate === null || typeof rotate !== 'object')
      throw usage('rotate must be { maxBytes, daily }', 'rotate');
    if (
      rotate.maxBytes !== undefined &&
      (typeof rotate.maxBytes !== 'number' ||
        !Number.isSafeInteger(rotate.maxBytes) ||
        rotate.maxBytes < 1024)
    ) {
      throw usage(
        `rotate.maxBytes must be a whole number ≥ 1024, got ${String(rotate.maxBytes)}`,
        'rotate.maxBytes',
      );
    }
    if (rotate.daily !== undefined && typeof rotate.daily !== 'boolean') {
      throw usage(`rotate.daily must be true or false, got ${String(rotate.daily)}`, 'rotate.daily');
    }
  }
}

function writeFailed(file: string, action: string, error: unknown): AgentSafeError {
  const cause = error as NodeJS.ErrnoException;
  const reason = String(cause?.message ?? error);
  return new AgentSafeError('AUDIT_WRITE_FAILED', `audit log ${file}: ${action} failed (${reason})`, {
    cause: error,
    issues: [{ file, message: `${action} failed: ${reason}` }],
    details: { file, errno: cause?.code ?? null },
  });
}

/**
 * The hash-chained, append-only JSONL audit log writer. Appends are group-committed: events that
 * arrive while a batch is being written share the next batch's single write and fdatasync. Batches are
 * serialised inside the process and, through `<log>.lock`, across processes, so any number of writers
 * extend one unbroken chain.
 */
export class AuditLog implements AuditSink {
  /** Absolute path of the log file. */
  readonly path: string;
  readonly #durability: 'fsync' | 'write';
  readonly #clock: Clock;
  readonly #maxBatch: number;
  readonly #maxEventBytes: number;
  readonly #maxUncontendedHold: number;
  readonly #lock: LockFile;
  #handle: FileHandle;
  #inode: number;
  #cached: CachedTail | undefined;
  #queue: Pending[] = [];
  /** Events of the batch being written now (taken off the queue, not yet acknowledged). */
  #writing = 0;
  /** Seconds the last batch took to write (and sync), from its cut to its commit. */
  #lastBatchSeconds = 0;
  #scheduled = false;
  #draining: Promise<void> | undefined;
  #closed = false;
  readonly #encoder = new BatchEncoder();
  #counters = {
    appends: 0,
    batches: 0,
    fsyncs: 0,
    tailReads: 0,
    recoveries: 0,
    failedBatches: 0,
    checkpoints: 0,
    checkpointFileFailures: 0,
    rotations: 0,
  };
  readonly #checkpoint: CheckpointSettings | undefined;
  readonly #rotate: RotateOptions | undefined;
  #statAt = 0;
  #continueFrom: Continuation | undefined;
  #forceStat = false;
  #logId: string | undefined;
  #lastCheckpointAt = Date.now();
  #uncheckpointed = 0;
  #checkpointTimer: ReturnType<typeof setInterval> | undefined;
  #checkpointWrites: Promise<void> = Promise.resolve();
  /** Why the last checkpoint could not be appended to the checkpoint file (undefined once one is). */
  lastCheckpointFileError: unknown;

  private constructor(path: string, handle: FileHandle, inode: number, options: AuditLogOptions) {
    this.path = path;
    this.#handle = handle;
    this.#inode = inode;
    this.#durability = options.durability ?? DEFAULTS.durability;
    this.#clock = options.clock ?? systemClock;
    this.#maxBatch = options.maxBatch ?? DEFAULTS.maxBatch;
    this.#maxEventBytes = options.maxEventBytes ?? DEFAULTS.maxEventBytes;
    const staleMilliseconds = options.staleLockMilliseconds ?? DEFAULTS.staleLockMilliseconds;
    this.#maxUncontendedHold = Math.min(MAX_UNCONTENDED_HOLD_MS, staleMilliseconds / 4);
    this.#lock = new LockFile(`${path}.lock`, {
      logPath: path,
      timeoutMilliseconds: options.lockTimeoutMilliseconds ?? DEFAULTS.lockTimeoutMilliseconds,
      staleMilliseconds,
    });
    this.#rotate =
      options.rotate !== undefined && (options.rotate.maxBytes !== undefined || options.rotate.daily === true)
        ? options.rotate
        : undefined;
    const checkpoints = options.checkpoints;
    if (checkpoints !== undefined) {
      const intervalMilliseconds = (checkpoints.intervalSeconds ?? 60) * 1000;
      this.#checkpoint = {
        key: checkpoints.key,
        every: Math.max(1, Math.floor(checkpoints.every ?? 1000)),
        intervalMilliseconds,
        file: resolve(checkpoints.file ?? `${path}.checkpoints`),
      };
      // Events that arrive and then stop still get a checkpoint within the interval.
      this.#checkpointTimer = setInterval(
        () => {
          if (this.#uncheckpointed > 0 && Date.now() - this.#lastCheckpointAt >= intervalMilliseconds) {
            this.checkpoint().catch(() => undefined);
          }
        },
        Math.max(10, Math.min(intervalMilliseconds, 60_000)),
      );
      this.#checkpointTimer.unref?.();
    }
  }

  /**
   * Opens (creating with mode 0600 if needed) the log at `path`. The directory must exist: it is not
   * created, so a typo in a path fails loudly instead of scattering logs.
   */
  static async open(path: string, options: AuditLogOptions = {}): Promise<AuditLog> {
    if (typeof path !== 'string' || path.length === 0 || path.includes('\0')) {
      throw usage('the audit log path must be a non-empty string without NUL bytes', 'path');
    }
    validateOptions(options);
    const absolute = resolve(path);
    if (options.checkpoints !== undefined) {
      // A checkpoint file that cannot be written (a symlink, a directory, no permission) fails here,
      // loudly, rather than at every checkpoint later.
      const file = resolve(options.checkpoints.file ?? `${absolute}.checkpoints`);
      try {
        await appendCheckpoints(file, [], false);
      } catch (error) {
        if (error instanceof AgentSafeError) throw error;
        throw new AgentSafeError(
          'AUDIT_WRITE_FAILED',
          `cannot open the checkpoint file ${file}: ${(error as Error).message}`,
          {
            cause: error,
            issues: [
              {
                file,
                message:
                  (error as NodeJS.ErrnoException).code === 'ELOOP'
                    ? 'it is a symbolic link: point checkpoints at a real file'
                    : 'the checkpoint file must be a regular file the writer can append to',
              },
            ],
          },
        );
      }
    }
    const { handle, inode } = await openLogFile(absolute, options.durability ?? DEFAULTS.durability);
    return new AuditLog(absolute, handle, inode, options);
  }

  /** Counters of work done so far (a snapshot). */
  get stats(): AuditLogStatistics {
    const lock = this.#lock.statistics;
    return {
      ...this.#counters,
      lockRetries: lock.retries,
      staleLocksRemoved: lock.staleLocksRemoved,
    };
  }

  /**
   * The appends not yet acknowledged: queued or in the batch being written, and how long the last batch
   * took (a snapshot, for metrics; reading it costs nothing on the append path).
   */
  get backlog(): AuditLogBacklog {
    return { events: this.#queue.length + this.#writing, lastBatchSeconds: this.#lastBatchSeconds };
  }

  /**
   * Makes the next batch check at once whether the path still names the open file (and continue the
   * chain in a new file if it was rotated away). Renames are also noticed on their own within
   * {@link ROTATION_CHECK_MS} ms; call this from a reopen signal (e.g. logrotate's postrotate) to
   * switch before the next event.
   */
  reopen(): void {
    this.#forceStat = true;
  }

  /**
   * Writes a signed checkpoint now (after the events already queued) unless the log's last event is
   * one already. Resolves once it is in the log and the checkpoint file. No-op without checkpoints.
   */
  checkpoint(): Promise<void> {
    if (this.#checkpoint === undefined) return Promise.resolve();
    if (this.#closed) return Promise.reject(usage(`audit log ${this.path} is closed`, 'checkpoint'));
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({
        prepared: CHECKPOINT_REQUEST,
        // The checkpoint file is appended after the batch (see #commit): wait for that too.
        resolve: () => {
          void this.#checkpointWrites.then(() => resolve());
        },
        reject,
      });
      this.#schedule();
    });
  }

  /**
   * Appends an event and resolves with the stored event (body plus `sequence`, `prev_hash`, `hash`) once
   * it is written with the configured durability. Rejects with INPUT_INVALID for a body that cannot be
   * stored (others in the same batch are unaffected), AUDIT_WRITE_FAILED or AUDIT_LOCK_TIMEOUT.
   */
  append(body: AuditEventBody): Promise<AuditEvent> {
    if (this.#closed) {
      return Promise.reject(usage(`audit log ${this.path} is closed`, 'append'));
    }
    let prepared: PreparedEvent;
    try {
      prepared = prepareEvent(body, { file: this.path, maxEventBytes: this.#maxEventBytes });
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<AuditEvent>((resolve, reject) => {
      this.#queue.push({ prepared, resolve, reject });
      this.#schedule();
    });
  }

  /** Waits for queued appends to finish, then closes the file. Later appends are rejected. */
  async close(): Promise<void> {
    if (this.#closed) return;
    if (this.#checkpoint !== undefined) {
      clearInterval(this.#checkpointTimer);
      // The last events get a checkpoint too (skipped when the log already ends with one).
      this.#queue.push({ prepared: CHECKPOINT_REQUEST, resolve: () => undefined, reject: () => undefined });
    }
    this.#closed = true;
    while (this.#draining !== undefined || this.#queue.length > 0) {
      if (this.#draining === undefined) this.#startDrain();
      await this.#draining;
    }
    await this.#checkpointWrites;
    await this.#handle.close();
  }

  #schedule(): void {
    if (this.#scheduled || this.#draining !== undefined) return;
    this.#scheduled = true;
    // setImmediate rather than a microtask: callers woken by the previous batch get to queue their next
    // event first, so concurrent callers share one batch.
    setImmediate(() => {
      this.#scheduled = false;
      if (this.#draining === undefined) this.#startDrain();
    });
  }

  #startDrain(): void {
    this.#draining = this.#drain().finally(() => {
      this.#draining = undefined;
      if (this.#queue.length > 0) this.#schedule();
    });
  }

  /**
   * Commits batches while appends keep arriving. The lock is kept across consecutive batches; every
   * {@link MAX_HOLD_MS} the writer checks whether another process waits for it and, if so, releases it
   * and pauses so that process gets a turn. The callers of one batch are resolved only after the next
   * batch's write has been issued, so their CPU work overlaps our I/O.
   */
  async #drain(): Promise<void> {
    let held = false;
    let heldSince = 0;
    let checkedSince = 0;
    let probing = false;
    let othersWaiting = false;
    let fresh = false;
    let previous: { batch: readonly Pending[]; events: AuditEvent[] } | undefined;
    let committed = 0;
    const settle = () => {
      if (previous === undefined) return;
      const { batch, events } = previous;
      previous = undefined;
      this.#counters.appends += batch.length;
      for (let index = 0; index < batch.length; index++) batch[index]!.resolve(events[index]!);
    };
    try {
      while (true) {
        if (this.#queue.length === 0) {
          settle();
          // Give the callers just resolved a turn to queue their next events before giving up the lock.
          await new Promise<void>((resolve) => setImmediate(resolve));
          if (this.#queue.length === 0) break;
        }
        if (held && Date.now() - checkedSince > MAX_HOLD_MS) {
          // Ask in the background whether someone waits, so the check costs this batch no round trip;
          // the answer is used at the next batch boundary.
          checkedSince = Date.now();
          if (!probing) {
            probing = true;
            void this.#lock.othersWaiting().then((answer) => {
              probing = false;
              othersWaiting = answer;
            });
          }
        }
        if (held && (othersWaiting || Date.now() - heldSince > this.#maxUncontendedHold)) {
          const signalled = othersWaiting;
          held = false;
          othersWaiting = false;
          await this.#lock.release().catch(() => undefined);
          // Also pause for a signal of any age at the periodic release: on a filesystem with coarse
          // timestamps a live waiter's signal can look old, and it must still get its turn.
          if (signalled || (await this.#lock.othersWaiting(Number.POSITIVE_INFINITY))) {
            await sleep(2 + Math.random() * 20);
          }
        }
        if (!held) {
          try {
            await this.#lock.acquire();
          } catch (error) {
            this.#fail(this.#cut(), error);
            continue;
          }
          held = true;
          heldSince = Date.now();
          checkedSince = heldSince;
          fresh = true;
        }
        // Under sustained load from callers that wait for their event before sending the next, one
        // batch would hold everyone, so the CPU idles during every durable write. Once this drain has
        // committed a batch and finds all callers queued again (nothing awaiting settlement), it
        // writes half now: the two halves then alternate, one group computing while the other's write
        // is on disk. A lone burst still shares one write.
        const split = previous === undefined && committed > 0 && this.#queue.length >= MIN_SPLIT_QUEUE;
        const batch = this.#cut(split ? Math.ceil(this.#queue.length / 2) : Number.POSITIVE_INFINITY);
        committed++;
        this.#writing = batch.length;
        const began = performance.now();
        const committing = this.#commit(batch, fresh);
        fresh = false;
        settle();
        try {
          previous = { batch, events: await committing };
        } catch (error) {
          this.#fail(batch, error);
        }
        this.#writing = 0;
        this.#lastBatchSeconds = (performance.now() - began) / 1000;
      }
    } finally {
      settle();
      if (held) await this.#lock.release().catch(() => undefined);
    }
  }

  /** Takes the next batch off the queue: at most maxBatch events and (past its first) MAX_BATCH_BYTES. */
  #cut(most = Number.POSITIVE_INFINITY): Pending[] {
    const queue = this.#queue;
    const limit = Math.min(queue.length, this.#maxBatch, most);
    let count = 0;
    let bytes = 0;
    while (count < limit) {
      bytes += worstCaseBytes(queue[count]!.prepared);
      if (count > 0 && bytes > MAX_BATCH_BYTES) break;
      count++;
    }
    if (count === queue.length) {
      this.#queue = [];
      return queue;
    }
    return queue.splice(0, count);
  }

  #fail(batch: readonly Pending[], error: unknown): void {
    this.#counters.failedBatches++;
    const failure =
      error instanceof AgentSafeError ? error : writeFailed(this.path, 'appending a batch', error);
    for (const pending of batch) pending.reject(failure);
  }

  /** One batch (the caller holds the lock): find the tail, chain, one write, one fdatasync. */
  async #commit(batch: readonly Pending[], freshLock: boolean): Promise<AuditEvent[]> {
    {
      // While we have held the lock since our last write, nobody else can have written: skip the stat.
      const before = this.#cached;
      const statted =
        before === undefined ||
        freshLock ||
        this.#forceStat ||
        Date.now() - this.#statAt >= ROTATION_CHECK_MS;
      let size = statted ? await this.#currentSize() : before.size;
      // Read after the stat: it drops the cache when the path now names another file, whose size may
      // equal the old one's by chance (rotated files of one size limit often do).
      const cached = this.#cached;
      let tail: TailState;
      let continuation: Continuation | undefined;
      const continueFrom = this.#continueFrom;
      this.#continueFrom = undefined;
      if (continueFrom !== undefined && size === 0) {
        // The file was rotated away (or truncated) under us: the chain goes on in the new file.
        continuation = continueFrom;
        this.#logId = continueFrom.logId;
        tail = {
          lastSequence: continueFrom.lastSequence,
          lastHash: continueFrom.lastHash,
          needsNewline: false,
        };
      } else if (cached !== undefined && cached.size === size) {
        tail = {
          lastSequence: cached.lastSequence,
          lastHash: cached.lastHash,
          needsNewline: false,
          lastEventType: cached.lastEventType,
          lastTimestamp: cached.lastTimestamp,
        };
      } else {
        this.#cached = undefined;
        this.#counters.tailReads++;
        try {
          tail = await readTail(this.#handle, size, this.path);
        } catch (error) {
          if (error instanceof AgentSafeError) throw error;
          throw writeFailed(this.path, 'reading the end of the log', error);
        }
      }
      if (
        this.#rotate !== undefined &&
        size > 0 &&
        tail.torn === undefined &&
        !tail.needsNewline &&
        this.#rotationDue(size, tail)
      ) {
        continuation = await this.#rotateFile(size, tail);
        if (continuation !== undefined) size = 0;
      }
      const encoder = this.#encoder;
      encoder.reset();
      if (tail.needsNewline) encoder.newline();
      let sequence = tail.lastSequence;
      let prevHash = tail.lastHash;
      let lastTimestamp = tail.lastTimestamp;
      if (continuation !== undefined) {
        lastTimestamp = new Date(this.#clock.now()).toISOString();
        const continued = prepareEvent(
          {
            event_id: randomId('evt'),
            timestamp: lastTimestamp,
            event_type: CONTINUED_EVENT_TYPE,
            log_id: continuation.logId ?? null,
            previous_file: continuation.previousFile,
            previous_sequence: continuation.lastSequence,
            reason: continuation.reason,
          },
          { file: this.path, maxEventBytes: Number.MAX_SAFE_INTEGER, allowReserved: true },
        );
        prevHash = encoder.append(continued, ++sequence, prevHash);
      }
      if (tail.torn !== undefined) {
        const recovery = prepareEvent(
          {
            event_id: randomId('evt'),
            timestamp: new Date(this.#clock.now()).toISOString(),
            event_type: 'recovery',
            reason: `line ${tail.torn.line_number} was not a complete audit event (a write cut short by a crash, or damage); it is acknowledged here and the chain continues from the last valid event`,
            torn_line: tail.torn,
          },
          { file: this.path, maxEventBytes: Number.MAX_SAFE_INTEGER, allowReserved: true },
        );
        prevHash = encoder.append(recovery, ++sequence, prevHash);
      }
      const checkpoint = this.#checkpoint;
      if (checkpoint !== undefined && this.#logId === undefined && size > 0) {
        this.#logId = await readLogId(this.#handle, size);
      }
      const startSequence = sequence;
      let forced = false;
      let real = 0;
      const events: AuditEvent[] = new Array(batch.length);
      for (let index = 0; index < batch.length; index++) {
        const prepared = batch[index]!.prepared;
        if (prepared === CHECKPOINT_REQUEST) {
          forced = true;
          continue;
        }
        real++;
        const hash = encoder.append(prepared, ++sequence, prevHash);
        if (sequence === 1) this.#logId = hash;
        // The snapshot is this append's private copy: completing it in place saves a copy per event.
        const event = prepared.snapshot;
        event.sequence = sequence;
        event.prev_hash = prevHash;
        event.hash = hash;
        events[index] = event as AuditEvent;
        prevHash = hash;
      }
      let lastEventType =
        real > 0
          ? (batch[batch.length - 1]!.prepared.snapshot.event_type as string)
          : continuation !== undefined
            ? CONTINUED_EVENT_TYPE
            : tail.lastEventType;
      for (let index = batch.length - 1; index >= 0; index--) {
        const prepared = batch[index]!.prepared;
        if (prepared !== CHECKPOINT_REQUEST) {
          lastTimestamp = prepared.snapshot.timestamp as string;
          break;
        }
      }
      let signed: SignedCheckpoint | undefined;
      if (checkpoint !== undefined && sequence > 0 && lastEventType !== CHECKPOINT_EVENT_TYPE) {
        const now = this.#clock.now();
        const crossed =
          Math.floor(startSequence / checkpoint.every) !== Math.floor(sequence / checkpoint.every);
        if (forced || crossed || Date.now() - this.#lastCheckpointAt >= checkpoint.intervalMilliseconds) {
          if (sequence === 1 && this.#logId === undefined) this.#logId = prevHash;
          const time = new Date(now).toISOString();
          signed = signCheckpoint(
            {
              alg: checkpoint.key.algorithm,
              log_id: this.#logId ?? prevHash,
              sequence,
              head_hash: prevHash,
              time,
              key_id: checkpoint.key.keyId,
            },
            checkpoint.key,
          );
          const { signature, ...statement } = signed;
          const prepared = prepareEvent(
            {
              event_id: randomId('evt'),
              timestamp: time,
              event_type: CHECKPOINT_EVENT_TYPE,
              checkpoint: statement,
              signature,
            },
            { file: this.path, maxEventBytes: Number.MAX_SAFE_INTEGER, allowReserved: true },
          );
          prevHash = encoder.append(prepared, ++sequence, prevHash);
          lastEventType = CHECKPOINT_EVENT_TYPE;
          lastTimestamp = time;
        }
      }
      const bytes = encoder.bytes();
      try {
        await this.#write(bytes, size);
      } catch (error) {
        // The new file is empty again: the next batch must still continue the chain, not restart it.
        if (continuation !== undefined) this.#continueFrom = continuation;
        throw error;
      }
      this.#cached = {
        size: size + bytes.length,
        lastSequence: sequence,
        lastHash: prevHash,
        lastEventType,
        lastTimestamp,
      };
      if (signed !== undefined) {
        this.#counters.checkpoints++;
        this.#lastCheckpointAt = Date.now();
        this.#uncheckpointed = 0;
        // Off the batch's path: the events and the in-log checkpoint are already durable, and the
        // appends of one writer stay in order (verify does not need the file in order across writers).
        const file = checkpoint!.file;
        const durable = this.#durability === 'fsync';
        const statement = signed;
        this.#checkpointWrites = this.#checkpointWrites.then(() =>
          appendCheckpoints(file, [statement], durable).then(
            () => {
              this.lastCheckpointFileError = undefined;
            },
            (error: unknown) => {
              this.#counters.checkpointFileFailures++;
              this.lastCheckpointFileError = error;
            },
          ),
        );
      } else {
        this.#uncheckpointed += real;
      }
      if (tail.torn !== undefined) this.#counters.recoveries++;
      this.#counters.batches++;
      return events;
    }
  }

  /** Size of the file at the path, reopening when the path now names a different file (e.g. rotated). */
  async #currentSize(): Promise<number> {
    let info: { readonly ino: number; readonly size: number };
    try {
      info = await stat(this.path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw writeFailed(this.path, 'stat', error);
      info = { ino: -1, size: 0 };
    }
    this.#statAt = Date.now();
    this.#forceStat = false;
    if (info.ino !== this.#inode) {
      // The path names another file now: renamed away (logrotate), removed, or rotated by another writer.
      const { handle, inode } = await openLogFile(this.path, this.#durability);
      const old = this.#handle;
      const size = (await handle.stat()).size;
      if (size === 0) {
        // Nobody has continued the chain in the new file yet: continue it from the file we had (we
        // hold the lock, so its end is final).
        try {
          const oldSize = (await old.stat()).size;
          const cached = this.#cached;
          const end =
            cached !== undefined && cached.size === oldSize
              ? { lastSequence: cached.lastSequence, lastHash: cached.lastHash }
              : await readTail(old, oldSize, this.path);
          if (end.lastSequence > 0) {
            this.#continueFrom = {
              lastSequence: end.lastSequence,
              lastHash: end.lastHash,
              logId: this.#logId ?? (await readLogId(old, oldSize)),
              previousFile: null,
              reason: 'renamed or removed by another program',
            };
          }
        } catch {
          // The old file cannot be read: the new file starts a chain of its own, which verify reports.
        }
      }
      await old.close().catch(() => undefined);
      this.#handle = handle;
      this.#inode = inode;
      this.#cached = undefined;
      this.#logId = undefined;
      return size;
    }
    const cached = this.#cached;
    if (cached !== undefined && info.size < cached.size && info.size === 0) {
      // Truncated in place (logrotate's copytruncate): events written between its copy and its
      // truncation are lost to the copy; the chain at least goes on, and names the cut.
      this.#continueFrom = {
        lastSequence: cached.lastSequence,
        lastHash: cached.lastHash,
        logId: this.#logId,
        previousFile: null,
        reason: 'truncated in place',
      };
    }
    return info.size;
  }

  /** True when the file must be rotated before this batch (size reached, or a new UTC day). */
  #rotationDue(size: number, tail: TailState): boolean {
    const rotate = this.#rotate!;
    if (rotate.maxBytes !== undefined && size >= rotate.maxBytes) return true;
    if (rotate.daily === true && tail.lastTimestamp !== undefined) {
      const last = Date.parse(tail.lastTimestamp);
      const day = 86_400_000;
      if (Number.isFinite(last) && Math.floor(last / day) !== Math.floor(this.#clock.now() / day))
        return true;
    }
    return false;
  }

  /**
   * Renames the current file (under the lock) to `<log>.<last sequence>` and opens a new one; returns
   * where the chain continues from. Link, then unlink: the path never points nowhere, and a crash
   * between the two leaves two names for one file, which the next rotation recognises.
   */
  async #rotateFile(size: number, tail: TailState): Promise<Continuation | undefined> {
    // Only the file we hold is rotated: if another program renamed it meanwhile, the next stat
    // notices and continues the chain instead.
    const current = await stat(this.path).catch(() => undefined);
    if (current?.ino !== this.#inode) {
      this.#forceStat = true;
      return undefined;
    }
    const logId = this.#logId ?? (await readLogId(this.#handle, size));
    let rotated = `${this.path}.${String(tail.lastSequence).padStart(12, '0')}`;
    try {
      await link(this.path, rotated);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw writeFailed(this.path, 'rotating', error);
      const existing = await stat(rotated).catch(() => undefined);
      if (existing?.ino !== this.#inode) {
        rotated = `${rotated}-${randomId('r').slice(2, 10)}`;
        await link(this.path, rotated).catch((linkError: unknown) => {
          throw writeFailed(this.path, 'rotating', linkError);
        });
      }
    }
    await unlink(this.path).catch((error: unknown) => {
      throw writeFailed(this.path, 'rotating', error);
    });
    const { handle, inode } = await openLogFile(this.path, this.#durability);
    await syncDirectory(dirname(this.path));
    await this.#handle.close().catch(() => undefined);
    this.#handle = handle;
    this.#inode = inode;
    this.#cached = undefined;
    this.#logId = logId;
    this.#counters.rotations++;
    return {
      lastSequence: tail.lastSequence,
      lastHash: tail.lastHash,
      logId,
      previousFile: basename(rotated),
      reason: 'rotated',
    };
  }

  /**
   * Writes all bytes, durably when durability is 'fsync' (through O_DSYNC, or fdatasync after the
   * write). On failure the file is truncated back to `sizeBefore` (still under the lock), so no
   * unacknowledged event stays in the log; if even that fails, the cache is dropped and the next batch
   * finds and acknowledges the torn tail.
   */
  async #write(bytes: Buffer, sizeBefore: number): Promise<void> {
    let written = 0;
    let action = 'write';
    try {
      while (written < bytes.length) {
        const { bytesWritten } = await this.#handle.write(bytes, written, bytes.length - written);
        written += bytesWritten;
      }
      if (this.#durability === 'fsync') {
        if (SYNC_ON_WRITE === undefined) {
          action = 'fdatasync';
          await this.#handle.datasync();
        }
        this.#counters.fsyncs++;
      }
    } catch (error) {
      this.#cached = undefined;
      await this.#handle.truncate(sizeBefore).catch(() => undefined);
      throw writeFailed(this.path, action, error);
    }
  }
}

async function openLogFile(
  path: string,
  durability: 'fsync' | 'write',
): Promise<{ handle: FileHandle; inode: number }> {
  let handle: FileHandle;
  try {
    handle = await open(path, openFlags(durability), 0o600);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      const directory = dirname(path);
      throw new AgentSafeError(
        'AUDIT_WRITE_FAILED',
        `cannot open audit log ${path}: directory ${directory} does not exist`,
        {
          cause: error,
          issues: [
            { file: path, message: `create the directory ${directory} first (it is not created for you)` },
          ],
          details: { file: path, directory, errno: code },
        },
      );
    }
    if (code === 'ELOOP') {
      throw new AgentSafeError('AUDIT_WRITE_FAILED', `cannot open audit log ${path}: it is a symbolic link`, {
        cause: error,
        issues: [{ file: path, message: 'point the audit log at the real file, not a symbolic link' }],
        details: { file: path, errno: code },
      });
    }
    throw writeFailed(path, 'open', error);
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) {
      throw new AgentSafeError(
        'AUDIT_WRITE_FAILED',
        `cannot use ${path} as an audit log: not a regular file`,
        {
          issues: [{ file: path, message: 'the audit log must be a regular file' }],
          details: { file: path },
        },
      );
    }
    return { handle, inode: info.ino };
  } catch (error) {
    await handle.close().catch(() => undefined);
    if (error instanceof AgentSafeError) throw error;
    throw writeFailed(path, 'stat', error);
  }
}

/** Makes a rename in `directory` durable (best effort: not every platform can open a directory). */
async function syncDirectory(directory: string): Promise<void> {
  try {
    const handle = await open(directory, constants.O_RDONLY);
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Windows cannot fsync a directory; the rename is still atomic.
  }
}
