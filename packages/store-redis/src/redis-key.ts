import { createHash } from 'node:crypto';

/** Caller keys longer than this many UTF-16 code units are stored by their SHA-256. */
export const MAX_RAW_KEY_LENGTH = 200;

// Matches only unpaired surrogates under the `u` flag; UTF-8 would turn them all into U+FFFD, so two
// distinct keys could share one Redis key.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/**
 * The part of a Redis key that names the caller's key: `k:<key>` for short well-formed keys,
 * `h:<sha256 of the UTF-16 code units>` otherwise, so hostile keys stay bounded and never collide with
 * raw ones.
 */
export function encodeCallerKey(key: string): string {
  if (key.length <= MAX_RAW_KEY_LENGTH && !LONE_SURROGATE.test(key)) return `k:${key}`;
  return `h:${createHash('sha256').update(Buffer.from(key, 'utf16le')).digest('hex')}`;
}
