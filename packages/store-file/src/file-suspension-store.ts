import { randomBytes } from 'node:crypto';
import { lstatSync, mkdirSync } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  AgentSafeError,
  MAX_SUSPENSIONS,
  type SuspensionRecord,
  type SuspensionSnapshot,
  type SuspensionStore,
  checkSuspensionRecord,
  isSuspensionRecord,
} from '@agent-safe/core';
import { DirectoryLock } from './directory-lock.js';

/** Options of {@link FileSuspensionStore}. */
export interface FileSuspensionStoreOptions {
  /** The shared state directory (`store: file:DIR`); suspensions go to `DIR/suspensions/`. */
  readonly directory: string;
  /** fsync the list before it is renamed into place. Default true. */
  readonly fsync?: boolean;
}

/** The file holding the list, inside `DIR/suspensions/`. */
export const SUSPENSIONS_FILE = 'suspensions.json';
/** Largest list file read: {@link MAX_SUSPENSIONS} records of bounded size. */
const MAX_FILE_BYTES = 32 * 1024 * 1024;
const LOCK_TIMEOUT_MS = 5_000;
const LOCK_STALE_MS = 30_000;

/**
 * The kill switch's list as one JSON file (`{ version, records }`) shared by the processes of one
 * machine. Changes are read-modify-write under the directory's lock file and land by rename, so a reader
 * always sees a whole list; a missing file is the empty list at version 0. Files are 0600 in a 0700
 * directory owned by this user.
 */
export class FileSuspensionStore implements SuspensionStore {
  readonly name: string;
  readonly directory: string;
  readonly #file: string;
  readonly #fsync: boolean;
  readonly #lock: DirectoryLock;

  constructor(options: FileSuspensionStoreOptions) {
    if (typeof options?.directory !== 'string' || options.directory === '') {
      throw new AgentSafeError('USAGE', 'FileSuspensionStore needs a directory', {
        issues: [{ path: 'directory', message: 'pass the state directory of store: file:DIR' }],
      });
    }
    this.directory = join(resolve(options.directory), 'suspensions');
    this.name = `the file suspension store at ${this.directory}`;
    this.#file = join(this.directory, SUSPENSIONS_FILE);
    this.#fsync = options.fsync !== false;
    try {
      mkdirSync(this.directory, { recursive: true, mode: 0o700 });
    } catch (error) {
      throw new AgentSafeError('FILE_UNWRITABLE', `${this.name} could not be created`, {
        cause: error,
        issues: [{ file: this.directory, message: (error as Error).message }],
      });
    }
    checkDirectory(this.directory, this.name);
    this.#lock = new DirectoryLock(join(this.directory, 'suspensions.lock'), {
      timeoutMs: LOCK_TIMEOUT_MS,
      staleMs: LOCK_STALE_MS,
      storeName: this.name,
    });
  }

  async suspend(record: SuspensionRecord): Promise<void> {
    const checked = checkSuspensionRecord(record);
    await this.#change((records) => {
      if (!records.has(checked.agentId) && records.size >= MAX_SUSPENSIONS) {
        throw new AgentSafeError(
          'INPUT_INVALID',
          `${this.name} holds ${MAX_SUSPENSIONS} suspensions already`,
        );
      }
      records.set(checked.agentId, checked);
      return true;
    });
  }

  async resume(agentId: string): Promise<SuspensionRecord | undefined> {
    let removed: SuspensionRecord | undefined;
    await this.#change((records) => {
      removed = records.get(agentId);
      return records.delete(agentId);
    });
    return removed;
  }

  async version(): Promise<number> {
    return (await this.snapshot()).version;
  }

  async snapshot(): Promise<SuspensionSnapshot> {
    let text: string;
    try {
      const handle = await open(this.#file, 'r');
      try {
        const size = (await handle.stat()).size;
        if (size > MAX_FILE_BYTES) throw new Error(`larger than ${MAX_FILE_BYTES} bytes`);
        text = (await handle.readFile()).toString('utf8');
      } finally {
        await handle.close();
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { version: 0, records: [] };
      throw this.#error('read', error);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw this.#error('read', error);
    }
    const value = parsed as { version?: unknown; records?: unknown };
    if (
      value === null ||
      typeof value !== 'object' ||
      typeof value.version !== 'number' ||
      !Number.isSafeInteger(value.version) ||
      !Array.isArray(value.records) ||
      !value.records.every(isSuspensionRecord)
    ) {
      throw this.#error('read', new Error('not a suspension list ({ version, records })'));
    }
    return { version: value.version, records: value.records as SuspensionRecord[] };
  }

  async close(): Promise<void> {}

  /** Reads, changes and rewrites the list under the lock; the version grows only when `edit` changed it. */
  async #change(edit: (records: Map<string, SuspensionRecord>) => boolean): Promise<void> {
    await this.#lock.acquire();
    try {
      const current = await this.snapshot();
      const records = new Map(current.records.map((record) => [record.agentId, record]));
      if (!edit(records)) return;
      const next = JSON.stringify({ version: current.version + 1, records: [...records.values()] });
      const temporary = `${this.#file}.${randomBytes(6).toString('hex')}.tmp`;
      try {
        const handle = await open(temporary, 'wx', 0o600);
        try {
          await handle.writeFile(next);
          if (this.#fsync) await handle.datasync();
        } finally {
          await handle.close();
        }
        await rename(temporary, this.#file);
      } catch (error) {
        await unlink(temporary).catch(() => undefined);
        throw this.#error('write', error);
      }
    } finally {
      await this.#lock.release();
    }
  }

  #error(kind: 'read' | 'write', cause: unknown): AgentSafeError {
    return new AgentSafeError(
      kind === 'read' ? 'FILE_UNREADABLE' : 'FILE_UNWRITABLE',
      `${this.name}: ${this.#file} could not be ${kind === 'read' ? 'read' : 'written'}: ${(cause as Error).message}`,
      { cause, issues: [{ file: this.#file, message: (cause as Error).message }] },
    );
  }
}

function checkDirectory(directory: string, name: string): void {
  const stats = lstatSync(directory);
  const problem = stats.isSymbolicLink()
    ? 'is a symbolic link'
    : !stats.isDirectory()
      ? 'is not a directory'
      : stats.mode & 0o022
        ? 'is writable by other users'
        : typeof process.getuid === 'function' && stats.uid !== process.getuid()
          ? 'belongs to another user'
          : undefined;
  if (problem) {
    throw new AgentSafeError('FILE_UNWRITABLE', `${name}: ${directory} ${problem}`, {
      issues: [
        {
          file: directory,
          message: `use a directory owned by this user with mode 0700 (chmod 700 ${directory})`,
        },
      ],
    });
  }
}
