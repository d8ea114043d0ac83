import { randomBytes } from 'node:crypto';
import { closeSync, openSync, unlinkSync, writeFileSync } from 'node:fs';
import { link, open, rename, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { AgentSafeError } from '@agent-safe/core';

/** Options of {@link DirectoryLock}. */
export interface DirectoryLockOptions {
  /** Give up after this long (ms). */
  readonly timeoutMs: number;
  /** A lock whose file is older than this (ms) is taken to be abandoned even if its pid looks alive. */
  readonly staleMs: number;
  /** Names the store in errors. */
  readonly storeName: string;
}

interface LockContent {
  readonly pid?: unknown;
  readonly hostname?: unknown;
  readonly token?: unknown;
}

const HOST = hostname();
const FIRST_BACKOFF_MS = 1;
const MAX_BACKOFF_MS = 20;
/** Lock files are a few dozen bytes; anything longer is not ours and is judged by age alone. */
const MAX_LOCK_BYTES = 512;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

/**
 * An exclusive lock shared by the processes of one machine: a file created with O_CREAT|O_EXCL holding
 * pid, hostname and a random token (Node 20 has no flock). A lock whose process is gone (same host, pid
 * not running: a holder killed with SIGKILL) or whose file is older than `staleMs` is removed with the
 * rename-then-verify protocol of the audit log's lock, so a live lock is never deleted by mistake.
 */
export class DirectoryLock {
  readonly path: string;
  /** Stale locks this instance removed (for tests and monitoring). */
  staleLocksRemoved = 0;
  readonly #options: DirectoryLockOptions;
  #token: string | undefined;
  #acquiredAt = 0;

  constructor(path: string, options: DirectoryLockOptions) {
    this.path = path;
    this.#options = options;
  }

  /** Takes the lock, waiting with jittered exponential backoff; rejects (INTERNAL) on timeout. */
  async acquire(): Promise<void> {
    const deadline = Date.now() + this.#options.timeoutMs;
    let backoff = FIRST_BACKOFF_MS;
    while (true) {
      const token = randomBytes(12).toString('hex');
      try {
        // Synchronous: a lock attempt is two local system calls, cheaper than the thread pool.
        const descriptor = openSync(this.path, 'wx', 0o600);
        try {
          writeFileSync(descriptor, JSON.stringify({ pid: process.pid, hostname: HOST, token }));
        } finally {
          closeSync(descriptor);
        }
        this.#token = token;
        this.#acquiredAt = Date.now();
        return;
      } catch (error) {
        if (errorCode(error) !== 'EEXIST') {
          throw new AgentSafeError(
            'INTERNAL',
            `${this.#options.storeName}: cannot create the lock file ${this.path}: ${(error as Error).message}`,
            {
              cause: error,
              issues: [{ file: this.path, message: 'the state directory must be writable by this user' }],
            },
          );
        }
      }
      if (await this.#removeIfStale()) continue;
      const now = Date.now();
      if (now >= deadline) throw await this.#timeoutError();
      await sleep(Math.min(backoff * (0.5 + Math.random() * 0.5), deadline - now));
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    }
  }

  /** Releases the lock; after a long hold, only if it is still ours (it may have been judged stale). */
  async release(): Promise<void> {
    const token = this.#token;
    if (token === undefined) return;
    this.#token = undefined;
    try {
      if (Date.now() - this.#acquiredAt >= this.#options.staleMs / 2) {
        const current = await this.#read(this.path);
        if (current?.token !== token) return;
      }
      unlinkSync(this.path);
    } catch (error) {
      if (errorCode(error) !== 'ENOENT') throw error;
    }
  }

  async #read(path: string): Promise<LockContent | undefined> {
    try {
      const handle = await open(path, 'r');
      let text: string;
      try {
        const buffer = Buffer.alloc(MAX_LOCK_BYTES + 1);
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
        if (bytesRead > MAX_LOCK_BYTES) return {};
        text = buffer.toString('utf8', 0, bytesRead);
      } finally {
        await handle.close();
      }
      const parsed = JSON.parse(text) as unknown;
      return parsed !== null && typeof parsed === 'object' ? (parsed as LockContent) : {};
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return undefined;
      // Half-written (created, not yet filled) or not ours: judged by age alone.
      return {};
    }
  }

  async #staleness(): Promise<LockContent | undefined> {
    let modified: number;
    try {
      modified = (await stat(this.path)).mtimeMs;
    } catch {
      return undefined;
    }
    const content = await this.#read(this.path);
    if (content === undefined) return undefined;
    if (Date.now() - modified > this.#options.staleMs) return content;
    if (
      content.hostname === HOST &&
      typeof content.pid === 'number' &&
      Number.isSafeInteger(content.pid) &&
      content.pid > 0 &&
      !processAlive(content.pid)
    ) {
      return content;
    }
    return undefined;
  }

  /**
   * Removes a stale lock without removing a live one: rename it aside (atomic: one remover wins), and
   * delete it only if it still carries the stale token; otherwise link it back.
   */
  async #removeIfStale(): Promise<boolean> {
    const stale = await this.#staleness();
    if (stale === undefined) return false;
    const aside = `${this.path}.stale-${process.pid}-${randomBytes(6).toString('hex')}`;
    try {
      await rename(this.path, aside);
    } catch (error) {
      return errorCode(error) === 'ENOENT';
    }
    const moved = await this.#read(aside);
    if (moved !== undefined && moved.token === stale.token) {
      await unlink(aside).catch(() => undefined);
      this.staleLocksRemoved++;
      return true;
    }
    try {
      await link(aside, this.path);
    } catch {
      // A new lock already took its place.
    }
    await unlink(aside).catch(() => undefined);
    return false;
  }

  async #timeoutError(): Promise<AgentSafeError> {
    const content = await this.#read(this.path);
    const holder =
      content === undefined
        ? 'was released just now'
        : `is held by pid ${String(content.pid ?? '?')} on host ${String(content.hostname ?? '?')}`;
    return new AgentSafeError(
      'INTERNAL',
      `${this.#options.storeName} is busy: could not take its lock within ${this.#options.timeoutMs} ms (lock file ${this.path} ${holder})`,
      {
        issues: [
          {
            file: this.path,
            message:
              'another process is using the guard state; if none is (the holder is gone), delete this lock file',
          },
        ],
      },
    );
  }
}

/** True when a process with this pid exists on this host (EPERM: it exists but is not ours). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errorCode(error) !== 'ESRCH';
  }
}
