import type { IdentityAlgorithm, JSONWebKeySet } from '@agent-safe/identity';

// Kept apart from security.ts so that deciding whether identity is configured does not load the JOSE
// and key-handling code (the CLI's start-up path never needs it without keys).

/** Identity and execution-ticket settings of {@link AgentSafe}. */
export interface SecurityOptions {
  /**
   * The signing key itself: an HS256 secret (at least 32 bytes), or a PKCS#8 PEM / private JWK for
   * EdDSA and ES256. Enables identity tokens as callers and, on ALLOW, signed execution tickets.
   */
  readonly signingKey?: string | Uint8Array | Record<string, unknown>;
  /** Where to read the signing key: `env:NAME` or `file:PATH` (what agent-safe.yaml and the CLI use). */
  readonly signingKeySource?: string;
  /** Default HS256. */
  readonly signingAlgorithm?: IdentityAlgorithm;
  /** Public keys only: callers' tokens are verified, but nothing can be minted (no tickets either). */
  readonly verificationKeys?: JSONWebKeySet;
  /** Where to read the verification JWKS: `env:NAME` or `file:PATH`. */
  readonly verificationKeysSource?: string;
  /** `iss` of tokens and tickets; default `agent-safe`. */
  readonly issuer?: string;
  /**
   * Accept plain agent ids (and in-process Caller objects) as callers although identity is configured.
   * They are recorded as unauthenticated. Default false: only verified tokens are accepted.
   */
  readonly allowPlainCallers?: boolean;
  /** Lifetime of execution tickets; default 300 (5 minutes), at most 3600. */
  readonly ticketTtlSeconds?: number;
  /** Issue execution tickets on ALLOW when a signing key is configured; default true. */
  readonly tickets?: boolean;
}

/** Whether the options configure identity at all. */
export function securityConfigured(options: SecurityOptions): boolean {
  return (
    options.signingKey !== undefined ||
    options.signingKeySource !== undefined ||
    options.verificationKeys !== undefined ||
    options.verificationKeysSource !== undefined
  );
}
