import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, symlink, writeFile as writeRawFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ManualClock } from '@agent-safe/core';
import {
  createSigningKey,
  createVerificationKeys,
  exportSigningKeyPem,
  generateKeyPair,
  IdentityManager,
  loadKeyMaterial,
  loadSigningKey,
  loadVerificationKeys,
} from '../src/index.js';
import { SECRET, T0 } from './helpers.js';

/** Key files as a careful operator writes them: readable by their owner only. */
const writeFile = (path: string, data: string | Uint8Array) => writeRawFile(path, data, { mode: 0o600 });

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'agent-safe-identity-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('loadKeyMaterial', () => {
  it('reads a secret from env:NAME and from a file', async () => {
    const fromEnv = await loadKeyMaterial('env:AGENT_SAFE_TEST_KEY', {
      env: { AGENT_SAFE_TEST_KEY: SECRET },
    });
    expect(fromEnv).toEqual({
      kind: 'secret',
      secret: new TextEncoder().encode(SECRET),
      source: 'env:AGENT_SAFE_TEST_KEY',
    });
    const path = join(dir, 'secret.txt');
    await writeFile(path, `${SECRET}\n`);
    for (const source of [`file:${path}`, path]) {
      expect(await loadKeyMaterial(source)).toMatchObject({ kind: 'secret', source: `file:${path}` });
    }
    const relative = await loadKeyMaterial('secret.txt', { cwd: dir });
    expect(relative.kind === 'secret' && new TextDecoder().decode(relative.secret)).toBe(SECRET);
  });

  it('classifies PEM, JWK and JWKS files', async () => {
    const pair = generateKeyPairSync('ed25519');
    const privatePem = pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const publicPem = pair.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const jwk = pair.publicKey.export({ format: 'jwk' });
    await writeFile(join(dir, 'ed.key'), privatePem);
    await writeFile(join(dir, 'ed.pub'), publicPem);
    await writeFile(join(dir, 'ed.jwk.json'), JSON.stringify(jwk));
    await writeFile(join(dir, 'ed.jwks.json'), JSON.stringify({ keys: [jwk] }));
    expect((await loadKeyMaterial(join(dir, 'ed.key'))).kind).toBe('private-pem');
    expect((await loadKeyMaterial(join(dir, 'ed.pub'))).kind).toBe('public-pem');
    expect((await loadKeyMaterial(join(dir, 'ed.jwk.json'))).kind).toBe('jwk');
    expect((await loadKeyMaterial(join(dir, 'ed.jwks.json'))).kind).toBe('jwks');
  });

  it('refuses a literal secret or key given as the source, without echoing it', async () => {
    const literals = [
      'my-very-secret-signing-key-that-is-long-enough',
      '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----',
      '{"kty":"oct","k":"c2VjcmV0"}',
    ];
    for (const literal of literals) {
      const error = await loadKeyMaterial(literal, { cwd: dir }).then(
        () => null,
        (caught: unknown) => caught as Error & { code: string },
      );
      expect(error?.code).toBe('KEY_INVALID');
      expect(error?.message).toContain('env:NAME');
      expect(error?.message).not.toContain(literal);
      expect(error?.message).not.toContain('secret-signing');
    }
  });

  it('names the source in clear errors', async () => {
    await expect(loadKeyMaterial('env:NOT_SET_ANYWHERE', { env: {} })).rejects.toMatchObject({
      code: 'KEY_INVALID',
      message: expect.stringContaining('NOT_SET_ANYWHERE is not set'),
    });
    await expect(loadKeyMaterial('env:__proto__', { env: {} })).rejects.toMatchObject({
      code: 'KEY_INVALID',
    });
    await expect(loadKeyMaterial('env:BAD-NAME', { env: {} })).rejects.toMatchObject({ code: 'KEY_INVALID' });
    await expect(loadKeyMaterial(`file:${join(dir, 'missing.pem')}`)).rejects.toMatchObject({
      code: 'KEY_INVALID',
      message: expect.stringContaining('missing.pem'),
    });
    await expect(loadKeyMaterial(`file:${dir}`)).rejects.toMatchObject({
      code: 'KEY_INVALID',
      message: expect.stringContaining('not a regular file'),
    });
    await writeFile(join(dir, 'bad.json'), '{"neither": true}');
    await expect(loadKeyMaterial(join(dir, 'bad.json'))).rejects.toMatchObject({ code: 'KEY_INVALID' });
    await writeFile(
      join(dir, 'rsa.pem'),
      '-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----',
    );
    await expect(loadKeyMaterial(join(dir, 'rsa.pem'))).rejects.toMatchObject({ code: 'KEY_INVALID' });
    await expect(loadKeyMaterial('')).rejects.toMatchObject({ code: 'KEY_INVALID' });
  });

  it('follows a symlink to a regular key file (mounted secrets are symlinks)', async () => {
    const target = join(dir, 'linked-secret');
    await writeFile(target, SECRET);
    await symlink(target, join(dir, 'link'));
    expect((await loadKeyMaterial(join(dir, 'link'))).kind).toBe('secret');
  });
});

describe('signing and verification keys', () => {
  it('refuses an HS256 secret shorter than 32 bytes', async () => {
    await expect(
      createSigningKey({ algorithm: 'HS256', material: 'shared-secret-key' }),
    ).rejects.toMatchObject({
      code: 'KEY_INVALID',
      message: expect.stringContaining('at least 32'),
    });
  });

  it('refuses key material of the wrong kind for the algorithm', async () => {
    const ed = generateKeyPairSync('ed25519');
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const edPem = ed.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const ecPem = ec.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    await expect(createSigningKey({ algorithm: 'HS256', material: edPem })).rejects.toMatchObject({
      code: 'KEY_INVALID',
    });
    await expect(createSigningKey({ algorithm: 'ES256', material: edPem })).rejects.toMatchObject({
      code: 'KEY_INVALID',
      message: expect.stringContaining('P-256'),
    });
    await expect(createSigningKey({ algorithm: 'EdDSA', material: ecPem })).rejects.toMatchObject({
      code: 'KEY_INVALID',
    });
    await expect(createSigningKey({ algorithm: 'EdDSA', material: SECRET })).rejects.toMatchObject({
      code: 'KEY_INVALID',
    });
    await expect(
      createSigningKey({ algorithm: 'EdDSA', material: ed.publicKey.export({ format: 'jwk' }) as never }),
    ).rejects.toMatchObject({ code: 'KEY_INVALID', message: expect.stringContaining('private') });
  });

  it('loads PEM and JWK files from env:/file: sources and signs tokens that verify', async () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await writeFile(join(dir, 'es.key'), ec.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    await writeFile(join(dir, 'es.pub'), ec.publicKey.export({ type: 'spki', format: 'pem' }));
    const signingKey = await loadSigningKey(`file:${join(dir, 'es.key')}`, {
      algorithm: 'ES256',
      keyId: 'es-1',
    });
    const verificationKeys = await loadVerificationKeys(join(dir, 'es.pub'), {
      algorithm: 'ES256',
      keyId: 'es-1',
    });
    const clock = new ManualClock(T0);
    const minter = await IdentityManager.create({ algorithm: 'ES256', signingKey, clock });
    const verifier = await IdentityManager.create({ algorithm: 'ES256', verificationKeys, clock });
    expect(await verifier.verify(await minter.createToken({ agentId: 'a' }))).toMatchObject({ ok: true });

    const edJwk = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' });
    const env = { ED_KEY: JSON.stringify({ ...edJwk, kid: 'ed-env' }) };
    const edKey = await loadSigningKey('env:ED_KEY', { algorithm: 'EdDSA', env });
    expect(edKey.keyId).toBe('ed-env');
    expect(edKey.verificationKey.publicJwk).not.toHaveProperty('d');
  });

  it('builds a verifier from jwks() alone that verifies EdDSA and ES256 tokens and cannot mint', async () => {
    for (const algorithm of ['EdDSA', 'ES256'] as const) {
      const clock = new ManualClock(T0);
      const minter = await IdentityManager.create({
        algorithm,
        signingKey: await generateKeyPair({ algorithm, keyId: `${algorithm}-1` }),
        clock,
      });
      const jwks = minter.jwks();
      expect(jwks.keys).toHaveLength(1);
      expect(jwks.keys[0]).toMatchObject({ kid: `${algorithm}-1`, alg: algorithm, use: 'sig' });
      expect(jwks.keys[0]).not.toHaveProperty('d');
      const published = JSON.parse(JSON.stringify(jwks));
      const verifier = await IdentityManager.create({ algorithm, verificationKeys: published, clock });
      const token = await minter.createToken({ agentId: 'worker', roles: ['reader'] });
      expect(await verifier.verify(token)).toMatchObject({
        ok: true,
        caller: { agentId: 'worker', authenticated: true },
      });
      expect(verifier.canSign).toBe(false);
      await expect(verifier.createToken({ agentId: 'mallory' })).rejects.toMatchObject({
        code: 'KEY_INVALID',
      });
      await expect(verifier.delegate({ parentToken: token, childAgentId: 'x' })).rejects.toMatchObject({
        code: 'KEY_INVALID',
      });
    }
  });

  it('verifies tokens from every key of a rotated JWKS by kid', async () => {
    const clock = new ManualClock(T0);
    const oldKey = await generateKeyPair({ algorithm: 'EdDSA', keyId: 'old' });
    const newKey = await generateKeyPair({ algorithm: 'EdDSA', keyId: 'new' });
    const esKey = await generateKeyPair({ algorithm: 'ES256', keyId: 'es' });
    const jwks = { keys: [oldKey, newKey, esKey].map((key) => key.verificationKey.publicJwk!) };
    const verifier = await IdentityManager.create({ algorithm: 'EdDSA', verificationKeys: jwks, clock });
    for (const signingKey of [oldKey, newKey]) {
      const minter = await IdentityManager.create({ algorithm: 'EdDSA', signingKey, clock });
      expect(await verifier.verify(await minter.createToken({ agentId: 'a' }))).toMatchObject({ ok: true });
    }
    const esMinter = await IdentityManager.create({ algorithm: 'ES256', signingKey: esKey, clock });
    expect(await verifier.verify(await esMinter.createToken({ agentId: 'a' }))).toMatchObject({
      ok: false,
      code: 'ALGORITHM',
    });
  });

  it('refuses a JWKS with private material, duplicate kids, or no fitting key', async () => {
    const privateJwk = { ...generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' }), kid: 'k' };
    await expect(
      createVerificationKeys({ algorithm: 'EdDSA', material: { keys: [privateJwk] } }),
    ).rejects.toMatchObject({
      code: 'KEY_INVALID',
      message: expect.stringContaining('private'),
    });
    const key = (await generateKeyPair({ algorithm: 'EdDSA', keyId: 'same' })).verificationKey.publicJwk!;
    const other = (await generateKeyPair({ algorithm: 'EdDSA', keyId: 'same' })).verificationKey.publicJwk!;
    await expect(
      createVerificationKeys({ algorithm: 'EdDSA', material: { keys: [key, other] } }),
    ).rejects.toMatchObject({
      code: 'KEY_INVALID',
    });
    await expect(
      createVerificationKeys({ algorithm: 'ES256', material: { keys: [key] } }),
    ).rejects.toMatchObject({
      code: 'KEY_INVALID',
    });
  });

  it('exports generated keys as PEM that loads back', async () => {
    const generated = await generateKeyPair({ algorithm: 'EdDSA', keyId: 'gen' });
    const pem = await exportSigningKeyPem(generated);
    expect(pem.privateKeyPem).toContain('BEGIN PRIVATE KEY');
    expect(pem.publicKeyPem).toContain('BEGIN PUBLIC KEY');
    const reloaded = await createSigningKey({
      algorithm: 'EdDSA',
      material: pem.privateKeyPem,
      keyId: 'gen',
    });
    expect(reloaded.verificationKey.publicJwk).toEqual(generated.verificationKey.publicJwk);
    const hs = await IdentityManager.create({
      algorithm: 'HS256',
      signingKey: await generateKeyPair({ algorithm: 'HS256' }),
    });
    expect(() => hs.jwks()).toThrow(expect.objectContaining({ code: 'USAGE' }));
  });
});
