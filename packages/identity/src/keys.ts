import { createPrivateKey, createPublicKey, webcrypto, type KeyObject } from 'node:crypto';
import { AgentSafeError } from '@agent-safe/core';
import {
  calculateJwkThumbprint,
  exportJWK,
  exportPKCS8,
  exportSPKI,
  generateKeyPair as joseGenerateKeyPair,
  importJWK,
  importPKCS8,
  importSPKI,
  type CryptoKey,
  type JSONWebKeySet,
  type JWK,
} from 'jose';
import {
  type AsymmetricAlgorithm,
  type IdentityAlgorithm,
  IDENTITY_ALGORITHMS,
  isIdentityAlgorithm,
  MIN_HS256_SECRET_BYTES,
} from './algorithms.js';
import { type KeyMaterial, keyError, type LoadKeyMaterialOptions, loadKeyMaterial } from './key-material.js';

/** A key that checks signatures. For asymmetric algorithms it holds only the public key. */
export interface VerificationKey {
  readonly algorithm: IdentityAlgorithm;
  readonly keyId: string;
  readonly key: CryptoKey;
  /** Public JWK (with kid, alg, use) to publish; null for HS256, whose key is secret. */
  readonly publicJwk: JWK | null;
}

/** A key that mints tokens, already imported (import happens once, not per token). */
export interface SigningKey {
  readonly algorithm: IdentityAlgorithm;
  readonly keyId: string;
  readonly privateKey: CryptoKey;
  /** The matching verification key (the same secret for HS256, the public key otherwise). */
  readonly verificationKey: VerificationKey;
}

/** What {@link createSigningKey} accepts as material. */
export type SigningKeyInput = KeyMaterial | string | Uint8Array | JWK;

/** Options of {@link createSigningKey}. */
export interface CreateSigningKeyOptions {
  readonly algorithm: IdentityAlgorithm;
  /**
   * HS256: the shared secret (string or bytes, at least 32 bytes). EdDSA / ES256: a private PEM or a
   * private JWK. Or the result of {@link loadKeyMaterial}.
   */
  readonly material: SigningKeyInput;
  /** Key id written to the token header; defaults to the JWK's `kid`, the key's thumbprint, or `default` for HS256. */
  readonly keyId?: string;
}

/** Options of {@link createVerificationKeys}. */
export interface CreateVerificationKeysOptions {
  readonly algorithm: IdentityAlgorithm;
  /** A JWKS, a JWK, a public (or private) PEM, an HS256 secret, or the result of {@link loadKeyMaterial}. */
  readonly material: SigningKeyInput | JSONWebKeySet;
  /** Key id for material that carries none (PEM, secret). */
  readonly keyId?: string;
}

const KEY_ID = /^[\x21-\x7e]{1,128}$/;

/** Imports signing key material once. Throws `KEY_INVALID` when it does not fit the algorithm. */
export async function createSigningKey(options: CreateSigningKeyOptions): Promise<SigningKey> {
  const algorithm = checkAlgorithm(options.algorithm);
  const material = toMaterial(options.material, 'signing key');
  if (algorithm === 'HS256') {
    const secret = secretOf(material, algorithm);
    const keyId = checkKeyId(options.keyId ?? jwkKid(material) ?? 'default', material.source);
    const key = await importHmac(secret);
    return { algorithm, keyId, privateKey: key, verificationKey: { algorithm, keyId, key, publicJwk: null } };
  }
  let privateKey: CryptoKey;
  let publicKey: CryptoKey;
  if (material.kind === 'private-pem') {
    const keyObject = parsePrivatePem(material.pem, material.source);
    checkKeyObject(keyObject, algorithm, material.source);
    const pkcs8 = keyObject.export({ type: 'pkcs8', format: 'pem' }).toString();
    const spki = createPublicKey(keyObject).export({ type: 'spki', format: 'pem' }).toString();
    privateKey = await importOrFail(() => importPKCS8(pkcs8, algorithm), material.source);
    publicKey = await importOrFail(() => importSPKI(spki, algorithm), material.source);
  } else if (material.kind === 'jwk') {
    checkJwk(material.jwk, algorithm, material.source);
    if (typeof material.jwk.d !== 'string') {
      throw keyError(
        'The JWK is a public key; signing needs the private key (with "d")',
        material.source,
        'load the private JWK',
      );
    }
    privateKey = (await importOrFail(() => importJWK(material.jwk, algorithm), material.source)) as CryptoKey;
    publicKey = (await importOrFail(
      () => importJWK(publicPart(material.jwk), algorithm),
      material.source,
    )) as CryptoKey;
  } else {
    throw keyError(
      `${algorithm} signing needs a private key (PKCS#8 PEM or private JWK), got ${describeKind(material)}`,
      material.source,
      'load the private key file',
    );
  }
  return assembleAsymmetric(
    algorithm,
    privateKey,
    publicKey,
    options.keyId ?? jwkKid(material),
    material.source,
  );
}

/**
 * Builds the keys a verifier needs. From a JWKS, keeps the keys whose `alg` (or key type) fits the
 * pinned algorithm; refuses private key material in a JWKS (a published JWKS must be public).
 */
export async function createVerificationKeys(
  options: CreateVerificationKeysOptions,
): Promise<VerificationKey[]> {
  const algorithm = checkAlgorithm(options.algorithm);
  const material =
    isJwks(options.material) && !('kind' in options.material)
      ? ({ kind: 'jwks', jwks: options.material, source: 'JWKS' } as const)
      : toMaterial(options.material as SigningKeyInput, 'verification key');
  switch (material.kind) {
    case 'jwks': {
      const fitting = material.jwks.keys.filter((jwk) => jwkFits(jwk, algorithm));
      if (fitting.length === 0) {
        throw keyError(
          `The JWKS has no key for ${algorithm}`,
          material.source,
          `publish a key with "alg": "${algorithm}"`,
        );
      }
      const keys: VerificationKey[] = [];
      for (const [index, jwk] of fitting.entries()) {
        const source = `${material.source} keys[${index}]`;
        if (typeof jwk.kid !== 'string' && fitting.length > 1) {
          throw keyError('A JWKS with several keys needs a "kid" on each', source, 'add a kid to every key');
        }
        keys.push(await verificationKeyFromJwk(jwk, algorithm, options.keyId, source, true));
      }
      const ids = new Set(keys.map((key) => key.keyId));
      if (ids.size !== keys.length)
        throw keyError(
          'The JWKS has two keys with the same kid',
          material.source,
          'give each key its own kid',
        );
      return keys;
    }
    case 'jwk':
      return [await verificationKeyFromJwk(material.jwk, algorithm, options.keyId, material.source, false)];
    case 'public-pem': {
      if (algorithm === 'HS256')
        throw keyError(
          'HS256 needs a shared secret, got a public PEM key',
          material.source,
          'use the secret',
        );
      checkKeyObject(parsePublicPem(material.pem, material.source), algorithm, material.source);
      const publicKey = await importOrFail(() => importSPKI(material.pem, algorithm), material.source);
      const jwk = await exportJWK(publicKey);
      const keyId = checkKeyId(options.keyId ?? (await calculateJwkThumbprint(jwk)), material.source);
      return [
        { algorithm, keyId, key: publicKey, publicJwk: { ...jwk, kid: keyId, alg: algorithm, use: 'sig' } },
      ];
    }
    default: {
      const signing = await createSigningKey({ algorithm, material, keyId: options.keyId });
      return [signing.verificationKey];
    }
  }
}

/** Options of {@link generateKeyPair}. */
export interface GenerateKeyPairOptions {
  readonly algorithm: IdentityAlgorithm;
  readonly keyId?: string;
}

/**
 * Generates a fresh signing key: an Ed25519 or P-256 pair, or (HS256) a random 32-byte secret.
 * The private key is extractable so {@link exportSigningKeyPem} can write it to a file.
 */
export async function generateKeyPair(options: GenerateKeyPairOptions): Promise<SigningKey> {
  const algorithm = checkAlgorithm(options.algorithm);
  if (algorithm === 'HS256') {
    const secret = webcrypto.getRandomValues(new Uint8Array(MIN_HS256_SECRET_BYTES));
    const keyId = checkKeyId(options.keyId ?? 'default', 'generated key');
    const key = await webcrypto.subtle.importKey('raw', secret, { name: 'HMAC', hash: 'SHA-256' }, true, [
      'sign',
      'verify',
    ]);
    return { algorithm, keyId, privateKey: key, verificationKey: { algorithm, keyId, key, publicJwk: null } };
  }
  const pair = await joseGenerateKeyPair(algorithm, { extractable: true });
  return assembleAsymmetric(algorithm, pair.privateKey, pair.publicKey, options.keyId, 'generated key');
}

/** PEM files of a generated asymmetric key (PKCS#8 private, SPKI public). */
export interface SigningKeyPem {
  readonly privateKeyPem: string;
  readonly publicKeyPem: string;
}

/** Exports a key from {@link generateKeyPair} as PEM, e.g. for `identity keygen` to write files. */
export async function exportSigningKeyPem(signingKey: SigningKey): Promise<SigningKeyPem> {
  if (signingKey.algorithm === 'HS256') {
    throw new AgentSafeError('USAGE', 'HS256 keys are shared secrets and have no PEM form', {
      issues: [{ message: 'use EdDSA or ES256 for PEM key files', path: 'algorithm' }],
    });
  }
  if (!signingKey.privateKey.extractable) {
    throw keyError(
      'The private key was imported as non-extractable',
      signingKey.keyId,
      'export keys generated by generateKeyPair only',
    );
  }
  return {
    privateKeyPem: await exportPKCS8(signingKey.privateKey),
    publicKeyPem: await exportSPKI(signingKey.verificationKey.key),
  };
}

/** The public JWKS of some keys (`{ keys: [...] }` with kid, alg, use: 'sig'). HS256 keys are left out. */
export function publicJwks(keys: readonly (SigningKey | VerificationKey)[]): JSONWebKeySet {
  const out: JWK[] = [];
  for (const key of keys) {
    const verification = 'verificationKey' in key ? key.verificationKey : key;
    if (verification.publicJwk) out.push({ ...verification.publicJwk });
  }
  return { keys: out };
}

/** Options of {@link loadSigningKey} and {@link loadVerificationKeys}. */
export interface LoadKeyOptions extends LoadKeyMaterialOptions {
  readonly algorithm: IdentityAlgorithm;
  readonly keyId?: string;
}

/** {@link loadKeyMaterial} then {@link createSigningKey}: the one call a CLI `--signing-key` flag needs. */
export async function loadSigningKey(source: string, options: LoadKeyOptions): Promise<SigningKey> {
  const material = await loadKeyMaterial(source, options);
  return createSigningKey({ algorithm: options.algorithm, material, keyId: options.keyId });
}

/** {@link loadKeyMaterial} then {@link createVerificationKeys}: for a `--verification-key` / `--jwks` flag. */
export async function loadVerificationKeys(
  source: string,
  options: LoadKeyOptions,
): Promise<VerificationKey[]> {
  const material = await loadKeyMaterial(source, options);
  return createVerificationKeys({ algorithm: options.algorithm, material, keyId: options.keyId });
}

async function assembleAsymmetric(
  algorithm: AsymmetricAlgorithm,
  privateKey: CryptoKey,
  publicKey: CryptoKey,
  keyId: string | undefined,
  source: string,
): Promise<SigningKey> {
  const jwk = await exportJWK(publicKey);
  const id = checkKeyId(keyId ?? (await calculateJwkThumbprint(jwk)), source);
  const publicJwk: JWK = { ...jwk, kid: id, alg: algorithm, use: 'sig' };
  return {
    algorithm,
    keyId: id,
    privateKey,
    verificationKey: { algorithm, keyId: id, key: publicKey, publicJwk },
  };
}

async function verificationKeyFromJwk(
  jwk: JWK,
  algorithm: IdentityAlgorithm,
  keyId: string | undefined,
  source: string,
  fromJwks: boolean,
): Promise<VerificationKey> {
  checkJwk(jwk, algorithm, source);
  if (algorithm === 'HS256') {
    const secret = decodeOct(jwk, source);
    const id = checkKeyId(keyId ?? jwk.kid ?? 'default', source);
    return { algorithm, keyId: id, key: await importHmac(secret, source), publicJwk: null };
  }
  if (typeof jwk.d === 'string') {
    if (fromJwks) {
      throw keyError(
        'The JWKS contains private key material ("d")',
        source,
        'publish only public keys (drop "d")',
      );
    }
  }
  const publicKey = (await importOrFail(() => importJWK(publicPart(jwk), algorithm), source)) as CryptoKey;
  const exported = await exportJWK(publicKey);
  const id = checkKeyId(jwk.kid ?? keyId ?? (await calculateJwkThumbprint(exported)), source);
  return {
    algorithm,
    keyId: id,
    key: publicKey,
    publicJwk: { ...exported, kid: id, alg: algorithm, use: 'sig' },
  };
}

function checkAlgorithm(algorithm: unknown): IdentityAlgorithm {
  if (!isIdentityAlgorithm(algorithm)) {
    throw new AgentSafeError(
      'KEY_INVALID',
      `Algorithm ${JSON.stringify(String(algorithm))} is not supported`,
      {
        issues: [{ message: `expected one of ${IDENTITY_ALGORITHMS.join(', ')}`, path: 'algorithm' }],
      },
    );
  }
  return algorithm;
}

function checkKeyId(keyId: unknown, source: string): string {
  if (typeof keyId !== 'string' || !KEY_ID.test(keyId)) {
    throw keyError(
      'The key id is not 1–128 printable ASCII characters',
      source,
      'choose a short key id such as "agent-safe-2025-01"',
    );
  }
  return keyId;
}

function toMaterial(input: SigningKeyInput, what: string): KeyMaterial {
  if (typeof input === 'string') {
    const source = `${what} (string)`;
    const trimmed = input.trim();
    if (trimmed.startsWith('-----BEGIN')) {
      return trimmed.startsWith('-----BEGIN PUBLIC KEY')
        ? { kind: 'public-pem', pem: trimmed, source }
        : { kind: 'private-pem', pem: trimmed, source };
    }
    return { kind: 'secret', secret: new TextEncoder().encode(input), source };
  }
  if (input instanceof Uint8Array) return { kind: 'secret', secret: input, source: `${what} (bytes)` };
  if (input !== null && typeof input === 'object') {
    if ('kind' in input && typeof input.kind === 'string' && 'source' in input) return input as KeyMaterial;
    if (typeof (input as JWK).kty === 'string')
      return { kind: 'jwk', jwk: input as JWK, source: `${what} (JWK)` };
  }
  throw new AgentSafeError('KEY_INVALID', `The ${what} is not a secret, PEM, JWK or loaded key material`, {
    issues: [{ message: 'pass a string, bytes, a JWK or the result of loadKeyMaterial()', path: what }],
  });
}

function isJwks(value: unknown): value is JSONWebKeySet {
  return value !== null && typeof value === 'object' && Array.isArray((value as { keys?: unknown }).keys);
}

function secretOf(material: KeyMaterial, algorithm: 'HS256'): Uint8Array {
  let secret: Uint8Array;
  if (material.kind === 'secret') secret = material.secret;
  else if (material.kind === 'jwk' && material.jwk.kty === 'oct') {
    checkJwk(material.jwk, algorithm, material.source);
    secret = decodeOct(material.jwk, material.source);
  } else {
    throw keyError(
      `HS256 needs a shared secret, got ${describeKind(material)}`,
      material.source,
      'use a random secret of at least 32 bytes, or configure EdDSA/ES256',
    );
  }
  if (secret.byteLength < MIN_HS256_SECRET_BYTES) {
    throw keyError(
      `The HS256 secret is ${secret.byteLength} bytes; at least ${MIN_HS256_SECRET_BYTES} are required`,
      material.source,
      'generate one with `openssl rand -base64 48`',
    );
  }
  return secret;
}

function decodeOct(jwk: JWK, source: string): Uint8Array {
  if (typeof jwk.k !== 'string' || !/^[A-Za-z0-9_-]+$/.test(jwk.k)) {
    throw keyError('The oct JWK has no valid "k"', source, 'provide the base64url secret in "k"');
  }
  const secret = new Uint8Array(Buffer.from(jwk.k, 'base64url'));
  if (secret.byteLength < MIN_HS256_SECRET_BYTES) {
    throw keyError(
      `The HS256 secret is ${secret.byteLength} bytes; at least ${MIN_HS256_SECRET_BYTES} are required`,
      source,
      'use a longer secret',
    );
  }
  return secret;
}

async function importHmac(secret: Uint8Array, source = 'secret'): Promise<CryptoKey> {
  try {
    return await webcrypto.subtle.importKey('raw', secret, { name: 'HMAC', hash: 'SHA-256' }, false, [
      'sign',
      'verify',
    ]);
  } catch (error) {
    throw keyError('The HS256 secret could not be imported', source, 'check the secret', { cause: error });
  }
}

function jwkFits(jwk: JWK, algorithm: IdentityAlgorithm): boolean {
  if (jwk.use !== undefined && jwk.use !== 'sig') return false;
  if (jwk.alg !== undefined) return jwk.alg === algorithm;
  if (algorithm === 'HS256') return jwk.kty === 'oct';
  if (algorithm === 'EdDSA') return jwk.kty === 'OKP' && jwk.crv === 'Ed25519';
  return jwk.kty === 'EC' && jwk.crv === 'P-256';
}

function checkJwk(jwk: JWK, algorithm: IdentityAlgorithm, source: string): void {
  if (jwk.alg !== undefined && jwk.alg !== algorithm) {
    throw keyError(
      `The JWK is for ${String(jwk.alg)}, but the configured algorithm is ${algorithm}`,
      source,
      'use a key made for this algorithm',
    );
  }
  const expected =
    algorithm === 'HS256'
      ? 'kty "oct"'
      : algorithm === 'EdDSA'
        ? 'kty "OKP", crv "Ed25519"'
        : 'kty "EC", crv "P-256"';
  const fits =
    algorithm === 'HS256'
      ? jwk.kty === 'oct'
      : algorithm === 'EdDSA'
        ? jwk.kty === 'OKP' && jwk.crv === 'Ed25519'
        : jwk.kty === 'EC' && jwk.crv === 'P-256';
  if (!fits) {
    throw keyError(
      `The JWK (kty ${String(jwk.kty)}${jwk.crv ? `, crv ${String(jwk.crv)}` : ''}) does not fit ${algorithm}`,
      source,
      `expected ${expected}`,
    );
  }
}

function checkKeyObject(keyObject: KeyObject, algorithm: AsymmetricAlgorithm, source: string): void {
  const type = keyObject.asymmetricKeyType;
  const curve = keyObject.asymmetricKeyDetails?.namedCurve;
  const fits = algorithm === 'EdDSA' ? type === 'ed25519' : type === 'ec' && curve === 'prime256v1';
  if (!fits) {
    const found = type === 'ec' ? `an EC ${curve ?? ''} key` : `a ${type ?? 'unknown'} key`;
    throw keyError(
      `The PEM holds ${found}, which does not fit ${algorithm}`,
      source,
      algorithm === 'EdDSA' ? 'EdDSA needs an Ed25519 key' : 'ES256 needs a P-256 (prime256v1) key',
    );
  }
}

function parsePrivatePem(pem: string, source: string): KeyObject {
  try {
    return createPrivateKey({ key: pem, format: 'pem' });
  } catch (error) {
    throw keyError(
      'The private PEM key could not be parsed',
      source,
      'use an unencrypted PKCS#8 PEM (BEGIN PRIVATE KEY)',
      { cause: error },
    );
  }
}

function parsePublicPem(pem: string, source: string): KeyObject {
  try {
    return createPublicKey({ key: pem, format: 'pem' });
  } catch (error) {
    throw keyError('The public PEM key could not be parsed', source, 'use an SPKI PEM (BEGIN PUBLIC KEY)', {
      cause: error,
    });
  }
}

async function importOrFail<T>(run: () => Promise<T>, source: string): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw keyError(
      `The key could not be imported: ${(error as Error).message}`,
      source,
      'check that the key matches the algorithm',
      { cause: error },
    );
  }
}

function publicPart(jwk: JWK): JWK {
  const { kty, crv, x, y } = jwk;
  const out: JWK = { kty };
  if (crv !== undefined) out.crv = crv;
  if (x !== undefined) out.x = x;
  if (y !== undefined) out.y = y;
  return out;
}

function jwkKid(material: KeyMaterial): string | undefined {
  return material.kind === 'jwk' && typeof material.jwk.kid === 'string' ? material.jwk.kid : undefined;
}

function describeKind(material: KeyMaterial): string {
  switch (material.kind) {
    case 'secret':
      return 'a raw secret';
    case 'private-pem':
      return 'a private PEM key';
    case 'public-pem':
      return 'a public PEM key';
    case 'jwk':
      return `a JWK (kty ${String(material.jwk.kty)})`;
    case 'jwks':
      return 'a JWKS';
  }
}
