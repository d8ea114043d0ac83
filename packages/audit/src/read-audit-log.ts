import { AgentSafeError } from '@agent-safe/core';
import type { AuditEvent } from '@agent-safe/core';
import { parseEventLine } from './event-line.js';
import { forEachLine, openAuditLogForReading } from './line-reader.js';
import { listLogFiles } from './log-files.js';
import { linesFromEnd } from './tail.js';

/** Options of {@link readAuditLog}. */
export interface ReadAuditLogOptions {
  /** Only events of this `event_type`. */
  readonly eventType?: string;
  /** Only the last N (matching) events; read from the end of the file, so cheap on large logs. */
  readonly last?: number;
}

/**
 * Reads stored events in chain order, for display (`audit show`), across rotated files (`path` may be
 * the log, or a directory holding it and its rotated files). Lines that are not events (a torn tail,
 * damage) are skipped: use {@link verifyAuditLog} to check integrity.
 */
export async function readAuditLog(path: string, options: ReadAuditLogOptions = {}): Promise<AuditEvent[]> {
  const { eventType, last } = options;
  if (eventType !== undefined && typeof eventType !== 'string') {
    throw new AgentSafeError('USAGE', 'eventType must be a string', {
      issues: [{ path: 'eventType', message: `expected a string, got ${typeof eventType}` }],
    });
  }
  if (last !== undefined && (!Number.isSafeInteger(last) || last < 0)) {
    throw new AgentSafeError('USAGE', `last must be a non-negative integer, got ${String(last)}`, {
      issues: [{ path: 'last', message: 'expected a non-negative integer' }],
    });
  }
  const matches = (event: AuditEvent) => eventType === undefined || event.event_type === eventType;
  const files = (await listLogFiles(path)).map((file) => file.path);
  if (last !== undefined) return readLast(files, last, matches);
  const events: AuditEvent[] = [];
  for (const file of files) {
    await forEachLine(file, (buffer, start, end, _offset, _terminated, tooLong) => {
      if (tooLong) return;
      const parsed = parseEventLine(buffer.subarray(start, end));
      if (parsed.ok && matches(parsed.event)) events.push(parsed.event);
    });
  }
  return events;
}

async function readLast(
  files: readonly string[],
  count: number,
  matches: (event: AuditEvent) => boolean,
): Promise<AuditEvent[]> {
  if (count === 0) return [];
  const found: AuditEvent[] = [];
  for (let index = files.length - 1; index >= 0 && found.length < count; index--) {
    const path = files[index]!;
    const handle = await openAuditLogForReading(path);
    try {
      const { size } = await handle.stat();
      for await (const line of linesFromEnd(handle, size, path)) {
        const parsed = parseEventLine(line.bytes);
        if (!parsed.ok || !matches(parsed.event)) continue;
        found.push(parsed.event);
        if (found.length === count) break;
      }
    } finally {
      await handle.close();
    }
  }
  return found.reverse();
}
