import type { FileHandle } from 'node:fs/promises';
import { AgentSafeError, AUDIT_GENESIS_HASH } from '@agent-safe/core';
import { parseEventLine } from './event-line.js';
import { sha256Hex } from './sha256.js';

/** A line read from the end of a file. */
export interface BackwardLine {
  /** Byte offset of the line's first byte. */
  readonly offset: number;
  /** The line without its newline. */
  readonly bytes: Buffer;
  /** False only for a last line that does not end with a newline. */
  readonly terminated: boolean;
}

const CHUNK = 64 * 1024;
/** No line we write comes near this; a longer one is damage, and must not make us read gigabytes. */
export const MAX_LINE_BYTES = 64 * 1024 * 1024;

/** Yields the lines of the first `size` bytes of a file, last line first, reading backwards in chunks. */
export async function* linesFromEnd(
  handle: FileHandle,
  size: number,
  file: string,
): AsyncGenerator<BackwardLine> {
  if (size === 0) return;
  const last = Buffer.alloc(1);
  await handle.read(last, 0, 1, size - 1);
  let terminated = last[0] === 0x0a;
  // `pending` holds the bytes [position, lineEnd): the unread-so-far beginning of the current line.
  let lineEnd = terminated ? size - 1 : size;
  let position = lineEnd;
  let pending = Buffer.alloc(0);
  while (true) {
    const newline = pending.lastIndexOf(0x0a);
    if (newline >= 0) {
      yield { offset: position + newline + 1, bytes: pending.subarray(newline + 1), terminated };
      terminated = true;
      pending = pending.subarray(0, newline);
      lineEnd = position + newline;
      continue;
    }
    if (position === 0) {
      yield { offset: 0, bytes: pending, terminated };
      return;
    }
    if (lineEnd - position > MAX_LINE_BYTES) {
      throw new AgentSafeError(
        'AUDIT_CHAIN_BROKEN',
        `audit log ${file} has a line longer than ${MAX_LINE_BYTES} bytes ending at byte ${lineEnd}`,
        { issues: [{ file, message: 'the log is damaged; run verify, then move the file aside' }] },
      );
    }
    const start = Math.max(0, position - CHUNK);
    const chunk = Buffer.allocUnsafe(position - start);
    await readFully(handle, chunk, start);
    pending = pending.length === 0 ? chunk : Buffer.concat([chunk, pending]);
    position = start;
  }
}

/** Reads exactly buffer.length bytes at `position`. */
export async function readFully(handle: FileHandle, buffer: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buffer.length) {
    const { bytesRead } = await handle.read(buffer, done, buffer.length - done, position + done);
    if (bytesRead === 0) throw new Error(`unexpected end of file at byte ${position + done}`);
    done += bytesRead;
  }
}

/** A last line that is not a stored event (a write cut short by a crash, or garbage). */
export interface TornLine {
  readonly line_number: number;
  readonly byte_offset: number;
  readonly byte_length: number;
  readonly sha256: string;
}

/** Where the chain of a log file ends. */
export interface TailState {
  readonly lastSequence: number;
  readonly lastHash: string;
  /** The file does not end with a newline: the next write must start with one. */
  readonly needsNewline: boolean;
  /** `event_type` of the last valid event (undefined for an empty log). */
  readonly lastEventType?: string;
  /** `timestamp` of the last valid event. */
  readonly lastTimestamp?: string;
  /** Present when the last line is not a stored event and must be acknowledged by a recovery event. */
  readonly torn?: TornLine;
}

/**
 * Finds the last valid event of the first `size` bytes. A last line that is a complete event but lacks
 * its newline is kept (it can only be a whole event); a last line that is not an event is reported as
 * torn, and the chain continues from the last valid event before it.
 */
export async function readTail(handle: FileHandle, size: number, file: string): Promise<TailState> {
  let torn: { offset: number; bytes: Buffer } | undefined;
  let needsNewline = false;
  let first = true;
  for await (const line of linesFromEnd(handle, size, file)) {
    const parsed = parseEventLine(line.bytes);
    if (first) {
      first = false;
      needsNewline = !line.terminated;
      if (!parsed.ok) {
        torn = { offset: line.offset, bytes: Buffer.from(line.bytes) };
        continue;
      }
    }
    if (parsed.ok) {
      return {
        lastSequence: parsed.event.sequence,
        lastHash: parsed.event.hash,
        lastEventType: parsed.event.event_type,
        lastTimestamp: parsed.event.timestamp,
        needsNewline,
        ...(torn === undefined ? {} : { torn: await describeTorn(handle, torn) }),
      };
    }
  }
  return {
    lastSequence: 0,
    lastHash: AUDIT_GENESIS_HASH,
    needsNewline,
    ...(torn === undefined ? {} : { torn: await describeTorn(handle, torn) }),
  };
}

async function describeTorn(handle: FileHandle, torn: { offset: number; bytes: Buffer }): Promise<TornLine> {
  return {
    line_number: (await countNewlines(handle, torn.offset)) + 1,
    byte_offset: torn.offset,
    byte_length: torn.bytes.length,
    sha256: sha256Hex(torn.bytes),
  };
}

/** Newlines in the first `end` bytes (only on the rare recovery path: it reads that much of the file). */
async function countNewlines(handle: FileHandle, end: number): Promise<number> {
  const buffer = Buffer.allocUnsafe(1024 * 1024);
  let count = 0;
  let position = 0;
  while (position < end) {
    const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, end - position), position);
    if (bytesRead === 0) break;
    let index = buffer.indexOf(0x0a, 0);
    while (index >= 0 && index < bytesRead) {
      count++;
      index = buffer.indexOf(0x0a, index + 1);
    }
    position += bytesRead;
  }
  return count;
}

/** Event type of the event that continues a chain in a new file (rotation). */
export const CONTINUED_EVENT_TYPE = 'log_continued';

/**
 * The id of the log a file belongs to: the `log_id` of its first event when that is a continuation
 * event (a rotated file), otherwise the `hash` of its first event (the log's genesis event). Undefined
 * for an empty file or when the first line is not an event.
 */
export function logIdOf(firstEvent: {
  readonly event_type: string;
  readonly hash: string;
  readonly [key: string]: unknown;
}): string {
  if (firstEvent.event_type === CONTINUED_EVENT_TYPE && typeof firstEvent.log_id === 'string') {
    return firstEvent.log_id;
  }
  return firstEvent.hash;
}

/**
 * The log id of a file: from its first valid event, looked for in the first `MAX_HEAD_BYTES` bytes (a
 * torn first line is skipped). Undefined when there is none there.
 */
export async function readLogId(handle: FileHandle, size: number): Promise<string | undefined> {
  if (size === 0) return undefined;
  const length = Math.min(size, MAX_HEAD_BYTES);
  const buffer = Buffer.allocUnsafe(length);
  await readFully(handle, buffer, 0);
  let start = 0;
  while (start < length) {
    let newline = buffer.indexOf(0x0a, start);
    if (newline < 0) {
      if (length < size) return undefined;
      newline = length;
    }
    const parsed = parseEventLine(buffer.subarray(start, newline));
    if (parsed.ok) return logIdOf(parsed.event);
    start = newline + 1;
  }
  return undefined;
}

const MAX_HEAD_BYTES = 4 * 1024 * 1024;
