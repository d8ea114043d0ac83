import { AgentSafeError } from '@agent-safe/core';
import type { AuditEventBody } from '@agent-safe/core';
import { canonicalize } from './fast-canonical-json.js';
import { sha256Hex } from './sha256.js';

/** Members the log adds; a body that carries them is refused so a caller cannot steer the chain. */
const CHAIN_KEYS = new Set(['sequence', 'prev_hash', 'hash']);

/** Event types only the log itself writes. */
const RESERVED_EVENT_TYPES = new Set(['recovery']);

/**
 * A body serialised once, at `append` time, outside the lock. The canonical members are kept in three
 * groups split where the chain members sort (`hash` < `prev_hash` < `sequence` in UTF-16 order), so the
 * stored line and the hashed text are assembled by concatenation without serialising again.
 */
export interface PreparedEvent {
  /** Shallow copy of the body taken when it was appended; the log adds the chain members to it. */
  readonly snapshot: Record<string, unknown>;
  /** Members sorting before `hash`, joined with commas (may be empty). */
  readonly beforeHash: string;
  /** Members between `hash` and `prev_hash`. */
  readonly beforePrevHash: string;
  /** Members between `prev_hash` and `sequence`. */
  readonly beforeSequence: string;
  /** Members after `sequence`. */
  readonly afterSequence: string;
}

/** A prepared event with its chain position filled in. */
export interface RenderedEvent {
  /** The stored line: canonical JSON of the full event, without the trailing newline. */
  readonly line: string;
  readonly hash: string;
}

/** Options of {@link prepareEvent}. */
export interface PrepareOptions {
  readonly file: string;
  readonly maxEventBytes: number;
  /** The log's own recovery events may use reserved event types. */
  readonly allowReserved?: boolean;
}

function invalid(file: string, path: string, message: string, cause?: unknown): AgentSafeError {
  return new AgentSafeError('INPUT_INVALID', `audit event refused: ${path}: ${message}`, {
    issues: [{ file, path, message }],
    cause,
  });
}

/** Validates and serialises an event body. Throws INPUT_INVALID for a body the log must not store. */
export function prepareEvent(body: AuditEventBody, options: PrepareOptions): PreparedEvent {
  const { file } = options;
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw invalid(file, '(body)', 'expected a plain object with event_id, timestamp and event_type');
  }
  let snapshot: Record<string, unknown>;
  try {
    // Spread reads each member once (a getter cannot answer differently later) and copies `__proto__`
    // as an own data member rather than setting the prototype.
    snapshot = { ...(body as Record<string, unknown>) };
  } catch (error) {
    throw invalid(file, '(body)', 'a member could not be read', error);
  }
  const keys = Object.keys(snapshot);
  for (const field of ['event_id', 'timestamp', 'event_type']) {
    const value = snapshot[field];
    if (typeof value !== 'string' || value.length === 0) {
      throw invalid(file, field, `expected a non-empty string, got ${describe(value)}`);
    }
  }
  for (const key of keys) {
    if (CHAIN_KEYS.has(key)) {
      throw invalid(file, key, 'is a chain member the log sets itself; remove it from the body');
    }
  }
  if (!options.allowReserved && RESERVED_EVENT_TYPES.has(snapshot.event_type as string)) {
    throw invalid(
      file,
      'event_type',
      `"${snapshot.event_type}" is reserved for events the log writes itself`,
    );
  }
  keys.sort();
  const groups: [string[], string[], string[], string[]] = [[], [], [], []];
  let length = 0;
  for (const key of keys) {
    const value = snapshot[key];
    if (value === undefined) continue;
    let member: string;
    try {
      member = `${JSON.stringify(key)}:${canonicalize(value)}`;
    } catch (error) {
      throw invalid(file, key, `is not JSON-serialisable (${(error as Error).message})`, error);
    }
    length += member.length + 1;
    groups[key < 'hash' ? 0 : key < 'prev_hash' ? 1 : key < 'sequence' ? 2 : 3].push(member);
  }
  // Characters are a lower bound on UTF-8 bytes; only pay for exact counting when it can matter.
  if (length > options.maxEventBytes / 3) {
    const bytes = groups.reduce((sum, group) => sum + Buffer.byteLength(group.join(',')), 0);
    if (bytes > options.maxEventBytes) {
      throw invalid(
        file,
        '(body)',
        `serialises to ${bytes} bytes, more than the limit of ${options.maxEventBytes} (option maxEventBytes)`,
      );
    }
  }
  return {
    snapshot,
    beforeHash: groups[0].join(','),
    beforePrevHash: groups[1].join(','),
    beforeSequence: groups[2].join(','),
    afterSequence: groups[3].join(','),
  };
}

function join(parts: string[]): string {
  let out = '';
  for (const part of parts) {
    if (part.length === 0) continue;
    out = out.length === 0 ? part : `${out},${part}`;
  }
  return out;
}

/** Fills in the chain members: the hashed text is the canonical event without `hash`. */
export function renderEvent(prepared: PreparedEvent, sequence: number, prevHash: string): RenderedEvent {
  const prevMember = `"prev_hash":"${prevHash}"`;
  const sequenceMember = `"sequence":${sequence}`;
  const tail = join([
    prepared.beforePrevHash,
    prevMember,
    prepared.beforeSequence,
    sequenceMember,
    prepared.afterSequence,
  ]);
  const head = prepared.beforeHash;
  const hash = sha256Hex(head.length === 0 ? `{${tail}}` : `{${head},${tail}}`);
  const hashMember = `"hash":"${hash}"`;
  const line = head.length === 0 ? `{${hashMember},${tail}}` : `{${head},${hashMember},${tail}}`;
  return { line, hash };
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') return 'an empty string';
  return `a ${typeof value}`;
}
