import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  fstatSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readSync,
  renameSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { readdir, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  AgentSafeError,
  type BreakerAdmission,
  type BreakerRecord,
  type BreakerSettings,
  type CircuitBreakerStore,
  type GuardStepInput,
  type GuardStepResult,
  type GuardStepStore,
  type SlidingWindowStore,
  type WindowAdd,
  type WindowTake,
} from '@agent-safe/core';
import { DirectoryLock } from './directory-lock.js';
import * as semantics from './guard-state.js';
import type { GuardState } from './guard-state.js';
import { decodeState, encodeState, StateFormatError, type StateLimits } from './state-codec.js';
import { checkKey, checkLimit, checkOption, checkSettings, checkTime, checkWeight } from './validate.js';

/** Options of {@link FileGuardStore}. */
export interface FileGuardStoreOptions {
  /**
   * Directory holding the state (created with mode 0700 if missing). It must be a real directory (not
   * a symbolic link), owned by this user and not writable by group or others.
   */
  readonly directory: string;
  /** Give up waiting for another process's lock after this long (default 10 000 ms). */
  readonly lockTimeoutMs?: number;
  /** A lock held longer than this is taken to be abandoned (default 5 000 ms; an operation takes ~1 ms). */
  readonly staleLockMs?: number;
  /** Most keys of each kind (default 10 000); beyond it the least recently used are forgotten. */
  readonly maxKeys?: number;
  /** Most entries per key (default 1 000); beyond it the oldest are merged (stricter, never looser). */
  readonly maxEntriesPerKey?: number;
  /** Largest state file (default 16 MiB); a larger file is refused, a write keeps the newest keys. */
  readonly maxBytes?: number;
  /** `fsync` (default): the state file is on disk before the answer. `write`: the OS flushes it later. */
  readonly durability?: 'fsync' | 'write';
}

/** Name of the state file inside the directory. */
export const STATE_FILE = 'guard-state.json';
const LOCK_FILE = 'guard-state.lock';
const TEMP_PREFIX = `${STATE_FILE}.tmp-`;
const DEFAULT_MAX_BYTES = 16 * 1024 * 1024;

function isOwnedByAnotherUser(uid: number): boolean {
  return typeof process.getuid === 'function' && uid !== process.getuid();
}

function directoryError(message: string, path: string, fix: string, cause?: unknown): AgentSafeError {
  return new AgentSafeError('FILE_UNWRITABLE', message, {
    issues: [{ file: path, message: fix }],
    ...(cause === undefined ? {} : { cause }),
  });
}

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

/** Throws FILE_UNWRITABLE unless `path` is a real directory of this user that others cannot write. */
function checkDirectory(path: string): void {
  const stats = lstatSync(path);
  if (stats.isSymbolicLink()) {
    throw directoryError(
      `The guard state directory ${path} is a symbolic link; refused`,
      path,
      'use the real directory path',
    );
  }
  if (!stats.isDirectory()) {
    throw directoryError(
      `The guard state path ${path} is not a directory`,
      path,
      'point store: file:PATH at a directory',
    );
  }
  if ((stats.mode & 0o022) !== 0) {
    throw directoryError(
      `The guard state directory ${path} is writable by other users (mode ${(stats.mode & 0o777).toString(8)}); refused`,
      path,
      `run \`chmod 700 ${path}\`: anyone who can write here can reset rate limits and cumulative risk`,
    );
  }
  if (isOwnedByAnotherUser(stats.uid)) {
    throw directoryError(
      `The guard state directory ${path} belongs to another user; refused`,
      path,
      'use a directory owned by this user',
    );
  }
}

/**
 * Guard state (rate-limit windows, circuit breakers, cumulative-risk weights) in one directory, shared
 * by every process of one machine: what the CLI needs, where each `agent-safe check` is a new process.
 *
 * Every operation takes an exclusive lock file, reads the state file, applies exactly the semantics of
 * core's in-memory stores, writes the result to a temporary file (fsync) and renames it over the state
 * file, then releases the lock. So N processes enforce exactly the limits one would; a crash leaves
 * the previous or the new state, never a torn one (a torn temporary file is ignored and removed); a
 * lock left by a killed process is recovered. A state file that is not valid guard state, or larger
 * than `maxBytes`, is refused: every operation rejects with an error naming the file (fail closed).
 */
export class FileGuardStore implements SlidingWindowStore, CircuitBreakerStore, GuardStepStore {
  readonly directory: string;
  /** The state file, e.g. `/srv/project/.agent-safe/state/guard-state.json`. */
  readonly file: string;
  /** Names the store in errors and refusals. */
  readonly name: string;
  readonly #lock: DirectoryLock;
  readonly #limits: StateLimits;
  readonly #fsync: boolean;
  /** The encoding of no state: a missing file that would be written as this needs no write. */
  readonly #emptyText: string;
  /** Operations of this process run one after another (the lock file serialises processes). */
  #queue: Promise<unknown> = Promise.resolve();

  /** Creates or checks the directory; throws FILE_UNWRITABLE for a symlink, a foreign or shared one. */
  constructor(options: FileGuardStoreOptions) {
    if (typeof options?.directory !== 'string' || options.directory.length === 0) {
      throw new AgentSafeError('USAGE', 'FileGuardStore needs a directory', {
        issues: [{ path: 'directory', message: 'pass the path of a directory only this user can write' }],
      });
    }
    this.directory = resolve(options.directory);
    this.file = join(this.directory, STATE_FILE);
    this.name = `file guard store at ${this.directory}`;
    const lockTimeoutMs = checkOption(options.lockTimeoutMs ?? 10_000, 'lockTimeoutMs', 1, 600_000);
    const staleLockMs = checkOption(options.staleLockMs ?? 5_000, 'staleLockMs', 100, 3_600_000);
    this.#limits = {
      maxKeys: checkOption(options.maxKeys ?? 10_000, 'maxKeys', 1, 10_000_000),
      maxEntriesPerKey: checkOption(options.maxEntriesPerKey ?? 1_000, 'maxEntriesPerKey', 1, 10_000_000),
      maxBytes: checkOption(options.maxBytes ?? DEFAULT_MAX_BYTES, 'maxBytes', 1024, 1024 * 1024 * 1024),
    };
    const durability = options.durability ?? 'fsync';
    if (durability !== 'fsync' && durability !== 'write') {
      throw new AgentSafeError('USAGE', `FileGuardStore: durability must be "fsync" or "write"`, {
        issues: [{ path: 'durability', message: `expected "fsync" or "write", got ${String(durability)}` }],
      });
    }
    this.#fsync = durability === 'fsync';
    this.#emptyText = encodeState({ windows: new Map(), breakers: new Map() }, 0, this.#limits);
    try {
      mkdirSync(this.directory, { recursive: true, mode: 0o700 });
    } catch (error) {
      // A file in the way is reported by the check below.
      if (errorCode(error) !== 'EEXIST')
        throw directoryError(
          `The guard state directory ${this.directory} could not be created: ${(error as Error).message}`,
          this.directory,
          'choose a directory this user can create, e.g. store: file:./.agent-safe/state',
          error,
        );
    }
    checkDirectory(this.directory);
    this.#lock = new DirectoryLock(join(this.directory, LOCK_FILE), {
      timeoutMs: lockTimeoutMs,
      staleMs: staleLockMs,
      storeName: this.name,
    });
  }

  /**
   * Checks a state directory without changing anything (no directory is created, no lock taken): the
   * problem every operation would report, or undefined when the store is usable or not yet created.
   * For `agent-safe validate`.
   */
  static inspect(options: FileGuardStoreOptions): string | undefined {
    const directory = resolve(options.directory);
    try {
      lstatSync(directory);
    } catch (error) {
      return errorCode(error) === 'ENOENT' ? undefined : (error as Error).message;
    }
    try {
      checkDirectory(directory);
      const limits = {
        maxKeys: options.maxKeys ?? 10_000,
        maxEntriesPerKey: options.maxEntriesPerKey ?? 1_000,
        maxBytes: options.maxBytes ?? DEFAULT_MAX_BYTES,
      };
      const file = join(directory, STATE_FILE);
      const text = readStateFile(file, `file guard store at ${directory}`, limits.maxBytes);
      if (text !== undefined) decodeChecked(text, file, `file guard store at ${directory}`, limits);
      return undefined;
    } catch (error) {
      return (error as Error).message;
    }
  }

  /** Stale locks (left by killed processes) this instance recovered. */
  get staleLocksRemoved(): number {
    return this.#lock.staleLocksRemoved;
  }

  take(key: string, now: number, windowMs: number, limit: number): Promise<WindowTake> {
    try {
      checkKey(key);
      checkTime(now, windowMs);
      checkLimit(limit);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#transact(now, (state) => semantics.take(state, key, now, windowMs, limit));
  }

  addBelow(key: string, now: number, windowMs: number, weight: number, ceiling: number): Promise<WindowAdd> {
    try {
      checkKey(key);
      checkTime(now, windowMs);
      checkWeight(weight, ceiling);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#transact(now, (state) => semantics.addBelow(state, key, now, windowMs, weight, ceiling));
  }

  clear(key: string): Promise<void> {
    try {
      checkKey(key);
    } catch (error) {
      return Promise.reject(error);
    }
    // No time: nothing is dropped as idle by a clear.
    return this.#transact(Number.NEGATIVE_INFINITY, (state) => semantics.clear(state, key));
  }

  admit(key: string, now: number, settings: BreakerSettings): Promise<BreakerAdmission> {
    try {
      checkKey(key);
      checkSettings(settings);
      checkTime(now, settings.windowMs, 'settings.windowMs');
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#transact(now, (state) => semantics.admit(state, key, now, settings));
  }

  record(
    key: string,
    now: number,
    denied: boolean,
    probe: boolean,
    settings: BreakerSettings,
  ): Promise<BreakerRecord> {
    try {
      checkKey(key);
      checkSettings(settings);
      checkTime(now, settings.windowMs, 'settings.windowMs');
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#transact(now, (state) => semantics.record(state, key, now, denied, probe, settings));
  }

  /** Every guard step of one check in one locked read-modify-write (see core's GuardStepStore). */
  guardStep(input: GuardStepInput): Promise<GuardStepResult> {
    try {
      const now = input.now;
      if (input.breaker !== undefined) {
        checkKey(input.breaker.key, 'breaker.key');
        checkSettings(input.breaker.settings, 'breaker.settings');
        checkTime(now, input.breaker.settings.windowMs, 'breaker.settings.windowMs');
      }
      if (input.window !== undefined) {
        checkKey(input.window.key, 'window.key');
        checkTime(now, input.window.windowMs, 'window.windowMs');
        checkLimit(input.window.limit, 'window.limit');
      }
      if (input.weights !== undefined) {
        checkKey(input.weights.key, 'weights.key');
        checkTime(now, input.weights.windowMs, 'weights.windowMs');
        checkWeight(input.weights.weight, input.weights.ceiling, 'weights.');
      }
      checkTime(now, 1);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#transact(input.now, (state) => semantics.guardStep(state, input));
  }

  /** Nothing to release: no handle stays open between operations. Waits for running operations. */
  async close(): Promise<void> {
    await this.#queue.catch(() => undefined);
  }

  #transact<T>(now: number, apply: (state: GuardState) => T): Promise<T> {
    const run = this.#queue.then(
      () => this.#locked(now, apply),
      () => this.#locked(now, apply),
    );
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #locked<T>(now: number, apply: (state: GuardState) => T): Promise<T> {
    const recovered = this.#lock.staleLocksRemoved;
    await this.#lock.acquire();
    try {
      // Someone crashed: its temporary file (if any) is garbage.
      if (this.#lock.staleLocksRemoved !== recovered) await this.#removeTemporaryFiles();
      const text = readStateFile(this.file, this.name, this.#limits.maxBytes);
      const state =
        text === undefined
          ? { windows: new Map(), breakers: new Map() }
          : decodeChecked(text, this.file, this.name, this.#limits);
      const result = apply(state);
      const next = encodeState(state, now, this.#limits);
      if (next !== (text ?? this.#emptyText)) this.#write(next);
      return result;
    } finally {
      await this.#lock.release();
    }
  }

  #write(text: string): void {
    const temporary = join(this.directory, `${TEMP_PREFIX}${process.pid}-${randomBytes(6).toString('hex')}`);
    try {
      const descriptor = openSync(
        temporary,
        constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL,
        0o600,
      );
      try {
        writeFileSync(descriptor, text);
        if (this.#fsync) fsyncSync(descriptor);
      } finally {
        closeSync(descriptor);
      }
      renameSync(temporary, this.file);
    } catch (error) {
      try {
        unlinkSync(temporary);
      } catch {
        // Never created, or already renamed.
      }
      throw ioError(this.file, this.name, 'write', error);
    }
  }

  async #removeTemporaryFiles(): Promise<void> {
    const names = await readdir(this.directory).catch(() => [] as string[]);
    for (const name of names) {
      if (name.startsWith(TEMP_PREFIX)) await unlink(join(this.directory, name)).catch(() => undefined);
    }
  }
}

function ioError(file: string, name: string, operation: 'read' | 'write', error: unknown): AgentSafeError {
  if (error instanceof AgentSafeError) return error;
  return new AgentSafeError(
    'INTERNAL',
    `${name}: cannot ${operation} the state file ${file}: ${(error as Error).message}`,
    {
      cause: error,
      issues: [{ file, message: 'the state directory must be readable and writable by this user' }],
    },
  );
}

/**
 * The state file's text, or undefined when there is none yet. Bounded; never follows a symlink.
 * Synchronous, like the write: inside the lock each call is a few microseconds of local I/O, far
 * cheaper than a hop through the thread pool.
 */
function readStateFile(file: string, name: string, maxBytes: number): string | undefined {
  let descriptor: number;
  try {
    descriptor = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined;
    throw ioError(file, name, 'read', error);
  }
  try {
    const stats = fstatSync(descriptor);
    if (!stats.isFile()) throw ioError(file, name, 'read', new Error('it is not a regular file'));
    if (stats.size > maxBytes) {
      throw new AgentSafeError(
        'INTERNAL',
        `${name}: the state file ${file} is ${stats.size} bytes, over the ${maxBytes}-byte limit`,
        {
          issues: [
            {
              file,
              message: 'it was not written by this store; inspect it, or delete it to reset guard state',
            },
          ],
        },
      );
    }
    const buffer = Buffer.allocUnsafe(stats.size + 1);
    let length = 0;
    while (length < buffer.length) {
      const bytesRead = readSync(descriptor, buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > stats.size) throw ioError(file, name, 'read', new Error('it grew while being read'));
    return buffer.toString('utf8', 0, length);
  } catch (error) {
    throw ioError(file, name, 'read', error);
  } finally {
    closeSync(descriptor);
  }
}

/** Decodes the state, or throws naming the file and what is wrong with it. */
function decodeChecked(text: string, file: string, name: string, limits: StateLimits): GuardState {
  try {
    return decodeState(text, limits);
  } catch (error) {
    if (!(error instanceof StateFormatError)) throw error;
    throw new AgentSafeError(
      'INTERNAL',
      `${name}: the state file ${file} is not valid guard state: ${error.message}`,
      {
        issues: [
          {
            file,
            message:
              'inspect it; deleting it resets every rate-limit window, circuit breaker and cumulative-risk score',
          },
        ],
      },
    );
  }
}
