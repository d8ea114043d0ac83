import { describe, expect, it } from '@jest/globals';
import { ManualClock } from '@agent-safe/core';
import { SignJWT } from 'jose';
import { MAX_TICKET_LENGTH, TICKET_TYPE, TicketIssuer, TicketValidator } from '../src/index.js';
import {
  EXPECTED,
  OTHER_SECRET,
  PARAMS,
  REQUEST,
  SECRET,
  START,
  claims,
  ed25519,
  segment,
} from './helpers.js';

function hs256(clock = new ManualClock(START)) {
  return {
    clock,
    issuer: new TicketIssuer({ algorithm: 'HS256', key: SECRET, clock }),
    validator: new TicketValidator({ algorithm: 'HS256', key: SECRET, clock }),
  };
}

async function signRaw(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  key: Uint8Array | Parameters<SignJWT['sign']>[0],
): Promise<string> {
  return new SignJWT(payload).setProtectedHeader(header as { alg: string }).sign(key);
}

describe('signature and algorithm', () => {
  it('refuses a forged signature', async () => {
    const { issuer, validator } = hs256();
    const forger = new TicketIssuer({ algorithm: 'HS256', key: OTHER_SECRET, clock: new ManualClock(START) });
    const forged = await forger.issue(REQUEST);
    expect(await validator.validate(forged.token, EXPECTED)).toMatchObject({
      valid: false,
      code: 'SIGNATURE',
    });

    // A genuine ticket whose payload was swapped keeps a signature that no longer matches.
    const genuine = (await issuer.issue(REQUEST)).token.split('.');
    const tampered = [genuine[0], segment(claims({ act: 'delete-namespace' })), genuine[2]].join('.');
    expect(await validator.validate(tampered, EXPECTED)).toMatchObject({ valid: false, code: 'SIGNATURE' });
  });

  it('refuses a hand-crafted alg "none" ticket', async () => {
    const { validator } = hs256();
    for (const alg of ['none', 'None', 'NONE']) {
      const token = `${segment({ alg, typ: TICKET_TYPE })}.${segment(claims())}.`;
      const result = await validator.validate(token, EXPECTED);
      expect(result).toMatchObject({
        valid: false,
        code: 'ALGORITHM',
        reason: expect.stringContaining('unsigned'),
      });
    }
  });

  it('refuses an EdDSA ticket at an HS256 validator', async () => {
    const { validator } = hs256();
    const eddsa = new TicketIssuer({
      algorithm: 'EdDSA',
      key: ed25519().privateKey,
      clock: new ManualClock(START),
    });
    const result = await validator.validate((await eddsa.issue(REQUEST)).token, EXPECTED);
    expect(result).toMatchObject({
      valid: false,
      code: 'ALGORITHM',
      reason: expect.stringContaining('only accepts HS256'),
    });
  });

  it('refuses HS256 tickets whose HMAC secret is the EdDSA public key', async () => {
    const pair = ed25519();
    const publicPem = pair.publicKey.export({ format: 'pem', type: 'spki' }).toString();
    const publicDer = new Uint8Array(pair.publicKey.export({ format: 'der', type: 'spki' }));
    const clock = new ManualClock(START);
    const eddsaValidator = new TicketValidator({ algorithm: 'EdDSA', key: pair.publicKey, clock });
    const hsValidator = new TicketValidator({ algorithm: 'HS256', key: SECRET, clock });
    for (const secret of [new TextEncoder().encode(publicPem), publicDer]) {
      const token = await signRaw({ alg: 'HS256', typ: TICKET_TYPE }, claims(), secret);
      expect(await eddsaValidator.validate(token, EXPECTED)).toMatchObject({
        valid: false,
        code: 'ALGORITHM',
      });
      expect(await hsValidator.validate(token, EXPECTED)).toMatchObject({ valid: false, code: 'SIGNATURE' });
    }
    // And a validator cannot be configured to use a public key as an HMAC secret in the first place.
    expect(() => new TicketValidator({ algorithm: 'HS256', key: publicPem })).toThrow(/PEM key/);
    expect(() => new TicketValidator({ algorithm: 'HS256', key: pair.publicKey })).toThrow(/public key/);
    expect(
      () => new TicketValidator({ algorithm: 'HS256', key: pair.publicKey.export({ format: 'jwk' }) }),
    ).toThrow(/OKP JWK/);
  });

  it('refuses an HS256 ticket at an EdDSA validator', async () => {
    const { issuer } = hs256();
    const validator = new TicketValidator({ algorithm: 'EdDSA', key: ed25519().publicKey });
    expect(await validator.validate((await issuer.issue(REQUEST)).token, EXPECTED)).toMatchObject({
      valid: false,
      code: 'ALGORITHM',
      reason: expect.stringContaining('signed with HS256'),
    });
  });

  it('refuses a ticket whose kid is not the configured key id', async () => {
    const clock = new ManualClock(START);
    const issuer = new TicketIssuer({ algorithm: 'HS256', key: SECRET, keyId: 'a', clock });
    const validator = new TicketValidator({ algorithm: 'HS256', key: SECRET, keyId: 'b', clock });
    expect(await validator.validate((await issuer.issue(REQUEST)).token, EXPECTED)).toMatchObject({
      valid: false,
      code: 'SIGNATURE',
    });
  });
});

describe('shape', () => {
  it.each([
    ['a number', 42],
    ['an empty string', ''],
    ['two segments', 'abc.def'],
    ['non-base64url characters', 'a+b.c/d.e=f'],
    ['a header that is not JSON', `${Buffer.from('nope').toString('base64url')}.e30.sig`],
    ['a header that is an array', `${segment(['HS256'])}.e30.sig`],
  ])('refuses %s as MALFORMED', async (_label, token) => {
    const { validator } = hs256();
    expect(await validator.validate(token, EXPECTED)).toMatchObject({ valid: false, code: 'MALFORMED' });
  });

  it('refuses a token larger than 8 KB before parsing it', async () => {
    const { validator } = hs256();
    const huge = `${segment({ alg: 'HS256' })}.${'A'.repeat(MAX_TICKET_LENGTH)}.sig`;
    expect(await validator.validate(huge, EXPECTED)).toMatchObject({
      valid: false,
      code: 'MALFORMED',
      reason: expect.stringContaining('8192'),
    });
  });

  it('refuses a signed ticket missing a required claim or with a badly typed one', async () => {
    const { validator } = hs256();
    const key = new TextEncoder().encode(SECRET);
    const header = { alg: 'HS256', typ: TICKET_TYPE };
    const { act: _act, ...withoutAction } = claims();
    for (const payload of [
      withoutAction,
      claims({ tgt: 7 }),
      claims({ pdg: 'not-a-digest' }),
      claims({ jti: '' }),
      claims({ exp: '2030' }),
    ]) {
      expect(await validator.validate(await signRaw(header, payload, key), EXPECTED)).toMatchObject({
        valid: false,
        code: 'MALFORMED',
      });
    }
  });

  it('ignores a __proto__ claim and still requires real claims', async () => {
    const { validator } = hs256();
    const payloadJson = JSON.stringify(claims()).replace(
      '"act":"restart-deployment"',
      '"__proto__":{"act":"x"}',
    );
    const header = segment({ alg: 'HS256', typ: TICKET_TYPE });
    const body = Buffer.from(payloadJson).toString('base64url');
    const { createHmac } = await import('node:crypto');
    const signature = createHmac('sha256', SECRET).update(`${header}.${body}`).digest('base64url');
    expect(await validator.validate(`${header}.${body}.${signature}`, EXPECTED)).toMatchObject({
      valid: false,
      code: 'MALFORMED',
    });
  });
});

describe('type and issuer', () => {
  it('refuses an identity token signed with the same key (other typ)', async () => {
    const { validator } = hs256();
    const key = new TextEncoder().encode(SECRET);
    const token = await signRaw({ alg: 'HS256', typ: 'agent-safe-agent+jwt' }, claims(), key);
    expect(await validator.validate(token, EXPECTED)).toMatchObject({
      valid: false,
      code: 'TYPE',
      reason: expect.stringContaining('not an execution ticket'),
    });
    const untyped = await signRaw({ alg: 'HS256' }, claims(), key);
    expect(await validator.validate(untyped, EXPECTED)).toMatchObject({ valid: false, code: 'TYPE' });
  });

  it('refuses a ticket from another issuer', async () => {
    const clock = new ManualClock(START);
    const issuer = new TicketIssuer({ algorithm: 'HS256', key: SECRET, issuer: 'other-pdp', clock });
    const validator = new TicketValidator({ algorithm: 'HS256', key: SECRET, clock });
    expect(await validator.validate((await issuer.issue(REQUEST)).token, EXPECTED)).toMatchObject({
      valid: false,
      code: 'ISSUER',
      reason: expect.stringContaining('"other-pdp"'),
    });
  });
});

describe('time', () => {
  it('accepts a ticket just past expiry within the skew and refuses it beyond', async () => {
    const clock = new ManualClock(START);
    const issuer = new TicketIssuer({ algorithm: 'HS256', key: SECRET, clock, ttlSeconds: 60 });
    const validator = new TicketValidator({ algorithm: 'HS256', key: SECRET, clock, clockSkewSeconds: 30 });
    const within = await issuer.issue(REQUEST);
    const beyond = await issuer.issue(REQUEST);
    clock.advance(60_000 + 29_000);
    expect((await validator.validate(within.token, EXPECTED)).valid).toBe(true);
    clock.advance(2_000);
    expect(await validator.validate(beyond.token, EXPECTED)).toMatchObject({
      valid: false,
      code: 'EXPIRED',
      reason: expect.stringContaining('expired at'),
    });
  });

  it('refuses a ticket that is not yet valid beyond the skew', async () => {
    const issuerClock = new ManualClock(START + 120_000);
    const validatorClock = new ManualClock(START);
    const issuer = new TicketIssuer({ algorithm: 'HS256', key: SECRET, clock: issuerClock });
    const validator = new TicketValidator({ algorithm: 'HS256', key: SECRET, clock: validatorClock });
    const ticket = await issuer.issue(REQUEST);
    expect(await validator.validate(ticket.token, EXPECTED)).toMatchObject({
      valid: false,
      code: 'NOT_YET_VALID',
    });
    validatorClock.set(START + 100_000);
    expect((await validator.validate(ticket.token, EXPECTED)).valid).toBe(true);
  });

  it('refuses a signed ticket with a lifetime beyond one hour', async () => {
    const { validator } = hs256();
    const iat = Math.floor(START / 1000);
    const token = await signRaw(
      { alg: 'HS256', typ: TICKET_TYPE },
      claims({ exp: iat + 86_400 }),
      new TextEncoder().encode(SECRET),
    );
    expect(await validator.validate(token, EXPECTED)).toMatchObject({
      valid: false,
      code: 'MALFORMED',
      reason: expect.stringContaining('lifetime'),
    });
  });
});

describe('binding to the request', () => {
  it('refuses changed params and accepts reordered ones', async () => {
    const { issuer, validator } = hs256();
    const tampered = await issuer.issue(REQUEST);
    expect(
      await validator.validate(tampered.token, { ...EXPECTED, params: { ...PARAMS, replicas: 300 } }),
    ).toMatchObject({
      valid: false,
      code: 'PARAMS_MISMATCH',
    });
    expect(
      await validator.validate(tampered.token, { ...EXPECTED, params: { ...PARAMS, extra: true } }),
    ).toMatchObject({
      code: 'PARAMS_MISMATCH',
    });
    expect(
      await validator.validate(tampered.token, {
        ...EXPECTED,
        params: { labels: { tier: 'web', team: 'b' }, replicas: 3, deployment: 'app', namespace: 'dev' },
      }),
    ).toMatchObject({ code: 'PARAMS_MISMATCH' });
    const reordered = {
      labels: { tier: 'web', team: 'a' },
      replicas: 3,
      deployment: 'app',
      namespace: 'dev',
    };
    expect((await validator.validate(tampered.token, { ...EXPECTED, params: reordered })).valid).toBe(true);
  });

  it.each([
    ['action', 'delete-namespace', 'ACTION_MISMATCH'],
    ['target', 'prod/payments', 'TARGET_MISMATCH'],
    ['caller', 'agent-02', 'CALLER_MISMATCH'],
  ] as const)('refuses a ticket for another %s', async (field, value, code) => {
    const { issuer, validator } = hs256();
    const ticket = await issuer.issue(REQUEST);
    const result = await validator.validate(ticket.token, { ...EXPECTED, [field]: value });
    expect(result).toMatchObject({ valid: false, code, reason: expect.stringContaining(`"${value}"`) });
    expect(result.ticket?.nonce).toBe(ticket.nonce);
  });

  it('refuses expectations of the wrong type instead of ignoring them', async () => {
    const { issuer, validator } = hs256();
    const ticket = await issuer.issue(REQUEST);
    expect(
      await validator.validate(ticket.token, { ...EXPECTED, action: 5 as unknown as string }),
    ).toMatchObject({
      code: 'ACTION_MISMATCH',
    });
    expect(await validator.validate(ticket.token, { ...EXPECTED, params: { n: Number.NaN } })).toMatchObject({
      code: 'PARAMS_MISMATCH',
    });
    expect(await validator.validate(ticket.token, 'x' as never)).toMatchObject({
      code: 'EXPECTATION_MISSING',
    });
  });
});

describe('single use', () => {
  it('refuses the second use in one process', async () => {
    const { issuer, validator } = hs256();
    const ticket = await issuer.issue(REQUEST);
    expect((await validator.validate(ticket.token, EXPECTED)).valid).toBe(true);
    expect(await validator.validate(ticket.token, EXPECTED)).toMatchObject({
      valid: false,
      code: 'REPLAYED',
    });
  });

  it('lets only one of many concurrent validations in one process win', async () => {
    const { issuer, validator } = hs256();
    const ticket = await issuer.issue(REQUEST);
    const results = await Promise.all(
      Array.from({ length: 20 }, () => validator.validate(ticket.token, EXPECTED)),
    );
    expect(results.filter((result) => result.valid)).toHaveLength(1);
    expect(results.filter((result) => !result.valid && result.code === 'REPLAYED')).toHaveLength(19);
  });

  it('does not burn the nonce of a ticket refused for another reason', async () => {
    const { issuer, validator, clock } = hs256();
    const ticket = await issuer.issue(REQUEST);
    expect(await validator.validate(ticket.token, { ...EXPECTED, action: 'delete-pod' })).toMatchObject({
      code: 'ACTION_MISMATCH',
    });
    expect(await validator.validate(ticket.token, { ...EXPECTED, params: {} })).toMatchObject({
      code: 'PARAMS_MISMATCH',
    });
    const strictIssuer = new TicketValidator({ algorithm: 'HS256', key: SECRET, issuer: 'elsewhere', clock });
    expect(await strictIssuer.validate(ticket.token, EXPECTED)).toMatchObject({ code: 'ISSUER' });
    expect(
      await validator.validate(ticket.token, { ...EXPECTED, action: REQUEST.action, params: PARAMS }),
    ).toMatchObject({
      valid: true,
    });
  });

  it('fails closed when the nonce store fails', async () => {
    const clock = new ManualClock(START);
    const issuer = new TicketIssuer({ algorithm: 'HS256', key: SECRET, clock });
    const validator = new TicketValidator({
      algorithm: 'HS256',
      key: SECRET,
      clock,
      nonceStore: {
        consume: async () => {
          throw new Error('redis unreachable');
        },
      },
    });
    expect(await validator.validate((await issuer.issue(REQUEST)).token, EXPECTED)).toMatchObject({
      valid: false,
      code: 'NONCE_STORE',
      reason: expect.stringContaining('redis unreachable'),
    });
  });

  it('keeps the nonce until the ticket is dead for the most lagging accepted clock', async () => {
    const seen: number[] = [];
    const clock = new ManualClock(START);
    const issuer = new TicketIssuer({ algorithm: 'HS256', key: SECRET, clock });
    const validator = new TicketValidator({
      algorithm: 'HS256',
      key: SECRET,
      clock,
      clockSkewSeconds: 45,
      nonceStore: {
        consume: async (_nonce, expiresAt) => {
          seen.push(expiresAt);
          return true;
        },
      },
    });
    const ticket = await issuer.issue(REQUEST);
    await validator.validate(ticket.token, EXPECTED);
    expect(seen).toEqual([ticket.expiresAt + 45_000]);
  });
});
