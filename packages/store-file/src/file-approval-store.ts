import { randomBytes } from 'node:crypto';
import {
  type FSWatcher,
  closeSync,
  lstatSync,
  mkdirSync,
  openSync,
  readlinkSync,
  symlinkSync,
  watch,
  writeSync,
} from 'node:fs';
import { open, readdir, rename, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  APPROVAL_STATUSES,
  AgentSafeError,
  type ApprovalListFilter,
  type ApprovalRecord,
  type ApprovalStore,
} from '@agent-safe/core';
import { DirectoryLock } from './directory-lock.js';

/** Options of {@link FileApprovalStore}. */
export interface FileApprovalStoreOptions {
  /** Directory shared by the processes of this machine; created (mode 0700) if missing. */
  readonly directory: string;
  /** fsync each record before it is renamed into place (survives power loss). Default true. */
  readonly fsync?: boolean;
  /** How often waiters re-read when file events are missed (network file systems). Default 1000 ms. */
  readonly pollIntervalMs?: number;
}

const ID_PATTERN = /^apr-[0-9a-f]{32}$/;
const KEY_PATTERN = /^[0-9a-f]{64}$/;
/** Largest record file read (params are bounded at the door to 256 Ki characters). */
const MAX_RECORD_BYTES = 1024 * 1024;
const MAX_LIST = 10_000;
const LOCK_TIMEOUT_MS = 5_000;
const LOCK_STALE_MS = 30_000;

/**
 * Approval requests as files, shared by the processes of one machine (the CLI, agents, approvers):
 * `requests/<id>.json` holds each record (written to a temporary file and renamed into place, so a crash
 * mid-write leaves the previous version whole), `open/<dedupe key>` points at the open request for that
 * exact request (created with O_EXCL, so two processes asking at once share one). Changes to a record
 * are compare-and-swap on its version under a per-record lock file. Waiters watch the directory
 * (inotify) and fall back to polling. Files are 0600 in a 0700 directory owned by this user.
 */
export class FileApprovalStore implements ApprovalStore {
  readonly name: string;
  readonly directory: string;
  readonly #requests: string;
  readonly #open: string;
  readonly #fsync: boolean;
  readonly #pollIntervalMs: number;
  #watcher: FSWatcher | undefined;
  readonly #waiters = new Map<string, Set<() => void>>();

  constructor(options: FileApprovalStoreOptions) {
    if (typeof options?.directory !== 'string' || options.directory === '') {
      throw new AgentSafeError('USAGE', 'FileApprovalStore needs a directory', {
        issues: [
          { path: 'directory', message: 'pass the path of a directory only this service user can write' },
        ],
      });
    }
    this.directory = resolve(options.directory);
    this.name = `the file approval store at ${this.directory}`;
    this.#requests = join(this.directory, 'requests');
    this.#open = join(this.directory, 'open');
    this.#fsync = options.fsync !== false;
    this.#pollIntervalMs = options.pollIntervalMs ?? 1000;
    for (const directory of [this.directory, this.#requests, this.#open]) {
      try {
        mkdirSync(directory, { recursive: true, mode: 0o700 });
      } catch (error) {
        throw new AgentSafeError('FILE_UNWRITABLE', `${this.name}: ${directory} could not be created`, {
          cause: error,
          issues: [{ file: directory, message: (error as Error).message }],
        });
      }
      checkDirectory(directory);
    }
  }

  async get(id: string): Promise<ApprovalRecord | undefined> {
    if (!ID_PATTERN.test(id)) return undefined;
    return this.#read(join(this.#requests, `${id}.json`), id);
  }

  async create(record: ApprovalRecord, dedupeKey: string | undefined) {
    if (!ID_PATTERN.test(record.id))
      throw new AgentSafeError('INPUT_INVALID', 'approval ids are apr- and 32 hex digits');
    // A new request is written without fsync: losing it to a power failure only means the agent asks
    // again (its creation is in the fsync'd audit log). Changes that grant anything are fsync'd.
    this.#writeSync(record);
    if (dedupeKey === undefined) return { record, created: true };
    checkKey(dedupeKey);
    const pointer = join(this.#open, dedupeKey);
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        // A symbolic link made in one system call, refused when one exists: two processes asking at
        // once cannot both create the open request.
        symlinkSync(`../requests/${record.id}.json`, pointer);
        return { record, created: true };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw this.#error('write', pointer, error);
      }
      const existing = await this.findOpen(dedupeKey);
      if (existing) {
        // Ours was never pointed at: remove it so the store holds one request for this request.
        await unlink(join(this.#requests, `${record.id}.json`)).catch(() => undefined);
        return { record: existing, created: false };
      }
      // The pointer names a closed request: replace it under the lock (one replacer at a time).
      const lock = this.#lock(`open-${dedupeKey}`);
      await lock.acquire();
      try {
        if ((await this.findOpen(dedupeKey)) === undefined) await unlink(pointer).catch(() => undefined);
      } finally {
        await lock.release();
      }
    }
    throw new AgentSafeError(
      'INTERNAL',
      `${this.name}: the open request for this request kept changing; try again`,
    );
  }

  async findOpen(dedupeKey: string): Promise<ApprovalRecord | undefined> {
    checkKey(dedupeKey);
    let id: string;
    const pointer = join(this.#open, dedupeKey);
    try {
      // lstat first: most requests are new, and a thrown ENOENT costs more than the system call.
      if (lstatSync(pointer, { throwIfNoEntry: false }) === undefined) return undefined;
      id = pointerId(readlinkSync(pointer));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw this.#error('read', join(this.#open, dedupeKey), error);
    }
    const record = ID_PATTERN.test(id) ? await this.get(id) : undefined;
    return record && (record.status === 'pending' || record.status === 'approved' || record.status === 'used')
      ? record
      : undefined;
  }

  async releaseOpen(dedupeKey: string, id: string): Promise<void> {
    checkKey(dedupeKey);
    const pointer = join(this.#open, dedupeKey);
    const lock = this.#lock(`open-${dedupeKey}`);
    await lock.acquire();
    try {
      let current = '';
      try {
        current = pointerId(readlinkSync(pointer));
      } catch {
        // No pointer (or not ours): nothing to release.
      }
      if (current === id) await unlink(pointer).catch(() => undefined);
    } finally {
      await lock.release();
    }
  }

  async replace(next: ApprovalRecord): Promise<boolean> {
    if (!ID_PATTERN.test(next.id)) return false;
    const lock = this.#lock(next.id);
    await lock.acquire();
    try {
      const current = await this.get(next.id);
      if (!current || current.version !== next.version - 1) return false;
      await this.#write(next);
      return true;
    } finally {
      await lock.release();
    }
  }

  async list(filter: ApprovalListFilter = {}): Promise<ApprovalRecord[]> {
    const limit = filter.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST) {
      throw new AgentSafeError('USAGE', `limit must be a whole number from 1 to ${MAX_LIST}`);
    }
    let names: string[];
    try {
      names = await readdir(this.#requests);
    } catch (error) {
      throw this.#error('read', this.#requests, error);
    }
    const records: ApprovalRecord[] = [];
    for (const name of names) {
      const id = name.endsWith('.json') ? name.slice(0, -5) : '';
      if (!ID_PATTERN.test(id)) continue;
      const record = await this.#read(join(this.#requests, name), id).catch(() => undefined);
      if (record && (filter.status === undefined || record.status === filter.status)) records.push(record);
    }
    return records.sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? -1 : 1)).slice(0, limit);
  }

  async waitForChange(id: string, version: number, options: { timeoutMs: number; signal?: AbortSignal }) {
    if (!ID_PATTERN.test(id)) return;
    this.#watch();
    const store = this;
    await new Promise<void>((resolve) => {
      if (options.signal?.aborted) return resolve();
      let set = this.#waiters.get(id);
      if (!set) {
        set = new Set();
        this.#waiters.set(id, set);
      }
      const waiters = set;
      const finish = () => {
        clearTimeout(timer);
        clearInterval(poll);
        options.signal?.removeEventListener('abort', finish);
        waiters.delete(check);
        if (waiters.size === 0) this.#waiters.delete(id);
        resolve();
      };
      function check() {
        store.get(id).then(
          (record) => {
            if ((record?.version ?? 0) > version) finish();
          },
          () => finish(),
        );
      }
      const timer = setTimeout(finish, Math.max(0, options.timeoutMs));
      const poll = setInterval(check, this.#pollIntervalMs);
      options.signal?.addEventListener('abort', finish, { once: true });
      waiters.add(check);
      // A change between the caller's read and this subscription is caught here.
      check();
    });
  }

  async close(): Promise<void> {
    this.#watcher?.close();
    this.#watcher = undefined;
    for (const set of this.#waiters.values()) for (const wake of set) wake();
  }

  /** One watcher for the store's lifetime while someone waits; events name the file that changed. */
  #watch(): void {
    if (this.#watcher) return;
    try {
      this.#watcher = watch(this.#requests, { persistent: false }, (_event, filename) => {
        const name = typeof filename === 'string' ? filename : '';
        const id = name.endsWith('.json') ? name.slice(0, -5) : '';
        const set = this.#waiters.get(id);
        if (set) for (const check of [...set]) check();
      });
      this.#watcher.on('error', () => {
        this.#watcher?.close();
        this.#watcher = undefined;
      });
    } catch {
      // No file events here (some network file systems): the poll still wakes waiters.
    }
  }

  #lock(name: string): DirectoryLock {
    return new DirectoryLock(join(this.#requests, `${name}.lock`), {
      timeoutMs: LOCK_TIMEOUT_MS,
      staleMs: LOCK_STALE_MS,
      storeName: this.name,
    });
  }

  async #read(file: string, id: string): Promise<ApprovalRecord | undefined> {
    let text: string;
    try {
      const handle = await open(file, 'r');
      try {
        const stats = await handle.stat();
        if (!stats.isFile()) throw new Error('not a regular file');
        if (stats.size > MAX_RECORD_BYTES) throw new Error(`larger than ${MAX_RECORD_BYTES} bytes`);
        text = await handle.readFile('utf8');
      } finally {
        await handle.close();
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw this.#error('read', file, error);
    }
    let record: unknown;
    try {
      record = JSON.parse(text);
    } catch (error) {
      throw this.#error('read', file, error);
    }
    if (!isRecord(record) || record.id !== id) {
      throw this.#error('read', file, new Error('not an approval record of this id'));
    }
    return record;
  }

  /** Writes a record to a temporary file, optionally fsyncs it, and renames it into place. */
  async #write(record: ApprovalRecord): Promise<void> {
    const file = join(this.#requests, `${record.id}.json`);
    const temporary = `${file}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
    try {
      const handle = await open(temporary, 'wx', 0o600);
      try {
        await handle.writeFile(JSON.stringify(record));
        if (this.#fsync) await handle.datasync();
      } finally {
        await handle.close();
      }
      await rename(temporary, file);
    } catch (error) {
      await unlink(temporary).catch(() => undefined);
      throw this.#error('write', file, error);
    }
  }

  /**
   * Writes a new record under its final name, synchronously and without fsync: created with O_EXCL (an
   * id is never reused), and only then pointed at, so no reader that finds it by its pointer sees it
   * half-written. A crash mid-write leaves a torn file nobody points at, which `list` skips.
   */
  #writeSync(record: ApprovalRecord): void {
    const file = join(this.#requests, `${record.id}.json`);
    try {
      const descriptor = openSync(file, 'wx', 0o600);
      try {
        writeSync(descriptor, JSON.stringify(record));
      } finally {
        closeSync(descriptor);
      }
    } catch (error) {
      throw this.#error('write', file, error);
    }
  }

  #error(kind: 'read' | 'write', file: string, cause: unknown): AgentSafeError {
    return new AgentSafeError(
      kind === 'read' ? 'FILE_UNREADABLE' : 'FILE_UNWRITABLE',
      `${this.name}: ${file} could not be ${kind === 'read' ? 'read' : 'written'}: ${(cause as Error).message}`,
      { cause, issues: [{ file, message: (cause as Error).message }] },
    );
  }
}

/** The request id a dedupe pointer (a symbolic link to `../requests/<id>.json`) names, or ''. */
function pointerId(target: string): string {
  const match = /^\.\.\/requests\/(apr-[0-9a-f]{32})\.json$/.exec(target);
  return match ? match[1]! : '';
}

function checkKey(key: string): void {
  if (!KEY_PATTERN.test(key)) throw new AgentSafeError('INPUT_INVALID', 'a dedupe key is 64 hex digits');
}

function checkDirectory(directory: string): void {
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
    throw new AgentSafeError('FILE_UNWRITABLE', `approval store directory ${directory} ${problem}`, {
      issues: [
        {
          file: directory,
          message: `use a directory owned by this user with mode 0700 (chmod 700 ${directory})`,
        },
      ],
    });
  }
}

function isRecord(value: unknown): value is ApprovalRecord {
  if (value === null || typeof value !== 'object') return false;
  const record = value as Record<string, unknown>;
  return (
    typeof record.id === 'string' &&
    Number.isSafeInteger(record.version) &&
    APPROVAL_STATUSES.includes(record.status as never) &&
    typeof record.action === 'string' &&
    typeof record.target === 'string' &&
    typeof record.caller === 'string' &&
    typeof record.paramsDigest === 'string' &&
    typeof record.createdAt === 'number' &&
    typeof record.expiresAt === 'number' &&
    Array.isArray(record.approvals) &&
    Array.isArray(record.denials)
  );
}
