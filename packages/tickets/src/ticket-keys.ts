import {
  type JsonWebKey,
  type KeyObject,
  KeyObject as KeyObjectClass,
  createHash,
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  type webcrypto,
} from 'node:crypto';
import { types } from 'node:util';
import { AgentSafeError } from '@agent-safe/core';
import type { JSONWebKeySet, JWK } from 'jose';
import { MIN_HS256_SECRET_BYTES, type TicketAlgorithm } from './constants.js';
import { isPlainObject } from './params-digest.js';

/**
 * Key material accepted by issuers and validators. HS256: the shared secret as a string (UTF-8) or bytes
 * (at least 32), a secret KeyObject, an HMAC CryptoKey or an `oct` JWK. EdDSA / ES256: a PEM string
 * (PKCS#8 private or SPKI public), a KeyObject, a CryptoKey or a JWK.
 */
export type TicketKeyInput = string | Uint8Array | KeyObject | webcrypto.CryptoKey | JWK;

/** A JSON Web Key Set (`{ keys: [...] }`) of public keys. */
export type TicketJwks = JSONWebKeySet;

/** Which half of a key pair a caller needs. */
export type KeyRole = 'sign' | 'verify';

function keyError(message: string, path: string, fix: string, cause?: unknown): AgentSafeError {
  return new AgentSafeError('KEY_INVALID', message, {
    issues: [{ path, message: fix }],
    ...(cause === undefined ? {} : { cause }),
  });
}

/** Copies only the JWK members Node needs, so hostile extra members (`__proto__`, …) never reach it. */
function cleanJwk(jwk: Record<string, unknown>, path: string): JsonWebKey {
  const clean: Record<string, string> = {};
  for (const member of ['kty', 'crv', 'x', 'y', 'd', 'k']) {
    if (!Object.hasOwn(jwk, member)) continue;
    const value = jwk[member];
    if (typeof value !== 'string' || value.length > 8192) {
      throw keyError(
        'A JWK member is not a string',
        `${path}.${member}`,
        'JWK members are base64url strings',
      );
    }
    clean[member] = value;
  }
  return clean as JsonWebKey;
}

function expectedKeyDescription(algorithm: TicketAlgorithm): string {
  return algorithm === 'EdDSA' ? 'an Ed25519 key' : algorithm === 'ES256' ? 'a P-256 EC key' : 'a secret';
}

function assertAsymmetricType(algorithm: TicketAlgorithm, key: KeyObject, path: string): void {
  const matches =
    algorithm === 'EdDSA'
      ? key.asymmetricKeyType === 'ed25519'
      : key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1';
  if (!matches) {
    const actual =
      key.asymmetricKeyType === 'ec' ? `ec/${key.asymmetricKeyDetails?.namedCurve}` : key.asymmetricKeyType;
    throw keyError(
      `The key is a ${actual} key but the pinned algorithm ${algorithm} needs ${expectedKeyDescription(algorithm)}`,
      path,
      `pass ${expectedKeyDescription(algorithm)} or configure the algorithm that matches the key`,
    );
  }
}

function secretKeyObject(input: unknown, path: string): KeyObject {
  let key: KeyObject;
  if (typeof input === 'string') {
    if (input.includes('-----BEGIN')) {
      throw keyError(
        'HS256 was given a PEM key as its secret',
        path,
        'HS256 needs a shared random secret; for a key pair configure EdDSA or ES256 (this refusal prevents HS/asymmetric key confusion)',
      );
    }
    key = createSecretKey(Buffer.from(input, 'utf8'));
  } else if (types.isUint8Array(input)) {
    key = createSecretKey(Buffer.from(input));
  } else if (types.isKeyObject(input) || types.isCryptoKey(input)) {
    key = types.isKeyObject(input) ? (input as KeyObject) : KeyObjectClass.from(input as webcrypto.CryptoKey);
    if (key.type !== 'secret') {
      throw keyError(
        `HS256 was given a ${key.type} key`,
        path,
        'HS256 needs a shared secret; for a key pair configure EdDSA or ES256',
      );
    }
  } else if (isPlainObject(input)) {
    const jwk = cleanJwk(input, path);
    if (jwk.kty !== 'oct' || typeof jwk.k !== 'string') {
      throw keyError(
        `HS256 was given a ${String(jwk.kty)} JWK`,
        path,
        'HS256 needs an "oct" JWK with a "k" member',
      );
    }
    if (Object.hasOwn(input, 'alg') && input.alg !== 'HS256') {
      throw keyError(
        `The JWK is for ${String(input.alg)}, not HS256`,
        `${path}.alg`,
        'use a key made for HS256',
      );
    }
    key = createSecretKey(Buffer.from(jwk.k, 'base64url'));
  } else {
    throw keyError('HS256 key has an unsupported type', path, 'pass the secret as a string or Uint8Array');
  }
  if ((key.symmetricKeySize ?? 0) < MIN_HS256_SECRET_BYTES) {
    throw keyError(
      `The HS256 secret is ${key.symmetricKeySize ?? 0} bytes; at least ${MIN_HS256_SECRET_BYTES} are required`,
      path,
      'generate one with `openssl rand -base64 48`',
    );
  }
  return key;
}

function asymmetricKeyObject(
  algorithm: TicketAlgorithm,
  input: unknown,
  role: KeyRole,
  path: string,
): KeyObject {
  let key: KeyObject;
  try {
    if (typeof input === 'string') {
      if (!input.includes('-----BEGIN')) {
        throw keyError(
          `${algorithm} was given a string that is not a PEM key`,
          path,
          `pass a PEM (${role === 'sign' ? 'PKCS#8 private' : 'SPKI public'}) key, a JWK, a KeyObject or a CryptoKey`,
        );
      }
      key = role === 'sign' ? createPrivateKey(input) : createPublicKey(input);
    } else if (types.isUint8Array(input)) {
      throw keyError(
        `${algorithm} was given raw bytes`,
        path,
        'raw bytes are only accepted as an HS256 secret; pass a PEM string, JWK, KeyObject or CryptoKey',
      );
    } else if (types.isKeyObject(input) || types.isCryptoKey(input)) {
      key = types.isKeyObject(input)
        ? (input as KeyObject)
        : KeyObjectClass.from(input as webcrypto.CryptoKey);
    } else if (isPlainObject(input)) {
      if (Object.hasOwn(input, 'alg') && input.alg !== algorithm) {
        throw keyError(
          `The JWK is for ${String(input.alg)}, not ${algorithm}`,
          `${path}.alg`,
          'use a key made for the pinned algorithm',
        );
      }
      const jwk = cleanJwk(input, path);
      if (jwk.kty === 'oct') {
        throw keyError(
          `${algorithm} was given a symmetric (oct) JWK`,
          path,
          'use an OKP (Ed25519) or EC (P-256) JWK',
        );
      }
      key =
        typeof jwk.d === 'string'
          ? createPrivateKey({ key: jwk, format: 'jwk' })
          : createPublicKey({ key: jwk, format: 'jwk' });
    } else {
      throw keyError(
        `${algorithm} key has an unsupported type`,
        path,
        'pass a PEM string, JWK, KeyObject or CryptoKey',
      );
    }
  } catch (error) {
    if (error instanceof AgentSafeError) throw error;
    throw keyError(
      `The ${algorithm} key could not be read: ${(error as Error).message}`,
      path,
      'check the key material',
      error,
    );
  }
  if (key.type === 'secret') {
    throw keyError(
      `${algorithm} was given a secret key`,
      path,
      'use a key pair, or configure HS256 for a shared secret',
    );
  }
  if (role === 'sign' && key.type !== 'private') {
    throw keyError(`The ${algorithm} issuer was given a public key`, path, 'an issuer needs the private key');
  }
  assertAsymmetricType(algorithm, key, path);
  // A validator keeps only the public half, even when handed the private key.
  return role === 'verify' && key.type === 'private' ? createPublicKey(key) : key;
}

/**
 * Checks `input` against the pinned algorithm and returns it as a KeyObject (synchronously, so a wrong
 * key fails at construction). For `verify`, asymmetric keys are reduced to their public half.
 */
export function toKeyObject(
  algorithm: TicketAlgorithm,
  input: unknown,
  role: KeyRole,
  path = 'key',
): KeyObject {
  if (algorithm === 'HS256') return secretKeyObject(input, path);
  return asymmetricKeyObject(algorithm, input, role, path);
}

/** RFC 7638 thumbprint (SHA-256, base64url) of a key: the default `kid`. */
export function keyThumbprint(key: KeyObject): string {
  let members: string;
  if (key.type === 'secret') {
    members = JSON.stringify({ k: key.export().toString('base64url'), kty: 'oct' });
  } else {
    const jwk = createPublicKey(key).export({ format: 'jwk' });
    members =
      jwk.kty === 'EC'
        ? JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y })
        : JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x });
  }
  return createHash('sha256').update(members).digest('base64url');
}

/** The public JWK of an asymmetric key, labelled for JWKS publication. */
export function publicJwk(algorithm: TicketAlgorithm, key: KeyObject, keyId: string): JWK {
  const jwk = createPublicKey(key).export({ format: 'jwk' }) as JWK;
  return { ...jwk, kid: keyId, alg: algorithm, use: 'sig' };
}

/** The algorithm a JWK is for, from `alg` or else its key type, or undefined when it fits none. */
export function jwkAlgorithm(jwk: Record<string, unknown>): TicketAlgorithm | undefined {
  if (jwk.kty === 'oct') return 'HS256';
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return 'EdDSA';
  if (jwk.kty === 'EC' && jwk.crv === 'P-256') return 'ES256';
  return undefined;
}

/** Longest key id accepted in configuration or in a ticket header. */
export const MAX_KEY_ID_LENGTH = 256;

/** True for a key id: 1…256 printable ASCII characters. */
export function isKeyId(value: unknown): value is string {
  return (
    typeof value === 'string' &&
    value.length > 0 &&
    value.length <= MAX_KEY_ID_LENGTH &&
    /^[\x21-\x7e]+$/.test(value)
  );
}

/** A usable verification key of a JWKS. */
export interface JwksEntry {
  readonly keyId: string | undefined;
  readonly key: KeyObject;
}

/**
 * Checks a JWKS for the pinned algorithm: keys for other algorithms (or marked for encryption) are
 * ignored, private or secret members are refused (a JWKS is published), duplicate `kid`s are refused.
 */
export function readJwks(algorithm: TicketAlgorithm, jwks: unknown, path = 'jwks'): JwksEntry[] {
  if (algorithm === 'HS256') {
    throw keyError(
      'An HS256 validator cannot be built from a JWKS',
      path,
      'a JWKS publishes public keys; HS256 needs the shared secret passed as `key`',
    );
  }
  if (!isPlainObject(jwks) || !Array.isArray(jwks.keys)) {
    throw keyError('The JWKS is not an object with a "keys" array', path, 'pass { "keys": [ {JWK}, … ] }');
  }
  if (jwks.keys.length > 100) {
    throw keyError(`The JWKS has ${jwks.keys.length} keys`, `${path}.keys`, 'publish at most 100 keys');
  }
  const entries: JwksEntry[] = [];
  const seen = new Set<string>();
  jwks.keys.forEach((jwk: unknown, index: number) => {
    const where = `${path}.keys[${index}]`;
    if (!isPlainObject(jwk))
      throw keyError('A JWKS entry is not an object', where, 'each entry must be a JWK');
    if (Object.hasOwn(jwk, 'd') || Object.hasOwn(jwk, 'k')) {
      throw keyError('The JWKS contains private or secret key material', where, 'publish only public keys');
    }
    if (jwkAlgorithm(jwk) !== algorithm) return;
    if (Object.hasOwn(jwk, 'alg') && jwk.alg !== algorithm) return;
    if (Object.hasOwn(jwk, 'use') && jwk.use !== 'sig') return;
    const keyId = Object.hasOwn(jwk, 'kid') ? jwk.kid : undefined;
    if (keyId !== undefined && !isKeyId(keyId)) {
      throw keyError(
        'A JWKS entry has an invalid kid',
        `${where}.kid`,
        'kid must be 1-256 printable characters',
      );
    }
    if (keyId !== undefined) {
      if (seen.has(keyId))
        throw keyError(`The JWKS has two keys with kid "${keyId}"`, `${where}.kid`, 'kids must be unique');
      seen.add(keyId);
    }
    entries.push({ keyId, key: toKeyObject(algorithm, jwk, 'verify', where) });
  });
  if (entries.length === 0) {
    throw keyError(
      `The JWKS has no ${algorithm} signing key`,
      path,
      `add ${expectedKeyDescription(algorithm)} JWK`,
    );
  }
  if (entries.length > 1 && entries.some((entry) => entry.keyId === undefined)) {
    throw keyError('A JWKS with several keys must give each a kid', path, 'add a unique "kid" to every key');
  }
  return entries;
}
