import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { ManualClock } from '@agent-safe/core';
import { TicketIssuer, TicketValidator, parseTicketKeyMaterial } from '../src/index.js';
import { EXPECTED, REQUEST, SECRET, START, ed25519, p256 } from './helpers.js';

describe('key configuration', () => {
  it('refuses an HS256 secret shorter than 32 bytes', () => {
    expect(() => new TicketIssuer({ algorithm: 'HS256', key: 'short' })).toThrow(
      expect.objectContaining({ code: 'KEY_INVALID' }),
    );
    expect(() => new TicketValidator({ algorithm: 'HS256', key: new Uint8Array(31) })).toThrow(/at least 32/);
  });

  it('refuses a key of the wrong kind for the pinned algorithm', () => {
    expect(() => new TicketIssuer({ algorithm: 'EdDSA', key: p256().privateKey })).toThrow(
      /needs an Ed25519 key/,
    );
    expect(() => new TicketIssuer({ algorithm: 'ES256', key: ed25519().privateKey })).toThrow(/P-256/);
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    expect(() => new TicketValidator({ algorithm: 'ES256', key: p384.publicKey })).toThrow(/P-256/);
    expect(() => new TicketIssuer({ algorithm: 'EdDSA', key: ed25519().publicKey })).toThrow(/public key/);
    expect(() => new TicketIssuer({ algorithm: 'EdDSA', key: SECRET })).toThrow(/not a PEM key/);
    expect(() => new TicketIssuer({ algorithm: 'none' as 'HS256', key: SECRET })).toThrow(/Unsupported/);
  });

  it('refuses bad options', () => {
    expect(() => new TicketIssuer({ algorithm: 'HS256', key: SECRET, ttlSeconds: 0 })).toThrow(/ttlSeconds/);
    expect(() => new TicketIssuer({ algorithm: 'HS256', key: SECRET, ttlSeconds: 3601 })).toThrow(
      /ttlSeconds/,
    );
    expect(() => new TicketValidator({ algorithm: 'HS256', key: SECRET, clockSkewSeconds: 301 })).toThrow(
      /clockSkewSeconds/,
    );
    expect(() => new TicketValidator({ algorithm: 'HS256' })).toThrow(/exactly one/);
    expect(() => new TicketValidator({ algorithm: 'HS256', jwks: { keys: [] } })).toThrow(/JWKS/);
  });

  it('refuses a JWKS with private material, duplicate kids or no usable key', () => {
    const jwk = ed25519().privateKey.export({ format: 'jwk' });
    expect(() => new TicketValidator({ algorithm: 'EdDSA', jwks: { keys: [jwk] } })).toThrow(/private/);
    const issuer = new TicketIssuer({ algorithm: 'EdDSA', key: ed25519().privateKey, keyId: 'same' });
    const twin = new TicketIssuer({ algorithm: 'EdDSA', key: ed25519().privateKey, keyId: 'same' });
    expect(
      () =>
        new TicketValidator({
          algorithm: 'EdDSA',
          jwks: { keys: [...issuer.jwks().keys, ...twin.jwks().keys] },
        }),
    ).toThrow(/two keys/);
    expect(() => new TicketValidator({ algorithm: 'ES256', jwks: issuer.jwks() })).toThrow(/no ES256/);
  });

  it('has no JWKS for HS256', () => {
    expect(() => new TicketIssuer({ algorithm: 'HS256', key: SECRET }).jwks()).toThrow(/no public key/);
  });

  it('validates issue() input', async () => {
    const issuer = new TicketIssuer({ algorithm: 'HS256', key: SECRET });
    await expect(issuer.issue({ ...REQUEST, action: '' })).rejects.toMatchObject({ code: 'INPUT_INVALID' });
    await expect(issuer.issue({ ...REQUEST, target: 'x'.repeat(513) })).rejects.toMatchObject({
      code: 'INPUT_INVALID',
    });
    await expect(issuer.issue({ ...REQUEST, params: [] as never })).rejects.toMatchObject({
      code: 'INPUT_INVALID',
    });
    await expect(issuer.issue({ ...REQUEST, params: { n: Number.POSITIVE_INFINITY } })).rejects.toMatchObject(
      { code: 'INPUT_INVALID' },
    );
    await expect(issuer.issue(null as never)).rejects.toMatchObject({ code: 'INPUT_INVALID' });
  });
});

describe('parseTicketKeyMaterial', () => {
  it('reads a secret, a PEM key, a JWK and a JWKS and infers the algorithm from the key', async () => {
    expect(parseTicketKeyMaterial(`${SECRET}\n`)).toEqual({ algorithm: 'HS256', key: SECRET });
    const pair = ed25519();
    const privatePem = pair.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    expect(parseTicketKeyMaterial(privatePem)).toMatchObject({ algorithm: 'EdDSA' });
    expect(
      parseTicketKeyMaterial(p256().publicKey.export({ format: 'pem', type: 'spki' }).toString()),
    ).toMatchObject({ algorithm: 'ES256' });
    expect(parseTicketKeyMaterial(JSON.stringify(pair.publicKey.export({ format: 'jwk' })))).toMatchObject({
      algorithm: 'EdDSA',
    });

    const clock = new ManualClock(START);
    const issuer = new TicketIssuer({
      ...(parseTicketKeyMaterial(privatePem) as { algorithm: 'EdDSA'; key: string }),
      clock,
    });
    const material = parseTicketKeyMaterial(JSON.stringify(issuer.jwks()), { source: 'jwks.json' });
    expect(material).toMatchObject({ algorithm: 'EdDSA', jwks: { keys: [{ kid: issuer.keyId }] } });
    const validator = new TicketValidator({ ...material, clock });
    expect((await validator.validate((await issuer.issue(REQUEST)).token, EXPECTED)).valid).toBe(true);
  });

  it('refuses material that contradicts the configured algorithm, or is empty or unreadable', () => {
    expect(() => parseTicketKeyMaterial(SECRET, { algorithm: 'EdDSA' })).toThrow(
      /is for HS256 but EdDSA is configured/,
    );
    expect(() => parseTicketKeyMaterial('  \n')).toThrow(/empty/);
    expect(() => parseTicketKeyMaterial('{ not json', { source: 'env:TICKET_KEY' })).toThrow(
      expect.objectContaining({
        code: 'KEY_INVALID',
        issues: [expect.objectContaining({ file: 'env:TICKET_KEY' })],
      }),
    );
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 })
      .publicKey.export({ format: 'pem', type: 'spki' })
      .toString();
    expect(() => parseTicketKeyMaterial(rsa)).toThrow(/rsa key/);
  });
});
