import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { AgentSafeError } from '@agent-safe/core';
import { type ShipBatch, batchFileName, batchHeader } from './ship-batch.js';
import { ShipError, type Shipper, errorMessage } from './shipper.js';
import { checkShipperName } from './ship-state.js';

/** Options of {@link FilesystemShipper}. */
export interface FilesystemShipperOptions {
  /** Directory to copy batches into (another disk, a mount of another machine). Must exist. */
  readonly directory: string;
  /** State file suffix. Default `filesystem`. */
  readonly name?: string;
}

/**
 * Copies each batch to `<directory>/<logId>/<first>-<last>.jsonl` (the log's lines, unchanged) with
 * its header beside it in `<first>-<last>.meta.json`; each file is written to a temporary name,
 * fsync'd, then renamed, and the folder fsync'd, so a copy is whole or absent. Files are mode 0600.
 */
export class FilesystemShipper implements Shipper {
  readonly name: string;
  readonly destination: string;
  readonly #directory: string;

  constructor(options: FilesystemShipperOptions) {
    if (
      typeof options.directory !== 'string' ||
      options.directory === '' ||
      options.directory.includes('\0')
    ) {
      throw new AgentSafeError('CONFIG_INVALID', 'filesystem shipper: directory must be a path', {
        issues: [
          { path: 'filesystemPath', message: 'a directory to copy audit batches into, e.g. /mnt/audit-copy' },
        ],
      });
    }
    this.name = options.name ?? 'filesystem';
    checkShipperName(this.name);
    this.#directory = isAbsolute(options.directory) ? options.directory : resolve(options.directory);
    this.destination = this.#directory;
  }

  async send(batch: ShipBatch, _signal: AbortSignal): Promise<void> {
    let info: Awaited<ReturnType<typeof stat>>;
    try {
      info = await stat(this.#directory);
    } catch (error) {
      throw new ShipError(this.name, `${this.#directory} is not reachable (${errorMessage(error)})`, {
        retryable: true,
        cause: error,
      });
    }
    if (!info.isDirectory()) {
      throw new ShipError(this.name, `${this.#directory} is not a directory`, { retryable: false });
    }
    const folder = join(this.#directory, batch.logId);
    const base = join(folder, batchFileName(batch)).replace(/\.jsonl$/, '');
    try {
      await mkdir(folder, { recursive: true, mode: 0o700 });
      await writeDurably(`${base}.meta.json`, Buffer.from(`${JSON.stringify(batchHeader(batch))}\n`));
      await writeDurably(`${base}.jsonl`, batch.lines);
      const directory = await open(folder, constants.O_RDONLY);
      await directory.sync().finally(() => directory.close());
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new ShipError(this.name, `cannot write ${base}.jsonl (${errorMessage(error)})`, {
        // A full or read-only disk may be fixed; a refused path will not fix itself.
        retryable: code !== 'EACCES' && code !== 'EPERM' && code !== 'ELOOP' && code !== 'ENOTDIR',
        cause: error,
      });
    }
  }
}

async function writeDurably(path: string, bytes: Uint8Array): Promise<void> {
  const temporary = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  const handle = await open(
    temporary,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    0o600,
  );
  try {
    await handle.writeFile(bytes);
    await handle.datasync();
  } catch (error) {
    await handle.close().catch(() => undefined);
    await unlink(temporary).catch(() => undefined);
    throw error;
  }
  await handle.close();
  await rename(temporary, path);
}
