import { readdir, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { AgentSafeError } from '@agent-safe/core';
import { parseEventLine } from './event-line.js';
import { openAuditLogForReading } from './line-reader.js';
import { readFully } from './tail.js';

/** One file of a (possibly rotated) log. */
export interface LogFile {
  readonly path: string;
  /** Sequence of its first event (undefined when it has none in its first MiBs: empty or damaged). */
  readonly firstSequence: number | undefined;
}

/**
 * Suffixes of rotated files: ours (`<log>.<12-digit first sequence>`) and logrotate's (`<log>.1`,
 * `<log>.20261203`, `<log>.2026-12-03`); compressed ones (`.gz`) are not read.
 */
const ROTATED_SUFFIX = /^\d[0-9TZ-]*$/;
const HEAD_BYTES = 1024 * 1024;

/**
 * The files of the log at `path`, in chain order: the rotated files beside it (ordered by the sequence
 * of their first event) and the current file last. `path` may be the current file (its rotated
 * siblings are included) or a directory holding one log. Throws FILE_UNREADABLE when there is none.
 */
export async function listLogFiles(path: string): Promise<LogFile[]> {
  const absolute = resolve(path);
  let base = absolute;
  let info: Awaited<ReturnType<typeof stat>> | undefined;
  try {
    info = await stat(absolute);
  } catch {
    info = undefined;
  }
  if (info?.isDirectory()) {
    const names = await readdir(absolute);
    const bases = names.filter((name) => name.endsWith('.jsonl'));
    const rotatedOnly = names.filter(
      (name) =>
        /\.jsonl\.[^.]+$/.test(name) && ROTATED_SUFFIX.test(name.slice(name.lastIndexOf('.jsonl.') + 7)),
    );
    const candidates = new Set([
      ...bases,
      ...rotatedOnly.map((name) => name.slice(0, name.lastIndexOf('.jsonl.') + 6)),
    ]);
    if (candidates.size !== 1) {
      throw new AgentSafeError(
        'FILE_UNREADABLE',
        candidates.size === 0
          ? `no audit log (*.jsonl) in directory ${absolute}`
          : `directory ${absolute} holds several logs (${[...candidates].sort().join(', ')}); pass the one to verify`,
        {
          issues: [
            {
              file: absolute,
              message: 'pass the log file, or a directory holding exactly one log and its rotated files',
            },
          ],
        },
      );
    }
    base = join(absolute, [...candidates][0]!);
  }
  const directory = dirname(base);
  const name = basename(base);
  let siblings: string[] = [];
  try {
    siblings = (await readdir(directory)).filter(
      (entry) => entry.startsWith(`${name}.`) && ROTATED_SUFFIX.test(entry.slice(name.length + 1)),
    );
  } catch {
    siblings = [];
  }
  const rotated: LogFile[] = [];
  for (const sibling of siblings) {
    const file = join(directory, sibling);
    rotated.push({ path: file, firstSequence: await firstSequenceOf(file) });
  }
  rotated.sort(
    (a, b) =>
      (a.firstSequence ?? Number.MAX_SAFE_INTEGER) - (b.firstSequence ?? Number.MAX_SAFE_INTEGER) ||
      a.path.localeCompare(b.path),
  );
  let current: LogFile[] = [];
  try {
    if ((await stat(base)).isFile() || rotated.length === 0)
      current = [{ path: base, firstSequence: undefined }];
  } catch {
    // The current file may be missing right after a rotation; the rotated files are still a log.
    if (rotated.length === 0) current = [{ path: base, firstSequence: undefined }];
  }
  return [...rotated, ...current];
}

/** Sequence of the first event of a file, read from its first MiB. */
export async function firstSequenceOf(path: string): Promise<number | undefined> {
  const handle = await openAuditLogForReading(path);
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, HEAD_BYTES);
    if (length === 0) return undefined;
    const buffer = Buffer.allocUnsafe(length);
    await readFully(handle, buffer, 0);
    let start = 0;
    while (start < length) {
      let newline = buffer.indexOf(0x0a, start);
      if (newline < 0) newline = length;
      const parsed = parseEventLine(buffer.subarray(start, newline));
      if (parsed.ok) return parsed.event.sequence;
      start = newline + 1;
    }
    return undefined;
  } finally {
    await handle.close();
  }
}
