import { randomBytes } from 'node:crypto';
import { MAX_ID_LENGTH } from './limits.js';

let pool = Buffer.alloc(0);
let offset = 0;

/** A random id with a prefix, e.g. `evt-3f2a…` (16 random bytes, hex). Draws from a pooled buffer. */
export function randomId(prefix: string): string {
  if (offset + 16 > pool.length) {
    pool = randomBytes(4096);
    offset = 0;
  }
  const id = pool.toString('hex', offset, offset + 16);
  offset += 16;
  return `${prefix}-${id}`;
}

/**
 * Why `text` cannot serve as an id (agent, target, ticket, correlation, role, group), or undefined when
 * it can. Ids are printed on operators' terminals and written into audit lines, so characters that
 * could forge a line, send an escape sequence or reorder what is shown are refused: C0 and C1 controls
 * (newline, ESC…), DEL, the Unicode line and paragraph separators and the bidirectional overrides.
 */
export function unsafeIdReason(text: string, maxLength = MAX_ID_LENGTH): string | undefined {
  const length = text.length;
  if (length === 0) return 'must not be empty';
  if (length > maxLength) return `must be at most ${maxLength} characters`;
  let blank = true;
  for (let index = 0; index < length; index++) {
    const code = text.charCodeAt(index);
    // Printable ASCII, by far the common case, decided with one comparison.
    if (code > 0x20 && code < 0x7f) {
      blank = false;
      continue;
    }
    if (code === 0x20) continue;
    if (isUnsafeCode(code)) {
      return `must not contain control characters (found U+${code.toString(16).toUpperCase().padStart(4, '0')} at position ${index + 1})`;
    }
    if (!isUnicodeSpace(code)) blank = false;
  }
  return blank ? 'must not be blank' : undefined;
}

/** C0 and C1 controls, DEL, the line and paragraph separators and the bidirectional controls. */
function isUnsafeCode(code: number): boolean {
  return (
    code < 0x20 ||
    (code >= 0x7f && code <= 0x9f) ||
    code === 0x2028 ||
    code === 0x2029 ||
    (code >= 0x202a && code <= 0x202e) ||
    (code >= 0x2066 && code <= 0x2069)
  );
}

/** The non-ASCII characters String.prototype.trim removes. */
function isUnicodeSpace(code: number): boolean {
  return (
    code === 0xa0 ||
    code === 0x1680 ||
    (code >= 0x2000 && code <= 0x200a) ||
    code === 0x202f ||
    code === 0x205f ||
    code === 0x3000 ||
    code === 0xfeff
  );
}

/** True when `text` is usable as an id (see {@link unsafeIdReason}). */
export function isSafeId(text: string, maxLength = MAX_ID_LENGTH): boolean {
  return unsafeIdReason(text, maxLength) === undefined;
}

/**
 * Makes untrusted text safe to print on a terminal: control, separator and bidi characters become
 * `\u{…}` escapes, so a value can never move the cursor, recolour output or forge a line.
 */
export function escapeForTerminal(text: string): string {
  let out: string | undefined;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (isUnsafeCode(code)) {
      out ??= text.slice(0, index);
      out += `\\u{${code.toString(16)}}`;
    } else if (out !== undefined) {
      out += text[index];
    }
  }
  return out ?? text;
}
