import { constants } from 'node:fs';
import { type FileHandle, open, stat } from 'node:fs/promises';
import { AUDIT_GENESIS_HASH } from '@agent-safe/core';
import { parseEventLine } from '../event-line.js';
import { forEachLine, openAuditLogForReading } from '../line-reader.js';
import { listLogFiles } from '../log-files.js';
import { MAX_LINE_BYTES, linesFromEnd, readTail } from '../tail.js';
import { type ShipBatch, sha256OfBytes } from './ship-batch.js';

/** Where a shipper stands in the log: after the line of event `sequence` (hash `hash`), at byte `offset`. */
export interface LogPosition {
  readonly offset: number;
  readonly sequence: number;
  readonly hash: string;
}

/** The start of a log: nothing shipped yet. */
export const START_POSITION: LogPosition = { offset: 0, sequence: 0, hash: AUDIT_GENESIS_HASH };

/** Limits of one batch. */
export interface BatchLimits {
  readonly maxEvents: number;
  readonly maxBytes: number;
}

/** What {@link readBatch} found. */
export type BatchRead =
  | { readonly kind: 'batch'; readonly batch: ShipBatch; readonly next: LogPosition }
  | { readonly kind: 'idle' }
  /** Complete lines that are not audit events and no event after them within the limits: passed over. */
  | { readonly kind: 'skipped'; readonly next: LogPosition; readonly bytes: number };

/** Where the log's chain ends now (0 and the genesis hash for an empty log). */
export async function logHead(path: string): Promise<{ sequence: number; hash: string; size: number }> {
  const handle = await openAuditLogForReading(path);
  try {
    const { size } = await handle.stat();
    const tail = await readTail(handle, size, path);
    return { sequence: tail.lastSequence, hash: tail.lastHash, size };
  } finally {
    await handle.close();
  }
}

/**
 * Checks that `position` still names the same event in `file` (the line ending at `position.offset`
 * hashes to `position.hash`); otherwise (the file was rotated, replaced or cut) finds that event in the
 * log's files (`log` and its rotated files, in chain order), or else the first event after its sequence.
 * `lost` is set when the acknowledged event is gone, so the receiver will see a gap the caller reports.
 */
export async function locatePosition(
  log: string,
  file: string,
  position: LogPosition,
): Promise<{ file: string; position: LogPosition; lost?: string }> {
  if (position.offset === 0 && position.sequence === 0) {
    const files = await listLogFiles(log).catch(() => [{ path: log }]);
    return { file: files[0]?.path ?? log, position };
  }
  try {
    const handle = await openAuditLogForReading(file);
    try {
      const { size } = await handle.stat();
      if (position.offset <= size && (await lineBefore(handle, position.offset, file)) === position.hash) {
        return { file, position };
      }
    } finally {
      await handle.close();
    }
  } catch {
    // The file is gone (a rotated file deleted): look through the log's files.
  }
  // The rare path: read the log's files.
  const files = await listLogFiles(log);
  let after: { file: string; offset: number } | undefined;
  for (const candidate of files) {
    let found: LogPosition | undefined;
    let firstAfter: number | undefined;
    await forEachLine(candidate.path, (buffer, start, end, offset, terminated, tooLong) => {
      if (found !== undefined || !terminated || tooLong) return;
      const parsed = parseEventLine(buffer.subarray(start, end));
      if (!parsed.ok) return;
      if (parsed.event.hash === position.hash) {
        found = {
          offset: offset + (end - start) + 1,
          sequence: parsed.event.sequence,
          hash: parsed.event.hash,
        };
      } else if (firstAfter === undefined && parsed.event.sequence > position.sequence) firstAfter = offset;
    });
    if (found !== undefined) return { file: candidate.path, position: found };
    if (after === undefined && firstAfter !== undefined) after = { file: candidate.path, offset: firstAfter };
  }
  const resume = after ?? { file: files[0]?.path ?? log, offset: 0 };
  return {
    file: resume.file,
    position: { offset: resume.offset, sequence: position.sequence, hash: position.hash },
    lost: `the last acknowledged event (sequence ${position.sequence}) is no longer in ${log} or its rotated files (was a file removed, replaced or cut?); shipping continues from byte ${resume.offset} of ${resume.file}, and the receiver will see the gap`,
  };
}

/** The log file (current or rotated) that is the inode `inode`, if it is still there. */
export async function fileWithInode(log: string, inode: number): Promise<string | undefined> {
  for (const candidate of await listLogFiles(log).catch(() => [])) {
    try {
      if ((await stat(candidate.path)).ino === inode) return candidate.path;
    } catch {
      // removed meanwhile
    }
  }
  return undefined;
}

/** The file after `file` in the log's chain order, if any. */
export async function nextLogFile(log: string, file: string): Promise<string | undefined> {
  const files = await listLogFiles(log).catch(() => []);
  const index = files.findIndex((candidate) => candidate.path === file);
  return index >= 0 ? files[index + 1]?.path : undefined;
}

/** The `hash` of the event on the line that ends just before `offset`, if it is one. */
async function lineBefore(handle: FileHandle, offset: number, path: string): Promise<string | undefined> {
  if (offset === 0) return AUDIT_GENESIS_HASH;
  const last = Buffer.alloc(1);
  await handle.read(last, 0, 1, offset - 1);
  if (last[0] !== 0x0a) return undefined;
  for await (const line of linesFromEnd(handle, offset, path)) {
    const parsed = parseEventLine(line.bytes);
    return parsed.ok ? parsed.event.hash : undefined;
  }
  return undefined;
}

/**
 * Reads the next batch after `position`: whole lines only (a last line still being written is left for
 * later), at most `maxEvents` lines and about `maxBytes` bytes (one longer line still makes a batch of
 * its own), ending with an audit event. Lines are parsed only at the batch's two ends.
 */
export async function readBatch(
  path: string,
  position: LogPosition,
  limits: BatchLimits,
  context: { logId: string; checkpoint: unknown },
): Promise<BatchRead> {
  const handle = await openAuditLogForReading(path);
  let buffer: Buffer;
  let filled = 0;
  let size: number;
  try {
    size = (await handle.stat()).size;
    if (size <= position.offset) return { kind: 'idle' };
    let want = Math.min(size - position.offset, limits.maxBytes);
    buffer = Buffer.allocUnsafe(want);
    while (true) {
      filled += await readInto(handle, buffer, filled, position.offset + filled);
      if (buffer.subarray(0, filled).indexOf(0x0a) >= 0) break;
      // One line longer than maxBytes: read on to its end (bounded by the longest line a log may hold).
      if (position.offset + filled >= size || filled >= MAX_LINE_BYTES) break;
      want = Math.min(size - position.offset, buffer.length * 2, MAX_LINE_BYTES);
      const bigger = Buffer.allocUnsafe(want);
      buffer.copy(bigger, 0, 0, filled);
      buffer = bigger;
    }
  } finally {
    await handle.close();
  }
  buffer = buffer.subarray(0, filled);
  // Line ends (exclusive of the newline) of up to maxEvents complete lines.
  const ends: number[] = [];
  let at = buffer.indexOf(0x0a);
  while (at >= 0 && ends.length < limits.maxEvents) {
    ends.push(at);
    at = buffer.indexOf(0x0a, at + 1);
  }
  if (ends.length === 0) {
    if (filled >= MAX_LINE_BYTES) {
      // A line longer than any event: damage, never shipped whole. Passed over to its newline.
      return { kind: 'skipped', next: { ...position, offset: position.offset + filled }, bytes: filled };
    }
    return { kind: 'idle' };
  }
  const startOf = (index: number) => (index === 0 ? 0 : ends[index - 1]! + 1);
  let first: { index: number; sequence: number; prevHash: string } | undefined;
  for (let index = 0; index < ends.length && first === undefined; index++) {
    const parsed = parseEventLine(buffer.subarray(startOf(index), ends[index]!));
    if (parsed.ok) first = { index, sequence: parsed.event.sequence, prevHash: parsed.event.prev_hash };
  }
  if (first === undefined) {
    // Only lines that are not events. At the end of the file, an event acknowledging them (recovery)
    // is still to come: wait for it so they ship together. Otherwise pass over them.
    const end = ends[ends.length - 1]! + 1;
    if (position.offset + end >= size) return { kind: 'idle' };
    return { kind: 'skipped', next: { ...position, offset: position.offset + end }, bytes: end };
  }
  let last: { index: number; sequence: number; hash: string } | undefined;
  for (let index = ends.length - 1; index >= first.index && last === undefined; index--) {
    const parsed = parseEventLine(buffer.subarray(startOf(index), ends[index]!));
    if (parsed.ok) last = { index, sequence: parsed.event.sequence, hash: parsed.event.hash };
  }
  const lastLine = last!;
  const length = ends[lastLine.index]! + 1;
  const lines = buffer.subarray(0, length);
  let digest: string | undefined;
  const batch: ShipBatch = {
    logId: context.logId,
    firstSequence: first.sequence,
    lastSequence: lastLine.sequence,
    firstPrevHash: first.prevHash,
    lastHash: lastLine.hash,
    lineCount: lastLine.index + 1,
    byteOffset: position.offset,
    lines,
    // Computed on first use: a webhook body is covered by its HMAC and does not need it.
    get sha256() {
      digest ??= sha256OfBytes(lines, 'hex');
      return digest;
    },
    checkpoint: context.checkpoint,
  };
  return {
    kind: 'batch',
    batch,
    next: { offset: position.offset + length, sequence: lastLine.sequence, hash: lastLine.hash },
  };
}

async function readInto(handle: FileHandle, buffer: Buffer, from: number, position: number): Promise<number> {
  let done = 0;
  while (from + done < buffer.length) {
    const { bytesRead } = await handle.read(
      buffer,
      from + done,
      buffer.length - from - done,
      position + done,
    );
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done;
}

const CHECKPOINT_TAIL_BYTES = 64 * 1024;

/**
 * The last checkpoint in `<log>.checkpoints` (one JSON statement per line), or null when there is no
 * such file or its last line is not JSON. Reads at most the file's last 64 KiB; never follows a link.
 */
export async function latestCheckpoint(logPath: string): Promise<unknown> {
  let handle: FileHandle;
  try {
    handle = await open(
      `${logPath}.checkpoints`,
      constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW,
    );
  } catch {
    return null;
  }
  try {
    const info = await handle.stat();
    if (!info.isFile() || info.size === 0) return null;
    const length = Math.min(info.size, CHECKPOINT_TAIL_BYTES);
    const buffer = Buffer.allocUnsafe(length);
    const read = await readInto(handle, buffer, 0, info.size - length);
    const text = buffer.subarray(0, read).toString('utf8').trimEnd();
    const line = text.slice(text.lastIndexOf('\n') + 1);
    try {
      const value: unknown = JSON.parse(line);
      return value !== null && typeof value === 'object' ? value : null;
    } catch {
      return null;
    }
  } finally {
    await handle.close();
  }
}
