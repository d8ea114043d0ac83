import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync } from 'node:fs';
import { lstat, mkdir, open, readFile, readdir, stat, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { AgentSafeError, type Clock, type NonceStore, systemClock } from '@agent-safe/core';
import { MAX_CLOCK_SKEW_SECONDS, MAX_TICKET_TTL_SECONDS } from './constants.js';
import { assertNonceInput } from './nonce-input.js';
import { requireIntegerInRange } from './validate-options.js';

/** Options of {@link FileNonceStore}. */
export interface FileNonceStoreOptions {
  /** Directory shared by the processes that must agree on single use; created (mode 0700) if missing. */
  readonly directory: string;
  readonly clock?: Clock;
  /** Start a background sweep of expired nonces every this many consumes (0: never). Default 1000. */
  readonly pruneEvery?: number;
}

/** A file whose expiry cannot be read (a writer died between create and write) is kept this long. */
const UNREADABLE_GRACE_MS = (MAX_TICKET_TTL_SECONDS + MAX_CLOCK_SKEW_SECONDS) * 1000;

function isOwnedByAnotherUser(uid: number): boolean {
  return typeof process.getuid === 'function' && uid !== process.getuid();
}

function fsError(
  code: 'FILE_UNREADABLE' | 'FILE_UNWRITABLE',
  message: string,
  file: string,
  fix: string,
  cause?: unknown,
) {
  return new AgentSafeError(code, message, {
    issues: [{ file, message: fix }],
    ...(cause === undefined ? {} : { cause }),
  });
}

/**
 * Single-use nonces shared by the processes of one machine. Each consumed nonce is a file created with
 * O_EXCL (`open(…, 'wx')`), so exactly one process wins however many race. Files are named by the
 * SHA-256 of the nonce (never the nonce itself), sharded by its first two hex digits, and hold the
 * expiry so {@link prune} can remove dead ones.
 */
export class FileNonceStore implements NonceStore {
  readonly directory: string;
  readonly #clock: Clock;
  readonly #pruneEvery: number;
  readonly #readyShards = new Set<string>();
  #consumes = 0;
  #pruning: Promise<number> | undefined;

  /** Creates or checks the directory; throws `FILE_UNWRITABLE` for a symlink or a group/world-writable one. */
  constructor(options: FileNonceStoreOptions) {
    if (typeof options?.directory !== 'string' || options.directory.length === 0) {
      throw new AgentSafeError('USAGE', 'FileNonceStore needs a directory', {
        issues: [
          { path: 'directory', message: 'pass the path of a directory only this service user can write' },
        ],
      });
    }
    this.directory = resolve(options.directory);
    this.#clock = options.clock ?? systemClock;
    this.#pruneEvery = requireIntegerInRange(options.pruneEvery ?? 1000, 'pruneEvery', 0, 100_000_000);
    try {
      mkdirSync(this.directory, { recursive: true, mode: 0o700 });
    } catch (error) {
      throw fsError(
        'FILE_UNWRITABLE',
        'The nonce directory could not be created',
        this.directory,
        (error as Error).message,
        error,
      );
    }
    this.#checkDirectory(lstatSync(this.directory), this.directory);
  }

  #checkDirectory(
    stats: { isSymbolicLink(): boolean; isDirectory(): boolean; mode: number; uid: number },
    path: string,
  ): void {
    if (stats.isSymbolicLink()) {
      throw fsError(
        'FILE_UNWRITABLE',
        'The nonce directory is a symbolic link; refused',
        path,
        'use the real directory path',
      );
    }
    if (!stats.isDirectory()) {
      throw fsError(
        'FILE_UNWRITABLE',
        'The nonce path is not a directory',
        path,
        'point directory at a directory',
      );
    }
    if ((stats.mode & 0o022) !== 0) {
      throw fsError(
        'FILE_UNWRITABLE',
        `The nonce directory is writable by other users (mode ${(stats.mode & 0o777).toString(8)}); refused`,
        path,
        `run \`chmod 700 ${path}\`: anyone who can write here can pre-burn or delete nonces`,
      );
    }
    if (isOwnedByAnotherUser(stats.uid)) {
      throw fsError(
        'FILE_UNWRITABLE',
        'The nonce directory belongs to another user; refused',
        path,
        'use a directory owned by this service user',
      );
    }
  }

  async #shard(name: string): Promise<string> {
    const shard = join(this.directory, name);
    if (this.#readyShards.has(name)) return shard;
    try {
      await mkdir(shard, { mode: 0o700 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    this.#checkDirectory(await lstat(shard), shard);
    this.#readyShards.add(name);
    return shard;
  }

  /** Resolves true for the one caller (in any process) that records `nonce` first. */
  async consume(nonce: string, expiresAt: number): Promise<boolean> {
    assertNonceInput(nonce, expiresAt);
    const digest = createHash('sha256').update(nonce, 'utf8').digest('hex');
    let path = '';
    try {
      path = join(await this.#shard(digest.slice(0, 2)), digest);
      const handle = await open(path, 'wx', 0o600);
      try {
        await handle.writeFile(String(Math.ceil(expiresAt)));
      } finally {
        await handle.close();
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      if (error instanceof AgentSafeError) throw error;
      throw fsError(
        'FILE_UNWRITABLE',
        'The nonce could not be recorded',
        path || this.directory,
        (error as Error).message,
        error,
      );
    }
    this.#consumes += 1;
    if (this.#pruneEvery > 0 && this.#consumes % this.#pruneEvery === 0 && this.#pruning === undefined) {
      // Opportunistic and in the background: a consume never waits for a sweep.
      this.#pruning = this.prune()
        .catch(() => 0)
        .finally(() => {
          this.#pruning = undefined;
        });
    }
    return true;
  }

  /** Removes nonce files whose expiry has passed; returns how many. Safe to run from several processes. */
  async prune(): Promise<number> {
    const now = this.#clock.now();
    let removed = 0;
    let shards: string[];
    try {
      shards = await readdir(this.directory);
    } catch (error) {
      throw fsError(
        'FILE_UNREADABLE',
        'The nonce directory could not be listed',
        this.directory,
        (error as Error).message,
        error,
      );
    }
    for (const shard of shards) {
      if (!/^[0-9a-f]{2}$/.test(shard)) continue;
      const shardPath = join(this.directory, shard);
      const shardStats = await lstat(shardPath).catch(() => undefined);
      if (shardStats === undefined || !shardStats.isDirectory()) continue;
      const files = await readdir(shardPath).catch(() => [] as string[]);
      for (const file of files) {
        if (!/^[0-9a-f]{64}$/.test(file)) continue;
        const filePath = join(shardPath, file);
        if (await this.#isExpired(filePath, now)) {
          await unlink(filePath).then(
            () => {
              removed += 1;
            },
            () => undefined,
          );
        }
      }
    }
    return removed;
  }

  async #isExpired(filePath: string, now: number): Promise<boolean> {
    const text = await readFile(filePath, { encoding: 'utf8', flag: 'r' }).catch(() => undefined);
    if (text === undefined) return false;
    if (/^\d{1,16}$/.test(text)) return Number(text) <= now;
    const stats = await stat(filePath).catch(() => undefined);
    return stats !== undefined && stats.mtimeMs + UNREADABLE_GRACE_MS <= now;
  }

  /** Waits for a running background sweep. */
  async close(): Promise<void> {
    await this.#pruning;
  }
}
