const COMPACT_JWT = /^eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/**
 * True when a caller string has the shape of a compact JWT (a base64url JSON header, three parts).
 * The SDK uses it to route a string caller: anything that looks like a token MUST be verified and
 * a failure is a DENY; it must never be reinterpreted as a plain agent id.
 */
export function looksLikeToken(caller: string): boolean {
  return typeof caller === 'string' && caller.length > 16 && COMPACT_JWT.test(caller);
}
