import { createHash } from 'node:crypto';

/**
 * A run of whole lines of the log, shipped as one unit. `lines` are the log's own bytes, unchanged
 * (newline-terminated), so a receiver that concatenates batches in sequence order holds a copy of the
 * log that `audit verify` checks like the original.
 */
export interface ShipBatch {
  /** Names the log at the receiver (S3 key part, webhook field); see ShippingOptions.logId. */
  readonly logId: string;
  /** Sequence of the first and last audit event in the batch. */
  readonly firstSequence: number;
  readonly lastSequence: number;
  /** `prev_hash` of the first event: equals the previous batch's `lastHash` unless something is missing. */
  readonly firstPrevHash: string;
  /** `hash` of the last event. */
  readonly lastHash: string;
  /** Lines in the batch (events, and any damaged line the log holds between them). */
  readonly lineCount: number;
  /** Byte offset of the batch's first line in the log file. */
  readonly byteOffset: number;
  /** The lines, newline-terminated, exactly as in the log. */
  readonly lines: Buffer;
  /** SHA-256 of `lines`, lowercase hex (computed on first use). */
  readonly sha256: string;
  /** The latest checkpoint in `<log>.checkpoints` when the batch was read (parsed JSON), else null. */
  readonly checkpoint: unknown;
}

/** The batch without its lines: what webhook bodies, S3 metadata and `.meta.json` files carry. */
export function batchHeader(batch: ShipBatch, options: { sha256?: boolean } = {}): Record<string, unknown> {
  return {
    type: 'agent-safe.audit.batch',
    version: 1,
    log_id: batch.logId,
    first_sequence: batch.firstSequence,
    last_sequence: batch.lastSequence,
    first_prev_hash: batch.firstPrevHash,
    last_hash: batch.lastHash,
    line_count: batch.lineCount,
    byte_offset: batch.byteOffset,
    ...(options.sha256 === false ? {} : { sha256: batch.sha256 }),
    checkpoint: batch.checkpoint ?? null,
  };
}

/** Digits of sequence numbers in object and file names: zero-padded so names sort in sequence order. */
const SEQUENCE_DIGITS = 12;

/** `<first>-<last>.jsonl`, zero-padded to 12 digits (longer numbers are written in full). */
export function batchFileName(batch: Pick<ShipBatch, 'firstSequence' | 'lastSequence'>): string {
  const pad = (value: number) => String(value).padStart(SEQUENCE_DIGITS, '0');
  return `${pad(batch.firstSequence)}-${pad(batch.lastSequence)}.jsonl`;
}

export function sha256OfBytes(bytes: Uint8Array, encoding: 'hex' | 'base64'): string {
  return createHash('sha256').update(bytes).digest(encoding);
}
