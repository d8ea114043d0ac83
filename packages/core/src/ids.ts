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
  if (text.length === 0) return 'must not be empty';
  if (text.length > maxLength) return `must be at most ${maxLength} characters`;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (
      code < 0x20 ||
      (code >= 0x7f && code <= 0x9f) ||
      code === 0x2028 ||
      code === 0x2029 ||
      (code >= 0x202a && code <= 0x202e) ||
      (code >= 0x2066 && code <= 0x2069)
    ) {
      return `must not contain control characters (found U+${code.toString(16).toUpperCase().padStart(4, '0')} at position ${index + 1})`;
    }
  }
  if (text.trim().length === 0) return 'must not be blank';
  return undefined;
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
    const unsafe =
      code < 0x20 ||
      (code >= 0x7f && code <= 0x9f) ||
      code === 0x2028 ||
      code === 0x2029 ||
      (code >= 0x202a && code <= 0x202e) ||
      (code >= 0x2066 && code <= 0x2069);
    if (unsafe) {
      out ??= text.slice(0, index);
      out += `\\u{${code.toString(16)}}`;
    } else if (out !== undefined) {
      out += text[index];
    }
  }
  return out ?? text;
}
