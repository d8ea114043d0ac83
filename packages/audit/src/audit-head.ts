import { AUDIT_GENESIS_HASH } from '@agent-safe/core';
import { parseEventLine } from './event-line.js';
import { openAuditLogForReading } from './line-reader.js';
import { listLogFiles } from './log-files.js';
import { linesFromEnd, readLogId } from './tail.js';

/** The current anchor of a log: keep it elsewhere and pass it to `verify` as `expectHead`/`expectSequence`. */
export interface AuditHead {
  /** Sequence of the last event (0 for an empty log). */
  readonly sequence: number;
  /** Its hash (the genesis hash for an empty log). */
  readonly headHash: string;
  /** The log's id (undefined for an empty log). */
  readonly logId: string | undefined;
  /** Timestamp of the last event. */
  readonly timestamp: string | undefined;
  /** The file the last event is in. */
  readonly file: string;
}

/**
 * Reads the head of a log (its last valid event) from the end of its newest file, and its id from the
 * start of its oldest: cheap on logs of any size. Does not verify anything: run verify for that.
 */
export async function readAuditHead(path: string): Promise<AuditHead> {
  const files = await listLogFiles(path);
  let logId: string | undefined;
  {
    const handle = await openAuditLogForReading(files[0]!.path);
    try {
      logId = await readLogId(handle, (await handle.stat()).size);
    } finally {
      await handle.close();
    }
  }
  for (let index = files.length - 1; index >= 0; index--) {
    const file = files[index]!.path;
    const handle = await openAuditLogForReading(file);
    try {
      const { size } = await handle.stat();
      for await (const line of linesFromEnd(handle, size, file)) {
        const parsed = parseEventLine(line.bytes);
        if (!parsed.ok) continue;
        return {
          sequence: parsed.event.sequence,
          headHash: parsed.event.hash,
          logId,
          timestamp: parsed.event.timestamp,
          file,
        };
      }
    } finally {
      await handle.close();
    }
  }
  return { sequence: 0, headHash: AUDIT_GENESIS_HASH, logId, timestamp: undefined, file: files.at(-1)!.path };
}
