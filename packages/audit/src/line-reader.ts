import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { AgentSafeError } from '@agent-safe/core';
import { MAX_LINE_BYTES } from './tail.js';

/**
 * Called for each line: bytes buffer[start, end) without the newline. `terminated` is false only for a
 * last line without a newline; `tooLong` marks a line cut off at {@link MAX_LINE_BYTES} (its remaining
 * bytes are skipped). The buffer is reused: copy what must outlive the call.
 */
export type LineHandler = (
  buffer: Buffer,
  start: number,
  end: number,
  offset: number,
  terminated: boolean,
  tooLong: boolean,
) => void;

const CHUNK = 4 * 1024 * 1024;

// O_NONBLOCK: opening a named pipe must not wait for a writer (it is then refused as not a regular file).
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK;

/**
 * Opens an audit log read-only; FILE_UNREADABLE naming the path when it cannot be, or when it is not a
 * regular file: a directory, a device such as /dev/zero (endless, no newline) or a pipe would make a
 * reader fail obscurely or never finish.
 */
export async function openAuditLogForReading(path: string): Promise<Awaited<ReturnType<typeof open>>> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, OPEN_FLAGS);
  } catch (error) {
    throw new AgentSafeError(
      'FILE_UNREADABLE',
      `cannot read audit log ${path}: ${(error as Error).message}`,
      {
        cause: error,
        issues: [{ file: path, message: 'check the path and its permissions' }],
      },
    );
  }
  let kind: string | undefined;
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) {
      kind = stats.isDirectory()
        ? 'a directory'
        : stats.isCharacterDevice() || stats.isBlockDevice()
          ? 'a device'
          : stats.isFIFO()
            ? 'a named pipe'
            : 'a socket or special file';
    }
  } catch (error) {
    await handle.close();
    throw new AgentSafeError(
      'FILE_UNREADABLE',
      `cannot read audit log ${path}: ${(error as Error).message}`,
      {
        cause: error,
        issues: [{ file: path, message: 'check the path and its permissions' }],
      },
    );
  }
  if (kind !== undefined) {
    await handle.close();
    throw new AgentSafeError(
      'FILE_UNREADABLE',
      `cannot read audit log ${path}: it is ${kind}, not a regular file; pass the log file (e.g. ./audit.jsonl)`,
      { issues: [{ file: path, message: `${kind}, not a regular file` }] },
    );
  }
  return handle;
}

/** Streams a file line by line in large chunks, splitting lines itself (no per-line allocation). */
export async function forEachLine(path: string, onLine: LineHandler, onChunk?: () => void): Promise<void> {
  const handle = await openAuditLogForReading(path);
  try {
    let buffer = Buffer.allocUnsafe(CHUNK);
    let filled = 0; // bytes [0, filled) hold data; the first of them starts a line
    let fileOffset = 0; // file offset of buffer[0]
    let skipping = false; // inside the remainder of an over-long line
    while (true) {
      if (filled === buffer.length) {
        // One line fills the whole buffer: grow up to the line limit, then cut it off.
        if (buffer.length < MAX_LINE_BYTES) {
          const bigger = Buffer.allocUnsafe(Math.min(buffer.length * 2, MAX_LINE_BYTES));
          buffer.copy(bigger, 0, 0, filled);
          buffer = bigger;
        } else {
          if (!skipping) onLine(buffer, 0, filled, fileOffset, true, true);
          skipping = true;
          fileOffset += filled;
          filled = 0;
        }
      }
      const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, fileOffset + filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
      let start = 0;
      let newline = buffer.indexOf(0x0a, start);
      while (newline >= 0 && newline < filled) {
        if (skipping) skipping = false;
        else onLine(buffer, start, newline, fileOffset + start, true, false);
        start = newline + 1;
        newline = buffer.indexOf(0x0a, start);
      }
      if (start > 0) {
        buffer.copy(buffer, 0, start, filled);
        fileOffset += start;
        filled -= start;
      }
      onChunk?.();
    }
    if (filled > 0 && !skipping) onLine(buffer, 0, filled, fileOffset, false, false);
  } finally {
    await handle.close();
  }
}
