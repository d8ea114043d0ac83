import { createHmac } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { ManualClock } from '@agent-safe/core';
import { TICKET_TYPE, TicketIssuer, TicketValidator, ticketParamsDigest } from '../src/index.js';
import { isCanonicalSegment } from '../src/compact-jws.js';
import { EXPECTED, PARAMS, REQUEST, SECRET, START, claims, ed25519, p256, segment } from './helpers.js';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** Every other spelling of `part` that decodes to the same bytes (its last character's unused bits set). */
function nonCanonicalVariants(part: string): string[] {
  const unused = part.length % 4 === 2 ? 0x0f : part.length % 4 === 3 ? 0x03 : 0;
  const last = ALPHABET.indexOf(part.at(-1)!);
  const variants: string[] = [];
  for (let bits = 1; bits <= unused; bits++) {
    if ((bits & unused) === bits) variants.push(part.slice(0, -1) + ALPHABET[last | bits]);
  }
  return variants;
}

function hmac(signingInput: string): string {
  return createHmac('sha256', SECRET).update(signingInput).digest('base64url');
}

/** A header and payload whose encodings have unused bits (length 4n+2 or 4n+3), signed correctly. */
function handSigned(): { header: string; payload: string } {
  const pdg = ticketParamsDigest(PARAMS);
  for (let kid = 1; kid < 8; kid++) {
    for (let pad = 0; pad < 8; pad++) {
      const header = segment({ alg: 'HS256', typ: TICKET_TYPE, kid: 'k'.repeat(kid) });
      const payload = segment(claims({ pdg, jti: `nonce-${'p'.repeat(pad)}` }));
      if (header.length % 4 >= 2 && payload.length % 4 >= 2) return { header, payload };
    }
  }
  throw new Error('no suitable lengths');
}

describe('only canonical base64url is accepted in every ticket segment', () => {
  it('knows canonical from non-canonical spellings', () => {
    expect(isCanonicalSegment(Buffer.from('ab').toString('base64url'))).toBe(true);
    expect(isCanonicalSegment('YWI')).toBe(true);
    expect(isCanonicalSegment('YWJ')).toBe(false);
    expect(isCanonicalSegment('YQ')).toBe(true);
    expect(isCanonicalSegment('YR')).toBe(false);
    expect(isCanonicalSegment('YWJj')).toBe(true);
    expect(isCanonicalSegment('YWJjZ')).toBe(false);
    expect(Buffer.from('YWJ', 'base64url')).toEqual(Buffer.from('YWI', 'base64url'));
  });

  it.each(['HS256', 'EdDSA', 'ES256'] as const)(
    'refuses every re-spelled %s signature, and accepts the original',
    async (algorithm) => {
      const key =
        algorithm === 'HS256' ? SECRET : algorithm === 'EdDSA' ? ed25519().privateKey : p256().privateKey;
      const clock = new ManualClock(START);
      const issuer = new TicketIssuer({ algorithm, key, clock });
      const validator = new TicketValidator({
        algorithm,
        ...(algorithm === 'HS256' ? { key: SECRET } : { jwks: issuer.jwks() }),
        clock,
      });
      const token = (await issuer.issue(REQUEST)).token;
      const [header, payload, signature] = token.split('.') as [string, string, string];
      const variants = nonCanonicalVariants(signature);
      expect(variants.length).toBe(algorithm === 'HS256' ? 3 : 15);
      for (const variant of variants) {
        expect(await validator.validate(`${header}.${payload}.${variant}`, EXPECTED)).toMatchObject({
          valid: false,
          code: 'MALFORMED',
          reason: expect.stringContaining('signature is not canonical base64url'),
        });
      }
      expect((await validator.validate(token, EXPECTED)).valid).toBe(true);
    },
  );

  it('refuses a re-spelled header or payload even when the signature covers the re-spelled text', async () => {
    const validator = new TicketValidator({ algorithm: 'HS256', key: SECRET, clock: new ManualClock(START) });
    const { header, payload } = handSigned();
    const cases = [
      ...nonCanonicalVariants(header).map((variant) => [variant, payload, 'header'] as const),
      ...nonCanonicalVariants(payload).map((variant) => [header, variant, 'payload'] as const),
    ];
    expect(cases.length).toBeGreaterThanOrEqual(6);
    for (const [h, p, what] of cases) {
      const token = `${h}.${p}.${hmac(`${h}.${p}`)}`;
      expect(await validator.validate(token, EXPECTED)).toMatchObject({
        valid: false,
        code: 'MALFORMED',
        reason: expect.stringContaining(`${what} is not canonical base64url`),
      });
    }
    const good = `${header}.${payload}.${hmac(`${header}.${payload}`)}`;
    expect((await validator.validate(good, EXPECTED)).valid).toBe(true);
  });
});
