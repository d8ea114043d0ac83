import { AgentSafeError } from '@agent-safe/core';
import type { AuditEventBody } from '@agent-safe/core';
import { canonicalize } from './fast-canonical-json.js';
import { ShapeCache } from './shape-cache.js';

/** Members the log adds; a body that carries them is refused so a caller cannot steer the chain. */
const CHAIN_KEYS = ['sequence', 'prev_hash', 'hash'] as const;

/** Placeholder for the chain members until the event is committed; no body can contain this object. */
const UNSET: unknown = Object.freeze({});

/** Event types only the log itself writes. */
const RESERVED_EVENT_TYPES = new Set(['recovery', 'checkpoint', 'log_continued']);

/**
 * A body serialised once, at `append` time, outside the lock, as one string holding its canonical members
 * in order. Each member carries the comma that separates it from the chain member or body member next to
 * it: members sorting before `prev_hash` are followed by a comma (a chain member always comes after them),
 * later members are preceded by one (`prev_hash` always comes before them). The chain members sort
 * `hash` < `prev_hash` < `sequence` (UTF-16 order), so the stored line and the hashed text are
 *
 * ```
 * line   = "{" members[0, beforeHash) "hash":"…", members[beforeHash, beforePrevHash) "prev_hash":"…"
 *              members[beforePrevHash, beforeSequence) ,"sequence":N members[beforeSequence, end) "}"
 * hashed = the same without "hash":"…",
 * ```
 *
 * and are assembled by copying, without serialising again.
 */
export interface PreparedEvent {
  /**
   * Shallow copy of the body taken when it was appended, after placeholders for `sequence`, `prev_hash`
   * and `hash`, which the log fills in when it commits the event.
   */
  readonly snapshot: Record<string, unknown>;
  /** The canonical members with their separating commas, as described above. */
  readonly members: string;
  /** Where (in UTF-16 code units) the members sorting after `hash` start. */
  readonly beforeHash: number;
  /** Where the members sorting after `prev_hash` start. */
  readonly beforePrevHash: number;
  /** Where the members sorting after `sequence` start. */
  readonly beforeSequence: number;
}

/** Options of {@link prepareEvent}. */
export interface PrepareOptions {
  readonly file: string;
  readonly maxEventBytes: number;
  /** The log's own recovery events may use reserved event types. */
  readonly allowReserved?: boolean;
}

/** What serialising a body needs to know about its key list, computed once per distinct list. */
interface Shape {
  /** Body keys (the chain members' placeholders left out) in UTF-16 order. */
  readonly sorted: readonly string[];
  /** `"key":` for keys sorting before `prev_hash`, `,"key":` for the others. */
  readonly openings: readonly string[];
  /** Which of the four groups each sorted key belongs to (see {@link groupOf}). */
  readonly groups: Uint8Array;
}

/** 0: before `hash`, 1: before `prev_hash`, 2: before `sequence`, 3: after it. */
function groupOf(key: string): number {
  return key < 'hash' ? 0 : key < 'prev_hash' ? 1 : key < 'sequence' ? 2 : 3;
}

const shapes = new ShapeCache<Shape>(
  (keys) => {
    // The default sort compares UTF-16 code units, which is RFC 8785's order.
    const sorted = keys.filter((key) => !(CHAIN_KEYS as readonly string[]).includes(key)).sort();
    const groups = Uint8Array.from(sorted, groupOf);
    const openings = sorted.map((key, index) => `${groups[index]! < 2 ? '' : ','}${JSON.stringify(key)}:`);
    return { sorted, openings, groups };
  },
  { slots: 16, maxKeys: 64 },
);

function invalid(file: string, path: string, message: string, cause?: unknown): AgentSafeError {
  return new AgentSafeError('INPUT_INVALID', `audit event refused: ${path}: ${message}`, {
    issues: [{ file, path, message }],
    cause,
  });
}

/** Canonical JSON of one member value; throws TypeError for values JSON cannot represent. */
function valueText(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      // For finite numbers JSON.stringify is Number::toString (RFC 8785's number form), -0 giving "0".
      if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: ${value} has no JSON form`);
      return JSON.stringify(value);
    default:
      return canonicalize(value);
  }
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
    // as an own data member rather than setting the prototype. The chain members come first, holding a
    // marker the body cannot produce: a body member of the same name replaces the marker, which is how
    // such bodies are caught. Having them in place makes filling them in at commit time cheap: adding
    // members to a spread copy measured over 1 µs each in V8, overwriting existing ones next to nothing.
    snapshot = { sequence: UNSET, prev_hash: UNSET, hash: UNSET, ...(body as Record<string, unknown>) };
  } catch (error) {
    throw invalid(file, '(body)', 'a member could not be read', error);
  }
  requiredString(snapshot, 'event_id', file);
  requiredString(snapshot, 'timestamp', file);
  requiredString(snapshot, 'event_type', file);
  for (const key of CHAIN_KEYS) {
    if (snapshot[key] !== UNSET) {
      throw invalid(file, key, 'is a chain member the log sets itself; remove it from the body');
    }
  }
  const shape = shapes.get(Object.keys(snapshot));
  if (!options.allowReserved && RESERVED_EVENT_TYPES.has(snapshot.event_type as string)) {
    throw invalid(
      file,
      'event_type',
      `"${snapshot.event_type}" is reserved for events the log writes itself`,
    );
  }
  const { sorted, openings, groups } = shape;
  let members = '';
  // Group boundaries, found as the members are appended (-1 until then).
  let beforeHash = -1;
  let beforePrevHash = -1;
  let beforeSequence = -1;
  for (let index = 0; index < sorted.length; index++) {
    const key = sorted[index]!;
    const value = snapshot[key];
    if (value === undefined) continue;
    const group = groups[index]!;
    if (group > 0 && beforeHash < 0) beforeHash = members.length;
    if (group > 1 && beforePrevHash < 0) beforePrevHash = members.length;
    if (group > 2 && beforeSequence < 0) beforeSequence = members.length;
    let text: string;
    if (typeof value === 'string') {
      // The common case, without the call and the try below.
      members +=
        group < 2 ? `${openings[index]!}${JSON.stringify(value)},` : openings[index]! + JSON.stringify(value);
      continue;
    }
    try {
      text = valueText(value);
    } catch (error) {
      throw invalid(file, key, `is not JSON-serialisable (${(error as Error).message})`, error);
    }
    members += group < 2 ? `${openings[index]!}${text},` : openings[index]! + text;
  }
  if (beforeHash < 0) beforeHash = members.length;
  if (beforePrevHash < 0) beforePrevHash = members.length;
  if (beforeSequence < 0) beforeSequence = members.length;
  // Characters are a lower bound on UTF-8 bytes; only pay for exact counting when it can matter. The
  // limit applies to the members and the commas between them; four separators at most are not counted.
  if (members.length > options.maxEventBytes / 3) {
    const bytes =
      Buffer.byteLength(members) - separators(members.length, beforeHash, beforePrevHash, beforeSequence);
    if (bytes > options.maxEventBytes) {
      throw invalid(
        file,
        '(body)',
        `serialises to ${bytes} bytes, more than the limit of ${options.maxEventBytes} (option maxEventBytes)`,
      );
    }
  }
  return { snapshot, members, beforeHash, beforePrevHash, beforeSequence };
}

/** How many commas in `members` separate a group from a chain member rather than two members. */
function separators(
  length: number,
  beforeHash: number,
  beforePrevHash: number,
  beforeSequence: number,
): number {
  return (
    (beforeHash > 0 ? 1 : 0) +
    (beforePrevHash > beforeHash ? 1 : 0) +
    (beforeSequence > beforePrevHash ? 1 : 0) +
    (length > beforeSequence ? 1 : 0)
  );
}

function requiredString(snapshot: Record<string, unknown>, field: string, file: string): void {
  const value = snapshot[field];
  if (typeof value !== 'string' || value.length === 0) {
    throw invalid(file, field, `expected a non-empty string, got ${describe(value)}`);
  }
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') return 'an empty string';
  return `a ${typeof value}`;
}
