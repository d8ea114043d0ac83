import { type KeyObject, createHmac, createSecretKey, sign } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { ManualClock } from '@agent-safe/core';
import {
  CompactSign,
  SignJWT,
  calculateJwkThumbprint,
  compactVerify,
  errors as joseErrors,
  jwtVerify,
} from 'jose';
import { parseCompactJws, verifyCompactJws, verifySignature } from '../src/compact-jws.js';
import { TICKET_TYPE, TicketIssuer, TicketValidator, ticketParamsDigest } from '../src/index.js';
import type { TicketAlgorithm } from '../src/index.js';
import { EXPECTED, PARAMS, REQUEST, SECRET, START, claims, ed25519, p256, segment } from './helpers.js';

interface Setup {
  readonly algorithm: TicketAlgorithm;
  /** What TicketIssuer / TicketValidator are configured with. */
  readonly signKey: string | KeyObject;
  readonly verifyKey: string | KeyObject;
  /** The same keys in the form jose takes. */
  readonly joseSignKey: Uint8Array | KeyObject;
  readonly joseVerifyKey: Uint8Array | KeyObject;
  /** The verification KeyObject the internal module works with. */
  readonly keyObject: KeyObject;
}

const secretBytes = new TextEncoder().encode(SECRET);

function setup(algorithm: TicketAlgorithm): Setup {
  if (algorithm === 'HS256') {
    return {
      algorithm,
      signKey: SECRET,
      verifyKey: SECRET,
      joseSignKey: secretBytes,
      joseVerifyKey: secretBytes,
      keyObject: createSecretKey(Buffer.from(secretBytes)),
    };
  }
  const pair = algorithm === 'EdDSA' ? ed25519() : p256();
  return {
    algorithm,
    signKey: pair.privateKey,
    verifyKey: pair.publicKey,
    joseSignKey: pair.privateKey,
    joseVerifyKey: pair.publicKey,
    keyObject: pair.publicKey,
  };
}

const ALGORITHMS = ['HS256', 'EdDSA', 'ES256'] as const;

function parts(token: string): [string, string, string] {
  const [header, payload, signature] = token.split('.');
  return [header!, payload!, signature!];
}

/** A hand-made token signed with `key` under any header, so hostile headers can be tested. */
function handSign(
  algorithm: TicketAlgorithm,
  key: string | KeyObject,
  header: Record<string, unknown>,
  payload: Record<string, unknown> | string,
): string {
  const encodedPayload =
    typeof payload === 'string' ? payload : Buffer.from(JSON.stringify(payload)).toString('base64url');
  const input = `${segment(header)}.${encodedPayload}`;
  const data = Buffer.from(input);
  const signature =
    algorithm === 'HS256'
      ? createHmac('sha256', key as string)
          .update(input)
          .digest()
      : algorithm === 'EdDSA'
        ? sign(null, data, key as KeyObject)
        : sign('sha256', data, { key: key as KeyObject, dsaEncoding: 'ieee-p1363' });
  return `${input}.${signature.toString('base64url')}`;
}

/** Appends base64url characters until the length is 4n+1, which no base64 encoding has. */
function toLengthFourNPlusOne(encoded: string): string {
  return `${encoded}${'A'.repeat((5 - (encoded.length % 4)) % 4)}`;
}

describe('interoperability with jose', () => {
  it.each(ALGORITHMS)('issues %s tickets that jose jwtVerify accepts', async (algorithm) => {
    const keys = setup(algorithm);
    const issuer = new TicketIssuer({ algorithm, key: keys.signKey, clock: new ManualClock(START) });
    const ticket = await issuer.issue(REQUEST);
    const { payload, protectedHeader } = await jwtVerify(ticket.token, keys.joseVerifyKey, {
      algorithms: [algorithm],
      issuer: 'agent-safe',
      typ: TICKET_TYPE,
      currentDate: new Date(START),
    });
    expect(protectedHeader).toEqual({ alg: algorithm, typ: TICKET_TYPE, kid: issuer.keyId });
    expect(payload).toMatchObject({
      sub: REQUEST.caller,
      act: REQUEST.action,
      tgt: REQUEST.target,
      pdg: ticketParamsDigest(PARAMS),
      jti: ticket.nonce,
      exp: START / 1000 + 300,
    });
  });

  it.each(['HS256', 'EdDSA'] as const)(
    'produces %s tokens byte-identical to jose CompactSign (deterministic signatures)',
    async (algorithm) => {
      const keys = setup(algorithm);
      const issuer = new TicketIssuer({ algorithm, key: keys.signKey, clock: new ManualClock(START) });
      const ticket = await issuer.issue(REQUEST);
      const [, payload] = parts(ticket.token);
      const joseToken = await new CompactSign(Buffer.from(payload, 'base64url'))
        .setProtectedHeader({ alg: algorithm, typ: TICKET_TYPE, kid: issuer.keyId })
        .sign(keys.joseSignKey);
      expect(ticket.token).toBe(joseToken);
    },
  );

  it.each(ALGORITHMS)('validates %s tickets signed by jose SignJWT', async (algorithm) => {
    const keys = setup(algorithm);
    const validator = new TicketValidator({
      algorithm,
      key: keys.verifyKey,
      keyId: 'jose-key',
      clock: new ManualClock(START),
    });
    const pdg = ticketParamsDigest(PARAMS);
    const token = await new SignJWT(claims({ pdg, jti: `jose-${algorithm}` }))
      .setProtectedHeader({ alg: algorithm, typ: TICKET_TYPE, kid: 'jose-key' })
      .sign(keys.joseSignKey);
    const result = await validator.validate(token, {
      ...EXPECTED,
      action: 'restart-deployment',
      params: PARAMS,
    });
    expect(result).toMatchObject({ valid: true, ticket: { nonce: `jose-${algorithm}`, paramsDigest: pdg } });
    // `application/` prefixed typ, as RFC 7515 §4.1.9 allows, is the same type.
    const prefixed = await new SignJWT(claims({ pdg, jti: `jose-app-${algorithm}` }))
      .setProtectedHeader({ alg: algorithm, typ: `application/${TICKET_TYPE}` })
      .sign(keys.joseSignKey);
    const anyKid = new TicketValidator({ algorithm, key: keys.verifyKey, clock: new ManualClock(START) });
    expect((await anyKid.validate(prefixed, EXPECTED)).valid).toBe(true);
  });

  it.each(ALGORITHMS)('refuses a %s ticket whose payload or signature was modified', async (algorithm) => {
    const keys = setup(algorithm);
    const clock = new ManualClock(START);
    const issuer = new TicketIssuer({ algorithm, key: keys.signKey, clock });
    const validator = new TicketValidator({ algorithm, key: keys.verifyKey, clock });
    const [header, payload, signature] = parts((await issuer.issue(REQUEST)).token);
    const decoded = JSON.parse(Buffer.from(payload, 'base64url').toString());
    const swapped = segment({ ...decoded, act: 'delete-namespace' });
    const flipped = Buffer.from(signature, 'base64url');
    flipped[0] = flipped[0]! ^ 1;
    for (const token of [
      `${header}.${swapped}.${signature}`,
      `${header}.${payload}.${flipped.toString('base64url')}`,
      `${header}.${payload}.`,
      `${header}.${payload}.${signature.slice(0, -4)}`,
      `${header}.${payload}.${signature}AAAA`,
    ]) {
      // A truncated signature may also be non-canonical base64url, refused before verifying (MALFORMED).
      expect(await validator.validate(token, EXPECTED)).toMatchObject({
        valid: false,
        code: expect.stringMatching(/^(SIGNATURE|MALFORMED)$/),
      });
      await expect(compactVerify(token, keys.joseVerifyKey)).rejects.toThrow(
        joseErrors.JWSSignatureVerificationFailed,
      );
    }
    // The untouched ticket still works: none of the refusals burnt its nonce.
    expect((await validator.validate(`${header}.${payload}.${signature}`, EXPECTED)).valid).toBe(true);
  });

  it('defaults kid to the RFC 7638 thumbprint jose computes', async () => {
    for (const algorithm of ['EdDSA', 'ES256'] as const) {
      const issuer = new TicketIssuer({ algorithm, key: setup(algorithm).signKey });
      expect(issuer.keyId).toBe(await calculateJwkThumbprint(issuer.jwks().keys[0]!));
    }
    const hs = new TicketIssuer({ algorithm: 'HS256', key: SECRET });
    expect(hs.keyId).toBe(
      await calculateJwkThumbprint({ kty: 'oct', k: Buffer.from(SECRET).toString('base64url') }),
    );
  });
});

describe('algorithm pinning with every algorithm', () => {
  it.each(ALGORITHMS)('refuses tickets of the other algorithms at a %s validator', async (algorithm) => {
    const keys = setup(algorithm);
    const validator = new TicketValidator({ algorithm, key: keys.verifyKey, clock: new ManualClock(START) });
    for (const other of ALGORITHMS.filter((candidate) => candidate !== algorithm)) {
      const otherKeys = setup(other);
      const token = await new SignJWT(claims())
        .setProtectedHeader({ alg: other, typ: TICKET_TYPE })
        .sign(otherKeys.joseSignKey);
      expect(await validator.validate(token, EXPECTED)).toMatchObject({
        valid: false,
        code: 'ALGORITHM',
        reason: expect.stringContaining(`only accepts ${algorithm}`),
      });
    }
    for (const alg of ['none', 'nOnE']) {
      const unsigned = `${segment({ alg, typ: TICKET_TYPE })}.${segment(claims())}.`;
      expect(await validator.validate(unsigned, EXPECTED)).toMatchObject({
        valid: false,
        code: 'ALGORITHM',
        reason: expect.stringContaining('unsigned'),
      });
    }
    const noAlg = `${segment({ typ: TICKET_TYPE })}.${segment(claims())}.${'A'.repeat(43)}`;
    expect(await validator.validate(noAlg, EXPECTED)).toMatchObject({ valid: false, code: 'ALGORITHM' });
  });

  it.each(['EdDSA', 'ES256'] as const)(
    'refuses HS256 tickets keyed with the %s public key (key confusion)',
    async (algorithm) => {
      const keys = setup(algorithm);
      const publicKey = keys.verifyKey as KeyObject;
      const clock = new ManualClock(START);
      const asymmetric = new TicketValidator({ algorithm, key: publicKey, clock });
      const hs = new TicketValidator({ algorithm: 'HS256', key: SECRET, clock });
      const pem = publicKey.export({ format: 'pem', type: 'spki' }).toString();
      const der = publicKey.export({ format: 'der', type: 'spki' });
      for (const secret of [new TextEncoder().encode(pem), new Uint8Array(der)]) {
        const token = await new SignJWT(claims())
          .setProtectedHeader({ alg: 'HS256', typ: TICKET_TYPE })
          .sign(secret);
        expect(await asymmetric.validate(token, EXPECTED)).toMatchObject({ valid: false, code: 'ALGORITHM' });
        expect(await hs.validate(token, EXPECTED)).toMatchObject({ valid: false, code: 'SIGNATURE' });
      }
    },
  );

  it.each(ALGORITHMS)('never takes a %s key from the token header (jwk, jku, x5u)', async (algorithm) => {
    const keys = setup(algorithm);
    const attacker = setup(algorithm);
    const validator = new TicketValidator({ algorithm, key: keys.verifyKey, clock: new ManualClock(START) });
    const attackerJwk =
      algorithm === 'HS256'
        ? { kty: 'oct', k: Buffer.from(SECRET).toString('base64url') }
        : (attacker.verifyKey as KeyObject).export({ format: 'jwk' });
    const signKey = algorithm === 'HS256' ? `${SECRET}-attacker` : attacker.signKey;
    for (const extra of [
      { jwk: attackerJwk },
      { jku: 'https://attacker.example/jwks.json' },
      { x5u: 'https://attacker.example/cert.pem' },
    ]) {
      const token = handSign(algorithm, signKey, { alg: algorithm, typ: TICKET_TYPE, ...extra }, claims());
      expect(await validator.validate(token, EXPECTED)).toMatchObject({ valid: false, code: 'SIGNATURE' });
    }
  });
});

describe('strict compact serialisation', () => {
  it('refuses any "crit" header, even one jose would accept', async () => {
    const clock = new ManualClock(START);
    const validator = new TicketValidator({ algorithm: 'HS256', key: SECRET, clock });
    for (const extra of [
      { crit: ['b64'], b64: true },
      { crit: ['b64'], b64: false },
      { crit: ['exp'], exp: 1 },
      { crit: [] },
      { crit: null },
    ]) {
      const token = handSign('HS256', SECRET, { alg: 'HS256', typ: TICKET_TYPE, ...extra }, claims());
      expect(await validator.validate(token, EXPECTED)).toMatchObject({
        valid: false,
        code: 'MALFORMED',
        reason: expect.stringContaining('crit'),
      });
    }
  });

  it('refuses a segment whose length cannot be base64 (4n+1), as jose does', async () => {
    const clock = new ManualClock(START);
    const validator = new TicketValidator({ algorithm: 'HS256', key: SECRET, clock });
    const good = handSign(
      'HS256',
      SECRET,
      { alg: 'HS256', typ: TICKET_TYPE },
      claims({ pdg: ticketParamsDigest(PARAMS) }),
    );
    const [header, payload, signature] = parts(good);
    // Pad the payload to a 4n+1 length and sign it correctly: only the encoding is wrong.
    const oddPayload = toLengthFourNPlusOne(payload);
    expect(oddPayload.length % 4).toBe(1);
    const signedOdd = `${header}.${oddPayload}.${createHmac('sha256', SECRET).update(`${header}.${oddPayload}`).digest('base64url')}`;
    const cases: [string, string][] = [
      [`${header}.${payload}.${toLengthFourNPlusOne(signature)}`, 'signature'],
      [signedOdd, 'payload'],
    ];
    for (const [token, what] of cases) {
      expect(await validator.validate(token, EXPECTED)).toMatchObject({
        valid: false,
        code: 'MALFORMED',
        reason: expect.stringContaining(what),
      });
      await expect(compactVerify(token, secretBytes)).rejects.toThrow(joseErrors.JWSInvalid);
    }
    expect((await validator.validate(good, EXPECTED)).valid).toBe(true);
  });

  it.each(ALGORITHMS)('agrees with jose compactVerify on mutated %s tokens', async (algorithm) => {
    const keys = setup(algorithm);
    const issuer = new TicketIssuer({ algorithm, key: keys.signKey, clock: new ManualClock(START) });
    const token = (await issuer.issue(REQUEST)).token;
    const alphabet = 'ABCxyz019-_';
    const variants = new Set<string>();
    for (let index = 0; index < token.length; index += 7) {
      const character = alphabet[index % alphabet.length]!;
      variants.add(token.slice(0, index) + character + token.slice(index + 1));
      variants.add(token.slice(0, index) + character + token.slice(index));
      variants.add(token.slice(0, index) + token.slice(index + 1));
    }
    let compared = 0;
    for (const variant of variants) {
      const parsed = parseCompactJws(variant);
      // Tokens refused before verification never reached jose either.
      if (!parsed.ok || parsed.jws.header.alg !== algorithm) continue;
      const ours = verifyCompactJws(parsed.jws, algorithm, keys.keyObject);
      let theirs: 'ok' | 'SIGNATURE' | 'MALFORMED';
      try {
        await compactVerify(variant, keys.joseVerifyKey, { algorithms: [algorithm] });
        theirs = 'ok';
      } catch (error) {
        theirs = error instanceof joseErrors.JWSSignatureVerificationFailed ? 'SIGNATURE' : 'MALFORMED';
      }
      expect([variant, ours.ok ? 'ok' : ours.code]).toEqual([variant, theirs]);
      compared += 1;
    }
    expect(compared).toBeGreaterThan(50);
  });

  it('treats signatures of the wrong length or shape as invalid, never as a throw', () => {
    const data = 'e30.e30';
    for (const algorithm of ALGORITHMS) {
      const key = setup(algorithm).keyObject;
      for (const length of [0, 1, 31, 32, 33, 63, 64, 65, 200]) {
        expect(verifySignature(algorithm, key, data, Buffer.alloc(length, 0xff))).toBe(false);
      }
    }
  });
});
