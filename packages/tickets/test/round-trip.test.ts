import { describe, expect, it } from '@jest/globals';
import { ManualClock } from '@agent-safe/core';
import { TICKET_TYPE, TicketIssuer, TicketValidator, ticketParamsDigest } from '../src/index.js';
import type { TicketAlgorithm, TicketKeyInput } from '../src/index.js';
import { EXPECTED, PARAMS, REQUEST, SECRET, START, ed25519, p256 } from './helpers.js';

function decode(token: string): { header: Record<string, unknown>; payload: Record<string, unknown> } {
  const [header, payload] = token.split('.');
  return {
    header: JSON.parse(Buffer.from(header!, 'base64url').toString()),
    payload: JSON.parse(Buffer.from(payload!, 'base64url').toString()),
  };
}

const setups: [TicketAlgorithm, () => { sign: TicketKeyInput; verify: TicketKeyInput }][] = [
  ['HS256', () => ({ sign: SECRET, verify: SECRET })],
  [
    'EdDSA',
    () => {
      const pair = ed25519();
      return { sign: pair.privateKey, verify: pair.publicKey };
    },
  ],
  [
    'ES256',
    () => {
      const pair = p256();
      return { sign: pair.privateKey, verify: pair.publicKey };
    },
  ],
];

describe('issue and validate', () => {
  it.each(setups)('round-trips a %s ticket', async (algorithm, keys) => {
    const { sign, verify } = keys();
    const clock = new ManualClock(START);
    const issuer = new TicketIssuer({ algorithm, key: sign, clock, keyId: 'k1' });
    const validator = new TicketValidator({ algorithm, key: verify, clock, keyId: 'k1' });
    const ticket = await issuer.issue(REQUEST);

    expect(ticket).toMatchObject({
      action: 'restart-deployment',
      target: 'dev/test-app',
      caller: 'agent-01',
      auditId: 'evt-0001',
      policyRevision: 'rev-42',
      issuer: 'agent-safe',
      issuedAt: START,
      expiresAt: START + 300_000,
      paramsDigest: ticketParamsDigest(PARAMS),
    });
    expect(ticket.nonce).toMatch(/^[0-9a-f]{32}$/);

    const { header, payload } = decode(ticket.token);
    expect(header).toEqual({ alg: algorithm, typ: TICKET_TYPE, kid: 'k1' });
    expect(payload).toEqual({
      iss: 'agent-safe',
      sub: 'agent-01',
      act: 'restart-deployment',
      tgt: 'dev/test-app',
      pdg: ticket.paramsDigest,
      aid: 'evt-0001',
      rev: 'rev-42',
      jti: ticket.nonce,
      iat: START / 1000,
      nbf: START / 1000,
      exp: START / 1000 + 300,
    });

    const result = await validator.validate(ticket.token, {
      ...EXPECTED,
      action: 'restart-deployment',
      target: 'dev/test-app',
      caller: 'agent-01',
      params: PARAMS,
    });
    expect(result.valid).toBe(true);
    expect(result.ticket).toEqual(ticket);
  });

  it('issues a fresh nonce for every ticket', async () => {
    const issuer = new TicketIssuer({ algorithm: 'HS256', key: SECRET });
    const nonces = new Set<string>();
    for (let index = 0; index < 50; index += 1) nonces.add((await issuer.issue(REQUEST)).nonce);
    expect(nonces.size).toBe(50);
  });

  it('uses the configured issuer and ttl', async () => {
    const clock = new ManualClock(START);
    const issuer = new TicketIssuer({
      algorithm: 'HS256',
      key: SECRET,
      issuer: 'pdp-eu',
      ttlSeconds: 60,
      clock,
    });
    const ticket = await issuer.issue(REQUEST);
    expect(ticket.expiresAt - ticket.issuedAt).toBe(60_000);
    const validator = new TicketValidator({ algorithm: 'HS256', key: SECRET, issuer: 'pdp-eu', clock });
    expect((await validator.validate(ticket.token, EXPECTED)).valid).toBe(true);
  });

  it.each(['EdDSA', 'ES256'] as const)(
    'lets a JWKS-only %s validator verify but gives it nothing to mint with',
    async (algorithm) => {
      const pair = algorithm === 'EdDSA' ? ed25519() : p256();
      const clock = new ManualClock(START);
      const issuer = new TicketIssuer({ algorithm, key: pair.privateKey, clock });
      const jwks = issuer.jwks();
      expect(jwks.keys).toHaveLength(1);
      expect(jwks.keys[0]).toMatchObject({ kid: issuer.keyId, alg: algorithm, use: 'sig' });
      expect(jwks.keys[0]).not.toHaveProperty('d');

      const executor = new TicketValidator({ algorithm, jwks: JSON.parse(JSON.stringify(jwks)), clock });
      const ticket = await issuer.issue(REQUEST);
      const result = await executor.validate(ticket.token, {
        ...EXPECTED,
        action: REQUEST.action,
        params: PARAMS,
      });
      expect(result).toMatchObject({ valid: true, ticket: { nonce: ticket.nonce } });
      // The public JWK cannot serve as an issuer key.
      expect(() => new TicketIssuer({ algorithm, key: jwks.keys[0]! })).toThrow(/public key/);
    },
  );

  it('selects the JWKS key by kid during a key rotation', async () => {
    const clock = new ManualClock(START);
    const oldIssuer = new TicketIssuer({
      algorithm: 'EdDSA',
      key: ed25519().privateKey,
      keyId: 'old',
      clock,
    });
    const newIssuer = new TicketIssuer({
      algorithm: 'EdDSA',
      key: ed25519().privateKey,
      keyId: 'new',
      clock,
    });
    const validator = new TicketValidator({
      algorithm: 'EdDSA',
      jwks: { keys: [...oldIssuer.jwks().keys, ...newIssuer.jwks().keys] },
      clock,
    });
    expect((await validator.validate((await oldIssuer.issue(REQUEST)).token, EXPECTED)).valid).toBe(true);
    expect((await validator.validate((await newIssuer.issue(REQUEST)).token, EXPECTED)).valid).toBe(true);
    const stranger = new TicketIssuer({
      algorithm: 'EdDSA',
      key: ed25519().privateKey,
      keyId: 'unknown',
      clock,
    });
    expect(await validator.validate((await stranger.issue(REQUEST)).token, EXPECTED)).toMatchObject({
      valid: false,
      code: 'SIGNATURE',
      reason: expect.stringContaining('No key with kid "unknown"'),
    });
  });

  it('accepts PEM and JWK forms of the same key pair', async () => {
    const pair = ed25519();
    const pem = pair.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    const publicPem = pair.publicKey.export({ format: 'pem', type: 'spki' }).toString();
    const clock = new ManualClock(START);
    const issuer = new TicketIssuer({ algorithm: 'EdDSA', key: pem, clock });
    const jwkValidator = new TicketValidator({
      algorithm: 'EdDSA',
      key: pair.publicKey.export({ format: 'jwk' }),
      clock,
    });
    const pemValidator = new TicketValidator({ algorithm: 'EdDSA', key: publicPem, clock });
    expect((await jwkValidator.validate((await issuer.issue(REQUEST)).token, EXPECTED)).valid).toBe(true);
    expect((await pemValidator.validate((await issuer.issue(REQUEST)).token, EXPECTED)).valid).toBe(true);
  });

  it('require() returns the ticket or throws TICKET_INVALID with the failure code', async () => {
    const clock = new ManualClock(START);
    const issuer = new TicketIssuer({ algorithm: 'HS256', key: SECRET, clock });
    const validator = new TicketValidator({ algorithm: 'HS256', key: SECRET, clock });
    const ticket = await issuer.issue(REQUEST);
    await expect(validator.require(ticket.token, EXPECTED)).resolves.toMatchObject({ nonce: ticket.nonce });
    await expect(validator.require(ticket.token, EXPECTED)).rejects.toMatchObject({
      code: 'TICKET_INVALID',
      details: { code: 'REPLAYED' },
    });
  });
});
