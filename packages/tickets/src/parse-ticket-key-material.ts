import { createPublicKey } from 'node:crypto';
import { AgentSafeError } from '@agent-safe/core';
import type { JWK } from 'jose';
import { type TicketAlgorithm, isTicketAlgorithm } from './constants.js';
import { isPlainObject } from './params-digest.js';
import { type TicketJwks, jwkAlgorithm } from './ticket-keys.js';

/** Key material read from a file or environment variable, with the algorithm it implies. */
export type TicketKeyMaterial =
  | { readonly algorithm: TicketAlgorithm; readonly key: string | JWK }
  | { readonly algorithm: TicketAlgorithm; readonly jwks: TicketJwks };

/** Options of {@link parseTicketKeyMaterial}. */
export interface ParseTicketKeyMaterialOptions {
  /** When given, the material must be for this algorithm (otherwise it is inferred from the key). */
  readonly algorithm?: TicketAlgorithm;
  /** Where the text came from (a path or `env:NAME`), for error messages. */
  readonly source?: string;
}

function materialError(message: string, source: string, fix: string, cause?: unknown): AgentSafeError {
  return new AgentSafeError('KEY_INVALID', message, {
    issues: [{ file: source, message: fix }],
    ...(cause === undefined ? {} : { cause }),
  });
}

/**
 * Reads key text as a CLI or service gets it from a file or env var: a PEM key (EdDSA/ES256 by its type),
 * a JSON JWK, a JSON JWKS (`{ "keys": [...] }`), or else an HS256 shared secret (one trailing newline
 * dropped). The algorithm comes from the key, never from a ticket. Spread the result into
 * `new TicketValidator({ ...material, issuer })` or, for a `key`, `new TicketIssuer({ ...material })`.
 */
export function parseTicketKeyMaterial(
  text: string,
  options: ParseTicketKeyMaterialOptions = {},
): TicketKeyMaterial {
  const source = options.source ?? 'key';
  if (typeof text !== 'string' || text.trim().length === 0) {
    throw materialError(
      'The key material is empty',
      source,
      'pass a PEM key, a JWK, a JWKS or an HS256 secret',
    );
  }
  if (options.algorithm !== undefined && !isTicketAlgorithm(options.algorithm)) {
    throw materialError(
      `Unsupported algorithm ${String(options.algorithm)}`,
      source,
      'use HS256, EdDSA or ES256',
    );
  }
  const trimmed = text.trim();
  let material: TicketKeyMaterial;
  if (trimmed.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch (error) {
      throw materialError(
        'The key material looks like JSON but does not parse',
        source,
        (error as Error).message,
        error,
      );
    }
    if (!isPlainObject(parsed))
      throw materialError('The key JSON is not an object', source, 'pass a JWK or a JWKS');
    if (Object.hasOwn(parsed, 'keys')) {
      const keys = Array.isArray(parsed.keys) ? parsed.keys : [];
      const found = new Set(
        keys
          .filter(isPlainObject)
          .map((jwk) => jwkAlgorithm(jwk))
          .filter((algorithm) => algorithm !== undefined),
      );
      const algorithm = options.algorithm ?? (found.size === 1 ? [...found][0] : undefined);
      if (algorithm === undefined) {
        throw materialError(
          found.size === 0
            ? 'The JWKS has no Ed25519 or P-256 key'
            : 'The JWKS holds keys for several algorithms',
          source,
          'say which algorithm to pin (EdDSA or ES256)',
        );
      }
      material = { algorithm, jwks: parsed as unknown as TicketJwks };
    } else {
      const algorithm = jwkAlgorithm(parsed);
      if (algorithm === undefined)
        throw materialError('The JWK is not an oct, Ed25519 or P-256 key', source, 'check "kty" and "crv"');
      material = { algorithm, key: parsed as JWK };
    }
  } else if (trimmed.includes('-----BEGIN')) {
    let type: string | undefined;
    let curve: string | undefined;
    try {
      const key = createPublicKey(trimmed);
      type = key.asymmetricKeyType;
      curve = key.asymmetricKeyDetails?.namedCurve;
    } catch (error) {
      throw materialError(
        `The PEM key could not be read: ${(error as Error).message}`,
        source,
        'check the PEM file',
        error,
      );
    }
    const algorithm: TicketAlgorithm | undefined =
      type === 'ed25519' ? 'EdDSA' : type === 'ec' && curve === 'prime256v1' ? 'ES256' : undefined;
    if (algorithm === undefined) {
      throw materialError(
        `The PEM key is a ${type} key`,
        source,
        'tickets use Ed25519 (EdDSA) or P-256 (ES256) keys',
      );
    }
    material = { algorithm, key: trimmed };
  } else {
    material = { algorithm: 'HS256', key: text.replace(/\r?\n$/, '') };
  }
  if (options.algorithm !== undefined && material.algorithm !== options.algorithm) {
    throw materialError(
      `The key is for ${material.algorithm} but ${options.algorithm} is configured`,
      source,
      'use a key of the configured algorithm (the algorithm is pinned, never taken from a token)',
    );
  }
  return material;
}
