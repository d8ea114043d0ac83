import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { type FileHandle, open, rename, stat, unlink, utimes } from 'node:fs/promises';
import { hostname } from 'node:os';
import { AgentSafeError } from '@agent-safe/core';
import { type LogPosition, START_POSITION } from './log-batch-reader.js';

/** What a shipper keeps in `<log>.ship-<name>.json` (snake_case, like the log). */
export interface ShipState {
  readonly version: 1;
  readonly shipper: string;
  /** Where the shipper sends batches (no secrets). */
  readonly destination: string;
  readonly log_id: string;
  /** The last event the receiver acknowledged, and the byte just after its line. */
  readonly acknowledged_sequence: number;
  readonly acknowledged_hash: string;
  readonly offset: number;
  /** The rotated file `offset` is in, or null for the log itself. */
  readonly file?: string | null;
  /** Batches and lines acknowledged by this state file's lifetime. */
  readonly batches_shipped: number;
  readonly lines_shipped: number;
  /** Failed attempts in total, and since the last success. */
  readonly failures: number;
  readonly consecutive_failures: number;
  readonly last_error: string | null;
  readonly last_error_at: string | null;
  readonly last_success_at: string | null;
  /** Something the operator should know (a gap: the acknowledged event vanished from the log). */
  readonly warning: string | null;
  readonly updated_at: string;
}

const NAME = /^[a-z0-9][a-z0-9-]{0,39}$/;
const HEX_64 = /^[0-9a-f]{64}$/;
const MAX_STATE_BYTES = 64 * 1024;

/** Throws USAGE unless `name` can name a shipper (and so a state file). */
export function checkShipperName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new AgentSafeError('USAGE', `shipper name ${JSON.stringify(name)} is not valid`, {
      issues: [{ path: 'name', message: 'use 1-40 lowercase letters, digits and dashes, e.g. "s3-archive"' }],
    });
  }
}

export function statePath(logPath: string, shipper: string): string {
  return `${logPath}.ship-${shipper}.json`;
}

export function lockPath(logPath: string, shipper: string): string {
  return `${logPath}.ship-${shipper}.lock`;
}

/** A new state at the start of the log. */
export function initialState(shipper: string, destination: string, logId: string): ShipState {
  return {
    version: 1,
    shipper,
    destination,
    log_id: logId,
    acknowledged_sequence: START_POSITION.sequence,
    acknowledged_hash: START_POSITION.hash,
    offset: START_POSITION.offset,
    batches_shipped: 0,
    lines_shipped: 0,
    failures: 0,
    consecutive_failures: 0,
    last_error: null,
    last_error_at: null,
    last_success_at: null,
    warning: null,
    updated_at: new Date().toISOString(),
  };
}

export function positionOf(state: ShipState): LogPosition {
  return { offset: state.offset, sequence: state.acknowledged_sequence, hash: state.acknowledged_hash };
}

async function readSmallFile(path: string, limit: number): Promise<string | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new AgentSafeError('FILE_UNREADABLE', `cannot read ${path}: ${(error as Error).message}`, {
      cause: error,
      issues: [
        { file: path, message: 'it must be a regular file (not a symbolic link) the process can read' },
      ],
    });
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) {
      throw new AgentSafeError('FILE_UNREADABLE', `cannot read ${path}: not a regular file`, {
        issues: [{ file: path, message: 'remove it; shipping state files are regular files' }],
      });
    }
    if (info.size > limit) {
      throw new AgentSafeError('FILE_UNREADABLE', `${path} is larger than ${limit} bytes`, {
        issues: [{ file: path, message: 'this is not a shipping state file; move it away' }],
      });
    }
    const buffer = Buffer.allocUnsafe(info.size);
    let done = 0;
    while (done < buffer.length) {
      const { bytesRead } = await handle.read(buffer, done, buffer.length - done, done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return buffer.subarray(0, done).toString('utf8');
  } finally {
    await handle.close();
  }
}

/**
 * Reads a shipper's state file, or undefined when there is none. A file that is not a valid state is an
 * error naming it (never silently restarted from zero, nor trusted).
 */
export async function readState(path: string): Promise<ShipState | undefined> {
  const text = await readSmallFile(path, MAX_STATE_BYTES);
  if (text === undefined) return undefined;
  const invalid = (why: string) =>
    new AgentSafeError('CONFIG_INVALID', `shipping state ${path} is not valid: ${why}`, {
      issues: [
        {
          file: path,
          message: `${why}; delete the file to ship the whole log again (the receiver gets duplicates)`,
        },
      ],
    });
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw invalid(`not JSON (${(error as Error).message})`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalid('not an object');
  const state = value as Record<string, unknown>;
  if (state.version !== 1) throw invalid('"version" must be 1');
  for (const key of [
    'acknowledged_sequence',
    'offset',
    'batches_shipped',
    'lines_shipped',
    'failures',
    'consecutive_failures',
  ]) {
    const number = state[key];
    if (typeof number !== 'number' || !Number.isSafeInteger(number) || number < 0) {
      throw invalid(`"${key}" must be a non-negative integer`);
    }
  }
  if (typeof state.acknowledged_hash !== 'string' || !HEX_64.test(state.acknowledged_hash)) {
    throw invalid('"acknowledged_hash" must be 64 lowercase hex digits');
  }
  if (state.file !== undefined && state.file !== null && typeof state.file !== 'string') {
    throw invalid('"file" must be a path or null');
  }
  for (const key of ['shipper', 'destination', 'log_id']) {
    if (typeof state[key] !== 'string') throw invalid(`"${key}" must be a string`);
  }
  return {
    ...initialState(state.shipper as string, state.destination as string, state.log_id as string),
    ...(state as unknown as ShipState),
  };
}

/** Writes the state atomically (temporary file, then rename), mode 0600. */
export async function writeState(path: string, state: ShipState): Promise<void> {
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  let handle: FileHandle;
  try {
    handle = await open(
      temporary,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      0o600,
    );
  } catch (error) {
    throw unwritable(path, error);
  }
  try {
    await handle.writeFile(`${JSON.stringify(state, null, 2)}\n`);
  } catch (error) {
    await handle.close().catch(() => undefined);
    await unlink(temporary).catch(() => undefined);
    throw unwritable(path, error);
  }
  await handle.close();
  try {
    await rename(temporary, path);
  } catch (error) {
    await unlink(temporary).catch(() => undefined);
    throw unwritable(path, error);
  }
}

function unwritable(path: string, error: unknown): AgentSafeError {
  return new AgentSafeError(
    'FILE_UNWRITABLE',
    `cannot write shipping state ${path}: ${(error as Error).message}`,
    {
      cause: error,
      issues: [{ file: path, message: 'the directory of the audit log must be writable by this process' }],
    },
  );
}

/** Who holds a shipper's lock. */
export interface LockOwner {
  readonly pid: number;
  readonly host: string;
  readonly since: string;
}

/** A lock older than this (not refreshed) is taken to be abandoned. */
const STALE_LOCK_MS = 30_000;
export const LOCK_REFRESH_MS = 5_000;

/**
 * One shipping process per (log, shipper): `<log>.ship-<name>.lock`, created with O_EXCL, refreshed
 * while held. A lock whose process is gone (same host) or that was not refreshed for 30 s is taken over,
 * so a killed shipper never blocks the next one for long.
 */
export class ShipLock {
  readonly path: string;
  #held = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(path: string) {
    this.path = path;
  }

  get held(): boolean {
    return this.#held;
  }

  /** Takes the lock, or returns who holds it. */
  async acquire(): Promise<{ acquired: true } | { acquired: false; owner: LockOwner | undefined }> {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const handle = await open(
          this.path,
          constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
          0o600,
        );
        const owner: LockOwner = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
        await handle.writeFile(JSON.stringify(owner));
        await handle.close();
        this.#held = true;
        this.#timer = setInterval(() => {
          const now = new Date();
          utimes(this.path, now, now).catch(() => undefined);
        }, LOCK_REFRESH_MS);
        this.#timer.unref();
        return { acquired: true };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw unwritable(this.path, error);
      }
      const owner = await this.owner();
      if (!(await this.#abandoned(owner))) return { acquired: false, owner };
      // Move the abandoned lock aside under a unique name, so two processes taking it over cannot
      // remove each other's fresh lock.
      const aside = `${this.path}.${process.pid}.${randomBytes(4).toString('hex')}.stale`;
      await rename(this.path, aside).then(
        () => unlink(aside),
        () => undefined,
      );
    }
    return { acquired: false, owner: await this.owner() };
  }

  /** The lock's owner as written in it (undefined when unreadable). */
  async owner(): Promise<LockOwner | undefined> {
    try {
      const text = await readSmallFile(this.path, 4096);
      if (text === undefined) return undefined;
      const value = JSON.parse(text) as LockOwner;
      return typeof value.pid === 'number' && typeof value.host === 'string' ? value : undefined;
    } catch {
      return undefined;
    }
  }

  async #abandoned(owner: LockOwner | undefined): Promise<boolean> {
    if (owner !== undefined && owner.host === hostname()) {
      if (owner.pid === process.pid) return false;
      try {
        process.kill(owner.pid, 0);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ESRCH') return true;
      }
    }
    try {
      const info = await stat(this.path);
      return Date.now() - info.mtimeMs > STALE_LOCK_MS;
    } catch {
      return true;
    }
  }

  async release(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    if (!this.#held) return;
    this.#held = false;
    const owner = await this.owner();
    if (owner?.pid === process.pid && owner.host === hostname())
      await unlink(this.path).catch(() => undefined);
  }
}
