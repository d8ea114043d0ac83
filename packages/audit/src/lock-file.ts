import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, open, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { AgentSafeError } from '@agent-safe/core';

/** Options of {@link LockFile}. */
export interface LockFileOptions {
  /** Give up after this long (ms). */
  readonly timeoutMilliseconds: number;
  /** A lock older than this (ms, by its file's mtime) is taken to be abandoned. */
  readonly staleMilliseconds: number;
  /** The log the lock protects (named in errors). */
  readonly logPath: string;
}

/** Counters a test or operator can read. */
export interface LockStatistics {
  acquisitions: number;
  /** Failed attempts that waited and retried. */
  retries: number;
  /** Stale locks removed. */
  staleLocksRemoved: number;
}

interface LockContent {
  readonly pid?: unknown;
  readonly hostname?: unknown;
  readonly token?: unknown;
  readonly created?: unknown;
}

const HOST = hostname();
const FIRST_BACKOFF_MS = 1;
const MAX_BACKOFF_MS = 20;
/** A breaker (see #removeIfStale) older than this was abandoned (it is held for a few file operations). */
const BREAKER_STALE_MS = 2000;
/** A waiting signal older than this is ignored (see othersWaiting). */
const WAITING_FRESH_MS = 1000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

/**
 * An exclusive lock shared by every process on the machine (and on a shared filesystem that honours
 * O_EXCL), implemented as a file created with O_CREAT|O_EXCL (`wx`) holding pid, hostname and a random
 * token. Node 20 has no flock. See the package README for the stale-lock protocol and its residual race.
 */
export class LockFile {
  readonly path: string;
  readonly statistics: LockStatistics = { acquisitions: 0, retries: 0, staleLocksRemoved: 0 };
  readonly #options: LockFileOptions;
  #token: string | undefined;
  #acquiredAt = 0;

  constructor(path: string, options: LockFileOptions) {
    this.path = path;
    this.#options = options;
  }

  /** Takes the lock, waiting with jittered exponential backoff; throws AUDIT_LOCK_TIMEOUT on timeout. */
  async acquire(): Promise<void> {
    const deadline = Date.now() + this.#options.timeoutMilliseconds;
    let backoff = FIRST_BACKOFF_MS;
    let waited = false;
    while (true) {
      const token = randomBytes(16).toString('hex');
      const content = JSON.stringify({ pid: process.pid, hostname: HOST, token, created: Date.now() });
      try {
        await createExclusive(this.path, content);
        this.#token = token;
        this.#acquiredAt = Date.now();
        if (waited) await unlink(this.#waitingPath).catch(() => undefined);
        this.statistics.acquisitions++;
        return;
      } catch (error) {
        if (errorCode(error) !== 'EEXIST') {
          throw new AgentSafeError(
            'AUDIT_WRITE_FAILED',
            `cannot create the audit lock file ${this.path}: ${(error as Error).message}`,
            {
              cause: error,
              issues: [
                {
                  file: this.path,
                  message:
                    'the directory of the audit log must be writable: the lock file lives next to the log',
                },
              ],
            },
          );
        }
      }
      if (await this.#removeIfStale()) continue;
      // Tell a holder that keeps the lock across batches that someone is waiting (see othersWaiting).
      await touchWaiting(this.#waitingPath).catch(() => undefined);
      const now = Date.now();
      if (now >= deadline) throw await this.#timeoutError();
      this.statistics.retries++;
      waited = true;
      // Full jitter between half and all of the backoff so contending processes spread out.
      const wait = Math.min(backoff * (0.5 + Math.random() * 0.5), deadline - now);
      await sleep(wait);
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    }
  }

  /**
   * True when another writer has signalled (through `<lock>.waiting`) within `maxAgeMilliseconds` that
   * it waits for the lock. A waiter rewrites that file on every retry, at least every
   * {@link MAX_BACKOFF_MS} ms, so by default a file untouched for {@link WAITING_FRESH_MS} is taken to be
   * left by a writer that gave up or died (on a filesystem with coarse timestamps it may merely look so).
   */
  async othersWaiting(maxAgeMilliseconds: number = WAITING_FRESH_MS): Promise<boolean> {
    try {
      const { mtimeMs } = await lstat(this.#waitingPath);
      return Date.now() - mtimeMs < maxAgeMilliseconds;
    } catch {
      return false;
    }
  }

  get #waitingPath(): string {
    return `${this.path}.waiting`;
  }

  /**
   * Releases the lock. A lock can only be taken from us if it looked stale, which needs it held for
   * `staleMilliseconds`; below half of that we unlink directly, saving a read on the hot path; above it
   * we check the token first so we never delete another process's lock.
   */
  async release(): Promise<void> {
    const token = this.#token;
    if (token === undefined) return;
    this.#token = undefined;
    try {
      if (Date.now() - this.#acquiredAt >= this.#options.staleMilliseconds / 2) {
        const current = await this.#read(this.path);
        if (current?.token !== token) return;
      }
      await unlink(this.path);
    } catch (error) {
      if (errorCode(error) !== 'ENOENT') throw error;
    }
  }

  async #read(path: string): Promise<LockContent | undefined> {
    try {
      const text = await readSmallFile(path);
      const parsed = JSON.parse(text) as unknown;
      return parsed !== null && typeof parsed === 'object' ? (parsed as LockContent) : {};
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return undefined;
      // Unreadable or half-written (created but not yet filled): judged by age alone.
      return {};
    }
  }

  /** Why the lock at `path` is stale, or undefined when it is (or may be) live. */
  async #staleness(): Promise<{ reason: string; content: LockContent } | undefined> {
    let modified: number;
    try {
      modified = (await lstat(this.path)).mtimeMs;
    } catch {
      return undefined; // gone: the caller simply retries
    }
    const content = await this.#read(this.path);
    if (content === undefined) return undefined;
    const age = Date.now() - modified;
    if (age > this.#options.staleMilliseconds) {
      return { reason: `it is ${Math.round(age)} ms old`, content };
    }
    if (content.hostname === HOST && typeof content.pid === 'number' && Number.isSafeInteger(content.pid)) {
      if (content.pid > 0 && !processAlive(content.pid)) {
        return { reason: `its process ${content.pid} is not running`, content };
      }
    }
    return undefined;
  }

  /**
   * Removes a stale lock without ever removing a live one. Only the holder of `<lock>.break` (created
   * with O_EXCL) may remove a lock that is not its own: under it, the lock is judged again and deleted
   * only if it still carries the token judged stale. Nobody else deletes a lock it does not hold, so
   * between that second look and the unlink the lock cannot have been replaced by a live one. (Moving
   * the lock aside by rename, as before, let a slow remover move a live lock just taken by another
   * process, and a third process then took the lock too: two holders, a forked chain.)
   */
  async #removeIfStale(): Promise<boolean> {
    const stale = await this.#staleness();
    if (stale === undefined) return false;
    const breaker = `${this.path}.break`;
    try {
      await createExclusive(
        breaker,
        JSON.stringify({ pid: process.pid, hostname: HOST, created: Date.now() }),
      );
    } catch (error) {
      if (errorCode(error) !== 'EEXIST') return false;
      // Another process is removing the stale lock; clear its breaker only if it was left behind.
      await this.#removeAbandonedBreaker(breaker);
      return false;
    }
    try {
      const again = await this.#staleness();
      if (again === undefined || again.content.token !== stale.content.token) return false;
      try {
        await unlink(this.path);
      } catch (error) {
        if (errorCode(error) !== 'ENOENT') return false;
      }
      this.statistics.staleLocksRemoved++;
      return true;
    } finally {
      await unlink(breaker).catch(() => undefined);
    }
  }

  /**
   * A breaker is held for a few file operations; one whose process is gone (this host), or older than
   * {@link BREAKER_STALE_MS}, was left by a remover that died, and is deleted so removal can go on.
   * (Two processes deleting an abandoned breaker at once is the one residual race left: it needs a
   * remover to die inside that window of a few file operations.)
   */
  async #removeAbandonedBreaker(breaker: string): Promise<void> {
    let modified: number;
    try {
      modified = (await lstat(breaker)).mtimeMs;
    } catch {
      return;
    }
    const content = await this.#read(breaker);
    if (content === undefined) return;
    const dead =
      content.hostname === HOST &&
      typeof content.pid === 'number' &&
      Number.isSafeInteger(content.pid) &&
      content.pid > 0 &&
      !processAlive(content.pid);
    if (dead || Date.now() - modified > BREAKER_STALE_MS) await unlink(breaker).catch(() => undefined);
  }

  async #timeoutError(): Promise<AgentSafeError> {
    const content = await this.#read(this.path);
    const holder =
      content === undefined
        ? 'it was released just now'
        : `held by pid ${String(content.pid ?? '?')} on host ${String(content.hostname ?? '?')}`;
    return new AgentSafeError(
      'AUDIT_LOCK_TIMEOUT',
      `could not lock audit log ${this.#options.logPath} within ${this.#options.timeoutMilliseconds} ms: lock file ${this.path} is ${holder}`,
      {
        issues: [
          {
            file: this.path,
            message:
              'another writer is holding the lock; if no process is writing this log (the holder is gone), delete this lock file and retry',
          },
        ],
        details: { lockFile: this.path, holder: content ?? null },
      },
    );
  }
}

// O_NOFOLLOW everywhere: a symbolic link planted at a side-file path must never redirect a write (or a
// read) to another file; O_EXCL: a lock is only ever a file we created.
const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
const TOUCH_FLAGS = constants.O_WRONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
/** A lock file holds about 150 bytes; more is not a lock file. */
const MAX_LOCK_BYTES = 4096;

/** Creates `path` (0600) holding `content`; fails with EEXIST when anything, a symlink too, is there. */
async function createExclusive(path: string, content: string): Promise<void> {
  const handle = await open(path, CREATE_FLAGS, 0o600);
  try {
    await handle.write(content);
  } finally {
    await handle.close();
  }
}

/**
 * Refreshes the mtime of the waiting signal `path`, creating it (0600, exclusively) when absent. Never
 * truncates or writes into an existing file: whatever is found there that is not a regular file of ours
 * with a single link (a symlink, a hard link to another file, a device) is removed and replaced.
 */
async function touchWaiting(path: string): Promise<void> {
  for (let attempt = 0; attempt < 3; attempt++) {
    let handle: Awaited<ReturnType<typeof open>> | undefined;
    try {
      handle = await open(path, TOUCH_FLAGS);
    } catch (error) {
      const code = errorCode(error);
      if (code === 'ENOENT') {
        try {
          await createExclusive(path, String(process.pid));
          return;
        } catch (createError) {
          if (errorCode(createError) === 'EEXIST') continue;
          throw createError;
        }
      }
      // ELOOP (a symlink), ENXIO (a FIFO without reader) …: not ours; remove the entry itself.
      await unlink(path);
      continue;
    }
    try {
      const stats = await handle.stat();
      const uid = typeof process.getuid === 'function' ? process.getuid() : stats.uid;
      if (stats.isFile() && stats.nlink === 1 && stats.uid === uid) {
        const now = new Date();
        await handle.utimes(now, now);
        return;
      }
    } finally {
      await handle.close();
    }
    await unlink(path);
  }
}

/** Reads a small regular file without following a symlink or blocking on a FIFO. */
async function readSmallFile(path: string): Promise<string> {
  const handle = await open(path, READ_FLAGS);
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) return '';
    const buffer = Buffer.alloc(MAX_LOCK_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, MAX_LOCK_BYTES, 0);
    return buffer.toString('utf8', 0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** True when a process with this pid exists on this host (EPERM means it exists but is not ours). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errorCode(error) !== 'ESRCH';
  }
}
