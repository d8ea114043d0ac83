import { type KeyObject, createHmac, sign, timingSafeEqual, verify } from 'node:crypto';
import type { TicketAlgorithm } from './constants.js';
import { isPlainObject } from './params-digest.js';

// Internal compact JWS (RFC 7515 §7.1) for the three pinned ticket algorithms. Signing and verifying run
// synchronously on KeyObjects checked and imported once at construction: WebCrypto (jose) costs a
// thread-pool round trip and a promise per call, which dominated ticket throughput. jose remains the
// reference it is tested against, and handles key import, JWKS export and thumbprints elsewhere.

/** The base64url alphabet without padding: anything else in a segment is refused before decoding. */
const SEGMENT = /^[A-Za-z0-9_-]*$/;

const HS256_SIGNATURE_BYTES = 32;

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * True when `segment` (already known to hold only base64url characters) is the one canonical unpadded
 * encoding of its bytes: its length is not 4n+1, and the bits of the last character that fall beyond
 * the data are zero (RFC 4648 §3.5). Decoders ignore those bits, so without this check flipping them
 * gives a different token string that still verifies: one ticket, many spellings.
 */
export function isCanonicalSegment(segment: string): boolean {
  const remainder = segment.length % 4;
  if (remainder === 0) return true;
  if (remainder === 1) return false;
  const last = ALPHABET.indexOf(segment[segment.length - 1]!);
  return (last & (remainder === 2 ? 0x0f : 0x03)) === 0;
}

/** A compact JWS split into its segments, with its protected header decoded but nothing verified. */
export interface CompactJws {
  readonly header: Record<string, unknown>;
  readonly encodedHeader: string;
  readonly encodedPayload: string;
  readonly encodedSignature: string;
}

/** Outcome of {@link parseCompactJws}: the parts, or why the token is not a compact JWS. */
export type CompactJwsParseResult =
  | { readonly ok: true; readonly jws: CompactJws }
  | { readonly ok: false; readonly reason: string };

/** Outcome of {@link verifyCompactJws}: the payload bytes, or a failure with the ticket code it maps to. */
export type CompactJwsVerifyResult =
  | { readonly ok: true; readonly payload: Buffer }
  | { readonly ok: false; readonly code: 'MALFORMED' | 'ALGORITHM' | 'SIGNATURE'; readonly reason: string };

const decoder = new TextDecoder('utf-8', { fatal: true });

/** base64url without padding of a UTF-8 string or of bytes. */
export function encodeSegment(value: string | Uint8Array): string {
  return (typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value)).toString('base64url');
}

/**
 * Decodes a segment already known to hold only base64url characters. A length of 4n+1 cannot be
 * base64: Buffer would silently drop the last character, so it is refused (as WebCrypto-based jose does).
 */
function decodeSegment(segment: string): Buffer | undefined {
  return segment.length % 4 === 1 ? undefined : Buffer.from(segment, 'base64url');
}

function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return isPlainObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Splits `token` into exactly three base64url segments (header and payload non-empty) and decodes the
 * protected header, which must be strict UTF-8 JSON of an object. Never throws. The caller bounds the
 * token's length first.
 */
export function parseCompactJws(token: string): CompactJwsParseResult {
  const parts = token.split('.');
  if (
    parts.length !== 3 ||
    !SEGMENT.test(parts[0]!) ||
    !SEGMENT.test(parts[1]!) ||
    !SEGMENT.test(parts[2]!) ||
    parts[0] === '' ||
    parts[1] === ''
  ) {
    return { ok: false, reason: 'The ticket is not a compact JWS (three base64url segments)' };
  }
  const names = ['header', 'payload', 'signature'] as const;
  for (let index = 0; index < 3; index++) {
    const part = parts[index]!;
    // A 4n+1 length is refused by verifyCompactJws with jose's wording; here only the unused bits.
    if (part.length % 4 !== 1 && !isCanonicalSegment(part)) {
      return {
        ok: false,
        reason: `The ticket ${names[index]} is not canonical base64url (the unused bits of its last character are set)`,
      };
    }
  }
  let headerText: string;
  try {
    headerText = decoder.decode(Buffer.from(parts[0]!, 'base64url'));
  } catch {
    return { ok: false, reason: 'The ticket header is not UTF-8' };
  }
  const header = parseJsonObject(headerText);
  if (header === undefined) return { ok: false, reason: 'The ticket header is not a JSON object' };
  return {
    ok: true,
    jws: { header, encodedHeader: parts[0]!, encodedPayload: parts[1]!, encodedSignature: parts[2]! },
  };
}

/** The raw signature of `signingInput` (`header.payload`, ASCII) with the pinned algorithm. */
export function createSignature(algorithm: TicketAlgorithm, key: KeyObject, signingInput: string): Buffer {
  if (algorithm === 'HS256') return createHmac('sha256', key).update(signingInput, 'latin1').digest();
  const data = Buffer.from(signingInput, 'latin1');
  if (algorithm === 'EdDSA') return sign(null, data, key);
  return sign('sha256', data, { key, dsaEncoding: 'ieee-p1363' });
}

/**
 * True when `signature` is a valid `algorithm` signature of `signingInput` under `key`. The HMAC is
 * compared in constant time; a signature of the wrong length, or one the primitive rejects by throwing,
 * is simply invalid.
 */
export function verifySignature(
  algorithm: TicketAlgorithm,
  key: KeyObject,
  signingInput: string,
  signature: Buffer,
): boolean {
  try {
    if (algorithm === 'HS256') {
      if (signature.length !== HS256_SIGNATURE_BYTES) return false;
      const expected = createHmac('sha256', key).update(signingInput, 'latin1').digest();
      return timingSafeEqual(expected, signature);
    }
    const data = Buffer.from(signingInput, 'latin1');
    if (algorithm === 'EdDSA') return verify(null, data, key, signature);
    return verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, signature);
  } catch {
    return false;
  }
}

/** Signs `payload` (claims as JSON text) under an already encoded protected header: the compact token. */
export function signCompactJws(options: {
  readonly algorithm: TicketAlgorithm;
  readonly key: KeyObject;
  readonly encodedHeader: string;
  readonly payload: string;
}): string {
  const signingInput = `${options.encodedHeader}.${encodeSegment(options.payload)}`;
  return `${signingInput}.${createSignature(options.algorithm, options.key, signingInput).toString('base64url')}`;
}

/**
 * Verifies a parsed compact JWS against the pinned algorithm and one key, and returns its payload bytes.
 * Only `alg` and `crit` of the header are looked at: `jku`, `jwk`, `x5u` and the like are never honoured
 * (the key comes from configuration), and any `crit` is refused, as no extension is supported. The
 * caller checks `typ`, `kid` and the claims. Never throws.
 */
export function verifyCompactJws(
  jws: CompactJws,
  algorithm: TicketAlgorithm,
  key: KeyObject,
): CompactJwsVerifyResult {
  // Checked by the validator first with its own messages; repeated so this function is safe on its own.
  if (!Object.hasOwn(jws.header, 'alg') || jws.header.alg !== algorithm) {
    return { ok: false, code: 'ALGORITHM', reason: 'The ticket algorithm is not allowed' };
  }
  if (decodeSegment(jws.encodedHeader) === undefined) {
    return {
      ok: false,
      code: 'MALFORMED',
      reason: 'The ticket could not be verified: JWS Protected Header is invalid',
    };
  }
  if (Object.hasOwn(jws.header, 'crit')) {
    return {
      ok: false,
      code: 'MALFORMED',
      reason: 'The ticket could not be verified: its "crit" header names extensions that are not supported',
    };
  }
  const signature = decodeSegment(jws.encodedSignature);
  if (signature === undefined) {
    return {
      ok: false,
      code: 'MALFORMED',
      reason: 'The ticket could not be verified: Failed to base64url decode the signature',
    };
  }
  if (!verifySignature(algorithm, key, `${jws.encodedHeader}.${jws.encodedPayload}`, signature)) {
    return {
      ok: false,
      code: 'SIGNATURE',
      reason:
        'The ticket signature does not verify with the configured key (forged or signed by another key)',
    };
  }
  const payload = decodeSegment(jws.encodedPayload);
  if (payload === undefined) {
    return {
      ok: false,
      code: 'MALFORMED',
      reason: 'The ticket could not be verified: Failed to base64url decode the payload',
    };
  }
  return { ok: true, payload };
}
