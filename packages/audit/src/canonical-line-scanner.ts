/**
 * A conservative recogniser of canonical audit lines, so `verify` can hash the raw bytes of a line
 * instead of parsing and re-serialising it.
 *
 * Soundness argument (the only property that matters: when `scanCanonicalLine` returns true, hashing
 * the line's bytes with the `hash` member cut out equals hashing `canonicalJson(JSON.parse(line)
 * without hash)`):
 * - it accepts only bytes 0x20–0x7F, so the bytes are the UTF-8 encoding of the decoded string;
 * - it accepts no whitespace, only the escapes `JSON.stringify` itself emits (`\" \\ \b \f \n \r \t`,
 *   and none inside keys), numbers only when `String(Number(text)) === text` (for plain integers of
 *   at most 15 digits that holds by construction), and the literals `true`, `false`, `null`;
 * - object keys must be strictly increasing by bytes, which for escape-free ASCII keys is the UTF-16
 *   order RFC 8785 sorts by, and which rules out duplicate keys;
 * so the line is exactly `canonicalJson(JSON.parse(line))`. Removing one top-level member of a canonical
 * object (with the comma that separated it) leaves the canonical form of the object without it.
 * Anything it does not accept is handled by the full parse-and-canonicalise path, which is the
 * definition; a fuzz test checks this recogniser against that definition.
 */

/** Positions found in a line the scanner accepted (absolute offsets into the buffer). */
export interface ScanResult {
  /** Start of the `"hash"` key (its opening quote) and end of its value (after the closing quote). */
  hashMemberStart: number;
  hashValueStart: number;
  hashValueEnd: number;
  prevHashValueStart: number;
  prevHashValueEnd: number;
  sequenceValueStart: number;
  sequenceValueEnd: number;
  eventTypeValueStart: number;
  eventTypeValueEnd: number;
}

const MAX_DEPTH = 64;
const OBJECT = 1;
const ARRAY = 2;

// Reused across calls: the verifier scans millions of lines and must not allocate per line.
const containerStack = new Uint8Array(MAX_DEPTH + 1);
const lastKeyStart = new Int32Array(MAX_DEPTH + 1);
const lastKeyEnd = new Int32Array(MAX_DEPTH + 1);

const KEY_HASH = Buffer.from('hash');
const KEY_PREV_HASH = Buffer.from('prev_hash');
const KEY_SEQUENCE = Buffer.from('sequence');
const KEY_EVENT_TYPE = Buffer.from('event_type');

function keyIs(buf: Uint8Array, start: number, end: number, key: Uint8Array): boolean {
  if (end - start !== key.length) return false;
  for (let index = 0; index < key.length; index++) {
    if (buf[start + index] !== key[index]) return false;
  }
  return true;
}

/** Scans a string starting at its opening quote; returns the index after the closing quote or -1. */
function scanString(buf: Uint8Array, index: number, end: number, allowEscapes: boolean): number {
  let position = index + 1;
  while (position < end) {
    const byte = buf[position]!;
    if (byte === 0x22) return position + 1;
    if (byte === 0x5c) {
      if (!allowEscapes || position + 1 >= end) return -1;
      const next = buf[position + 1]!;
      // " \ b f n r t: the short escapes JSON.stringify emits.
      if (
        next !== 0x22 &&
        next !== 0x5c &&
        next !== 0x62 &&
        next !== 0x66 &&
        next !== 0x6e &&
        next !== 0x72 &&
        next !== 0x74
      ) {
        return -1;
      }
      position += 2;
      continue;
    }
    if (byte < 0x20 || byte > 0x7f) return -1;
    position++;
  }
  return -1;
}

function isDigit(byte: number | undefined): boolean {
  return byte !== undefined && byte >= 0x30 && byte <= 0x39;
}

/** Scans a number; returns the index after it or -1 when it is not in canonical form. */
function scanNumber(buf: Uint8Array, index: number, end: number): number {
  let position = index;
  if (buf[position] === 0x2d) position++;
  if (position >= end) return -1;
  if (buf[position] === 0x30) {
    position++;
  } else if (isDigit(buf[position]) && buf[position] !== 0x30) {
    while (position < end && isDigit(buf[position])) position++;
  } else {
    return -1;
  }
  let plain = true;
  if (position < end && buf[position] === 0x2e) {
    plain = false;
    position++;
    if (!isDigit(buf[position]) || position >= end) return -1;
    while (position < end && isDigit(buf[position])) position++;
  }
  if (position < end && (buf[position] === 0x65 || buf[position] === 0x45)) {
    plain = false;
    position++;
    if (position < end && (buf[position] === 0x2b || buf[position] === 0x2d)) position++;
    if (position >= end || !isDigit(buf[position])) return -1;
    while (position < end && isDigit(buf[position])) position++;
  }
  const length = position - index;
  const negative = buf[index] === 0x2d;
  if (plain && length - (negative ? 1 : 0) <= 15) {
    // -0 serialises as 0.
    if (negative && length === 2 && buf[index + 1] === 0x30) return -1;
    return position;
  }
  const text = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).toString('latin1', index, position);
  const value = Number(text);
  return Number.isFinite(value) && String(value) === text ? position : -1;
}

function literal(buf: Uint8Array, index: number, end: number, word: string): number {
  if (index + word.length > end) return -1;
  for (let offset = 0; offset < word.length; offset++) {
    if (buf[index + offset] !== word.charCodeAt(offset)) return -1;
  }
  return index + word.length;
}

/** True when key [start, end) sorts strictly after [previousStart, previousEnd) (byte order). */
function keyAfter(
  buf: Uint8Array,
  start: number,
  end: number,
  previousStart: number,
  previousEnd: number,
): boolean {
  if (previousStart < 0) return true;
  const length = Math.min(end - start, previousEnd - previousStart);
  for (let offset = 0; offset < length; offset++) {
    const a = buf[start + offset]!;
    const b = buf[previousStart + offset]!;
    if (a !== b) return a > b;
  }
  return end - start > previousEnd - previousStart;
}

/**
 * Returns true (and fills `out`) when buf[start, end) is an ASCII canonical JSON object that has
 * `hash`, `prev_hash`, `sequence` and `event_type` members at the top level.
 */
export function scanCanonicalLine(buf: Uint8Array, start: number, end: number, out: ScanResult): boolean {
  if (start >= end || buf[start] !== 0x7b) return false;
  out.hashMemberStart = -1;
  out.prevHashValueStart = -1;
  out.sequenceValueStart = -1;
  out.eventTypeValueStart = -1;
  let depth = 0;
  let position = start;
  // 0: expect a value, 1: expect a key, 2: after a value.
  let state = 0;
  // Which top-level member the value being scanned belongs to: 0 none, 1 hash, 2 prev_hash, 3 sequence, 4 event_type.
  let member = 0;
  let memberValueStart = 0;
  while (true) {
    if (state === 0) {
      if (position >= end) return false;
      const byte = buf[position]!;
      if (byte === 0x7b || byte === 0x5b) {
        if (depth === MAX_DEPTH) return false;
        depth++;
        containerStack[depth] = byte === 0x7b ? OBJECT : ARRAY;
        lastKeyStart[depth] = -1;
        lastKeyEnd[depth] = -1;
        position++;
        const close = byte === 0x7b ? 0x7d : 0x5d;
        if (position < end && buf[position] === close) {
          position++;
          depth--;
          state = 2;
        } else {
          state = byte === 0x7b ? 1 : 0;
        }
        continue;
      }
      if (byte === 0x22) position = scanString(buf, position, end, true);
      else if (byte === 0x2d || isDigit(byte)) position = scanNumber(buf, position, end);
      else if (byte === 0x74) position = literal(buf, position, end, 'true');
      else if (byte === 0x66) position = literal(buf, position, end, 'false');
      else if (byte === 0x6e) position = literal(buf, position, end, 'null');
      else return false;
      if (position < 0) return false;
      state = 2;
      continue;
    }
    if (state === 1) {
      if (position >= end || buf[position] !== 0x22) return false;
      const keyStart = position + 1;
      const after = scanString(buf, position, end, false);
      if (after < 0) return false;
      const keyEnd = after - 1;
      if (!keyAfter(buf, keyStart, keyEnd, lastKeyStart[depth]!, lastKeyEnd[depth]!)) return false;
      lastKeyStart[depth] = keyStart;
      lastKeyEnd[depth] = keyEnd;
      if (after >= end || buf[after] !== 0x3a) return false;
      if (depth === 1) {
        member = 0;
        if (keyIs(buf, keyStart, keyEnd, KEY_HASH)) {
          member = 1;
          out.hashMemberStart = position;
        } else if (keyIs(buf, keyStart, keyEnd, KEY_PREV_HASH)) member = 2;
        else if (keyIs(buf, keyStart, keyEnd, KEY_SEQUENCE)) member = 3;
        else if (keyIs(buf, keyStart, keyEnd, KEY_EVENT_TYPE)) member = 4;
        memberValueStart = after + 1;
      }
      position = after + 1;
      state = 0;
      continue;
    }
    // state 2: a value just ended.
    if (depth === 0) return position === end;
    if (depth === 1 && member !== 0) {
      if (member === 1) {
        out.hashValueStart = memberValueStart;
        out.hashValueEnd = position;
      } else if (member === 2) {
        out.prevHashValueStart = memberValueStart;
        out.prevHashValueEnd = position;
      } else if (member === 3) {
        out.sequenceValueStart = memberValueStart;
        out.sequenceValueEnd = position;
      } else {
        out.eventTypeValueStart = memberValueStart;
        out.eventTypeValueEnd = position;
      }
      member = 0;
    }
    if (position >= end) return false;
    const byte = buf[position]!;
    if (byte === 0x2c) {
      position++;
      state = containerStack[depth] === OBJECT ? 1 : 0;
      continue;
    }
    if (byte === (containerStack[depth] === OBJECT ? 0x7d : 0x5d)) {
      position++;
      depth--;
      state = 2;
      continue;
    }
    return false;
  }
}

export function newScanResult(): ScanResult {
  return {
    hashMemberStart: -1,
    hashValueStart: -1,
    hashValueEnd: -1,
    prevHashValueStart: -1,
    prevHashValueEnd: -1,
    sequenceValueStart: -1,
    sequenceValueEnd: -1,
    eventTypeValueStart: -1,
    eventTypeValueEnd: -1,
  };
}
