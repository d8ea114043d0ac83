import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { AgentSafeError, canonicalJson } from '@agent-safe/core';
import type { CheckpointAlgorithm, CheckpointKey } from './checkpoint-key.js';
import { forEachLine } from './line-reader.js';

/** What a checkpoint signs: this log, up to this sequence, ends with this hash, as of this time. */
export interface CheckpointStatement {
  readonly alg: CheckpointAlgorithm;
  /** Hash of the log's event with sequence 1: fixed when the log began, carried across rotated files. */
  readonly log_id: string;
  /** Sequence of the last event covered. */
  readonly sequence: number;
  /** `hash` of that event. */
  readonly head_hash: string;
  /** When the writer signed (ISO 8601). */
  readonly time: string;
  readonly key_id: string;
}

/** A statement with its signature (base64url), as stored in `<log>.checkpoints` (one JSON line each). */
export interface SignedCheckpoint extends CheckpointStatement {
  readonly signature: string;
}

/** Event type of the checkpoint events the writer adds to the log itself. */
export const CHECKPOINT_EVENT_TYPE = 'checkpoint';

/** Domain separation: a checkpoint signature can never be mistaken for another signature by the key. */
const SIGNED_PREFIX = 'agent-safe audit checkpoint v1\n';

/** The exact bytes signed for a statement. */
export function checkpointSigningInput(statement: CheckpointStatement): string {
  const { alg, log_id, sequence, head_hash, time, key_id } = statement;
  return SIGNED_PREFIX + canonicalJson({ alg, head_hash, key_id, log_id, sequence, time });
}

/** Signs a statement with `key`. */
export function signCheckpoint(statement: CheckpointStatement, key: CheckpointKey): SignedCheckpoint {
  return { ...statement, signature: key.sign(checkpointSigningInput(statement)) };
}

const HEX_64 = /^[0-9a-f]{64}$/;

/** Why `value` is not a well-formed signed checkpoint, or undefined when it is one. */
export function checkpointShapeProblem(value: unknown): string | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'is not a JSON object';
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).sort().join(',');
  if (keys !== 'alg,head_hash,key_id,log_id,sequence,signature,time') {
    return `has members ${keys}; expected alg, head_hash, key_id, log_id, sequence, signature, time`;
  }
  if (record.alg !== 'HS256' && record.alg !== 'Ed25519') return '"alg" must be HS256 or Ed25519';
  if (typeof record.log_id !== 'string' || !HEX_64.test(record.log_id))
    return '"log_id" must be 64 hex digits';
  if (typeof record.head_hash !== 'string' || !HEX_64.test(record.head_hash)) {
    return '"head_hash" must be 64 hex digits';
  }
  if (typeof record.sequence !== 'number' || !Number.isSafeInteger(record.sequence) || record.sequence < 1) {
    return '"sequence" must be a positive integer';
  }
  if (typeof record.time !== 'string' || record.time.length > 64) return '"time" must be a timestamp';
  if (typeof record.key_id !== 'string' || record.key_id.length > 64)
    return '"key_id" must be a short string';
  if (typeof record.signature !== 'string' || record.signature.length > 256) {
    return '"signature" must be a base64url string';
  }
  return undefined;
}

/**
 * Checks a checkpoint's signature with `key`: the algorithm and key id must be the key's, and the
 * signature must verify. Returns why not, or undefined when it is genuine.
 */
export function checkpointSignatureProblem(
  checkpoint: SignedCheckpoint,
  key: CheckpointKey,
): string | undefined {
  if (checkpoint.key_id !== key.keyId) {
    return `it names key "${checkpoint.key_id}", but the key given is "${key.keyId}"`;
  }
  if (checkpoint.alg !== key.algorithm)
    return `it is signed with ${checkpoint.alg}, the key given is ${key.algorithm}`;
  return key.verify(checkpointSigningInput(checkpoint), checkpoint.signature)
    ? undefined
    : 'its signature does not verify with the key given (forged, or altered after signing)';
}

/** A line of a checkpoint file, parsed, or why it is not a checkpoint. */
export type CheckpointLine =
  | { readonly line: number; readonly ok: true; readonly checkpoint: SignedCheckpoint }
  | {
      readonly line: number;
      readonly ok: false;
      readonly reason: string;
      readonly terminated: boolean;
      /** Not JSON at all: a write cut short (harmless: it claims nothing), not a forged checkpoint. */
      readonly torn: boolean;
    };

/** Longest checkpoint line accepted (a real one is about 400 bytes). */
const MAX_CHECKPOINT_LINE = 4096;
/**
 * Most checkpoint lines read (they are held in memory, ~0.5 KB each): a checkpoint every 1000 events
 * for a billion events. Rotate (and archive) the checkpoint file with the log well before that.
 */
export const MAX_CHECKPOINT_LINES = 1_000_000;

/**
 * Reads `<log>.checkpoints` (JSONL, one signed checkpoint a line, each in canonical form). Lines that
 * are not checkpoints are returned as such, so the caller can report them. Bounded: lines over 4 KiB
 * and files over {@link MAX_CHECKPOINT_LINES} lines are refused.
 */
export async function readCheckpointFile(path: string): Promise<CheckpointLine[]> {
  const lines: CheckpointLine[] = [];
  let count = 0;
  await forEachLine(path, (buffer, start, end, _offset, terminated, tooLong) => {
    count++;
    if (count > MAX_CHECKPOINT_LINES) {
      throw new AgentSafeError(
        'FILE_UNREADABLE',
        `checkpoint file ${path} has more than ${MAX_CHECKPOINT_LINES} lines`,
        {
          issues: [{ file: path, message: 'this is not a checkpoint file written by agent-safe' }],
        },
      );
    }
    if (start === end && terminated) return;
    if (tooLong || end - start > MAX_CHECKPOINT_LINE) {
      lines.push({
        line: count,
        ok: false,
        reason: `is longer than ${MAX_CHECKPOINT_LINE} bytes`,
        terminated,
        torn: false,
      });
      return;
    }
    const text = buffer.toString('utf8', start, end);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      lines.push({ line: count, ok: false, reason: 'is not valid JSON', terminated, torn: true });
      return;
    }
    const problem = checkpointShapeProblem(value);
    if (problem !== undefined) {
      lines.push({ line: count, ok: false, reason: problem, terminated, torn: false });
      return;
    }
    if (canonicalJson(value) !== text) {
      lines.push({
        line: count,
        ok: false,
        reason: 'is not in the canonical form the writer produces (duplicate or reordered keys, whitespace)',
        terminated,
        torn: false,
      });
      return;
    }
    lines.push({ line: count, ok: true, checkpoint: value as SignedCheckpoint });
  });
  return lines;
}

// O_NOFOLLOW: a symlink planted at the checkpoint path must not redirect the writes.
const APPEND_FLAGS =
  constants.O_RDWR | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/**
 * Appends checkpoints to `path` (created 0600), one canonical JSON line each, in one write, then
 * fdatasync when `durable`. Refuses a path that is a symlink or not a regular file.
 */
export async function appendCheckpoints(
  path: string,
  checkpoints: readonly SignedCheckpoint[],
  durable: boolean,
): Promise<void> {
  const handle = await open(path, APPEND_FLAGS, 0o600);
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) {
      throw new AgentSafeError('AUDIT_WRITE_FAILED', `checkpoint file ${path} is not a regular file`, {
        issues: [{ file: path, message: 'the checkpoint file must be a regular file' }],
      });
    }
    let text = checkpoints.map((checkpoint) => `${canonicalJson(checkpoint)}\n`).join('');
    if (stats.size > 0) {
      // A line cut short by a crash must not swallow the next checkpoint: end it first.
      const last = Buffer.alloc(1);
      await handle.read(last, 0, 1, stats.size - 1);
      if (last[0] !== 0x0a) text = `\n${text}`;
    }
    const bytes = Buffer.from(text);
    let written = 0;
    while (written < bytes.length) {
      const { bytesWritten } = await handle.write(bytes, written, bytes.length - written);
      written += bytesWritten;
    }
    if (bytes.length > 0 && durable) await handle.datasync();
  } finally {
    await handle.close();
  }
}
