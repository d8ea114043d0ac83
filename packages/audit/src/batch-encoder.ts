import type { PreparedEvent } from './prepared-event.js';
import { sha256Hex } from './sha256.js';

/** `"hash":"<64 hex>",`: the bytes a stored line has and its hashed text lacks. */
const HASH_MEMBER_BYTES = 74;
/** Room for everything a line adds to its body members (braces, commas, chain members, newline). */
const LINE_OVERHEAD_BYTES = 256;

const INITIAL_BYTES = 256 * 1024;
/** Largest buffer kept between batches. */
const MAX_KEPT_BYTES = 16 * 1024 * 1024;

function ascii(text: string): Uint8Array {
  return Uint8Array.from(text, (character) => character.charCodeAt(0));
}

const PREV_HASH_OPEN = ascii('"prev_hash":"');
/** `"prev_hash":"<64 hex>"`. */
const PREV_HASH_BYTES = PREV_HASH_OPEN.length + 65;
const SEQUENCE_OPEN = ascii(',"sequence":');
const HASH_OPEN = ascii('"hash":"');
const COMMA = 0x2c;
const QUOTE = 0x22;
const NEWLINE = 0x0a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

/** Bytes the encoded line of this event can take at most, for sizing batches before encoding them. */
export function worstCaseBytes(prepared: PreparedEvent): number {
  return prepared.members.length * 3 + LINE_OVERHEAD_BYTES;
}

/** Writes ASCII bytes; cheaper than a Buffer method call for the few bytes of a chain member. */
function put(buffer: Buffer, at: number, bytes: Uint8Array): number {
  for (let index = 0; index < bytes.length; index++) buffer[at + index] = bytes[index]!;
  return at + bytes.length;
}

/** Writes the 64 hex digits of a hash (a builtin: a JS loop is no faster once optimised, slower before). */
function putHex(buffer: Buffer, at: number, hex: string): number {
  return at + buffer.write(hex, at, 'latin1');
}

/** Writes a non-negative safe integer in decimal. */
function putInteger(buffer: Buffer, at: number, value: number): number {
  const digits = decimalDigits(value);
  let rest = value;
  for (let index = at + digits - 1; index >= at; index--) {
    buffer[index] = 0x30 + (rest % 10);
    rest = Math.floor(rest / 10);
  }
  return at + digits;
}

/**
 * Encodes a batch of prepared events straight into one reused buffer as stored lines, hashing each as it
 * goes. No line is ever built as a string: the body members are written as UTF-8 once, and the chain
 * members are written around them (see {@link PreparedEvent} for the layout).
 *
 * The hashed text of a line is the line without its `"hash":"…",` member. Each line is first laid out
 * {@link HASH_MEMBER_BYTES} bytes to the right of its final place, so the hashed text is contiguous
 * and is hashed in place; then the part before the hash member is moved left and the hash member is
 * written into the gap, which leaves the stored line.
 */
export class BatchEncoder {
  #buffer = Buffer.allocUnsafe(INITIAL_BYTES);
  #offset = 0;
  /** Where the previous line's hash hex starts in the buffer, or -1 when it is not in the buffer. */
  #previousHashAt = -1;

  /** Starts a new batch. */
  reset(): void {
    // A batch of very large events grew the buffer; do not keep that memory for ordinary batches.
    if (this.#buffer.length > MAX_KEPT_BYTES) this.#buffer = Buffer.allocUnsafe(INITIAL_BYTES);
    this.#offset = 0;
    this.#previousHashAt = -1;
  }

  /** Writes a lone newline (ending a last line that lacked one). */
  newline(): void {
    this.#reserve(1);
    this.#buffer[this.#offset++] = NEWLINE;
  }

  /** The encoded batch (a view of the reused buffer, valid until the next {@link reset}). */
  bytes(): Buffer {
    return this.#buffer.subarray(0, this.#offset);
  }

  /**
   * Appends one stored line (with its newline) chained after `prevHash` and returns the line's hash.
   * `prevHash` must be 64 lowercase hex digits (a hash this log wrote, or read back and checked), and
   * `sequence` a positive safe integer.
   */
  append(prepared: PreparedEvent, sequence: number, prevHash: string): string {
    this.#reserve(worstCaseBytes(prepared));
    const buffer = this.#buffer;
    const start = this.#offset;
    // The hashed text is laid out from `hashed`; the finished line will start at `start`.
    const hashed = start + HASH_MEMBER_BYTES;
    buffer[hashed] = OPEN_BRACE;
    const membersAt = hashed + 1;
    const { members } = prepared;
    const membersEnd = membersAt + buffer.write(members, membersAt);
    let beforeHash = prepared.beforeHash;
    let beforePrevHash = prepared.beforePrevHash;
    let beforeSequence = prepared.beforeSequence;
    if (membersEnd - membersAt !== members.length) {
      // Not ASCII: turn the boundaries from UTF-16 code units into bytes.
      beforeHash = Buffer.byteLength(members.slice(0, beforeHash));
      beforePrevHash = Buffer.byteLength(members.slice(0, beforePrevHash));
      beforeSequence = Buffer.byteLength(members.slice(0, beforeSequence));
    }
    // Open gaps for `"prev_hash":"…"` and `,"sequence":N` by moving the members after them right.
    const sequenceBytes = SEQUENCE_OPEN.length + decimalDigits(sequence);
    const sequenceAt = membersAt + beforeSequence + PREV_HASH_BYTES;
    const tail = membersEnd - (membersAt + beforeSequence);
    if (tail > 0) buffer.copyWithin(sequenceAt + sequenceBytes, membersAt + beforeSequence, membersEnd);
    const middle = beforeSequence - beforePrevHash;
    if (middle > 0) {
      buffer.copyWithin(
        membersAt + beforePrevHash + PREV_HASH_BYTES,
        membersAt + beforePrevHash,
        membersAt + beforeSequence,
      );
    }
    let at = put(buffer, membersAt + beforePrevHash, PREV_HASH_OPEN);
    if (this.#previousHashAt >= 0) {
      buffer.copyWithin(at, this.#previousHashAt, this.#previousHashAt + 64);
      at += 64;
    } else {
      at = putHex(buffer, at, prevHash);
    }
    buffer[at] = QUOTE;
    at = put(buffer, sequenceAt, SEQUENCE_OPEN);
    at = putInteger(buffer, at, sequence) + tail;
    buffer[at++] = CLOSE_BRACE;
    const hash = sha256Hex(buffer.subarray(hashed, at));
    // `{` and the members before `hash` move left to the line's start; the hash member fills the gap.
    buffer.copyWithin(start, hashed, membersAt + beforeHash);
    let member = put(buffer, start + 1 + beforeHash, HASH_OPEN);
    this.#previousHashAt = member;
    member = putHex(buffer, member, hash);
    buffer[member] = QUOTE;
    buffer[member + 1] = COMMA;
    buffer[at++] = NEWLINE;
    this.#offset = at;
    return hash;
  }

  /** Makes room for `bytes` more, keeping what the batch holds so far. */
  #reserve(bytes: number): void {
    const needed = this.#offset + bytes;
    if (needed <= this.#buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(needed, this.#buffer.length * 2));
    this.#buffer.copy(grown, 0, 0, this.#offset);
    this.#buffer = grown;
  }
}

/** Digits of a non-negative safe integer in decimal. */
function decimalDigits(value: number): number {
  let digits = 1;
  for (let rest = value; rest >= 10; rest = Math.floor(rest / 10)) digits++;
  return digits;
}
