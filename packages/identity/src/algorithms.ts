/** Signature algorithms an identity token may use. The verifier is pinned to exactly one. */
export const IDENTITY_ALGORITHMS = ['HS256', 'EdDSA', 'ES256'] as const;

/** `HS256` (shared secret), `EdDSA` (Ed25519) or `ES256` (P-256). */
export type IdentityAlgorithm = (typeof IDENTITY_ALGORITHMS)[number];

/** The asymmetric algorithms (a verifier needs only the public key). */
export type AsymmetricAlgorithm = Exclude<IdentityAlgorithm, 'HS256'>;

/** True when `value` is one of {@link IDENTITY_ALGORITHMS}. */
export function isIdentityAlgorithm(value: unknown): value is IdentityAlgorithm {
  return typeof value === 'string' && (IDENTITY_ALGORITHMS as readonly string[]).includes(value);
}

/** Shortest HS256 secret accepted: RFC 7518 §3.2 asks for a key at least as long as the hash output. */
export const MIN_HS256_SECRET_BYTES = 32;

/** JWT header `typ` of an identity token. */
export const IDENTITY_TOKEN_TYPE = 'agent-safe-id+jwt';

/**
 * Longest identity token accepted. A delegated token embeds its parent's token, which base64url then
 * grows by a third per hop, so this bounds the work a hostile token can cause. With small scopes a
 * chain of depth 5 stays under 8 KB and the full depth of 10 fits in about 45 KB.
 */
export const MAX_TOKEN_LENGTH = 64 * 1024;

/** Hard cap on delegation depth, whatever a token or caller asks for. */
export const MAX_DELEGATION_DEPTH = 10;

/** Delegation depth allowed when none is requested. */
export const DEFAULT_DELEGATION_DEPTH = 3;

/** Token lifetime when none is requested (seconds). */
export const DEFAULT_TOKEN_TTL_SECONDS = 3600;

/** Longest token lifetime accepted (seconds). */
export const MAX_TOKEN_TTL_SECONDS = 24 * 3600;
