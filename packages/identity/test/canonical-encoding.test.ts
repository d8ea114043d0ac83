import { createHmac } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { ManualClock } from '@agent-safe/core';
import { createSigningKey, generateKeyPair, IdentityManager } from '../src/index.js';
import { b64, claims, SECRET, T0 } from './helpers.js';

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

const hmac = (input: string) => createHmac('sha256', SECRET).update(input).digest('base64url');

async function manager(algorithm: 'HS256' | 'EdDSA' | 'ES256') {
  const signingKey =
    algorithm === 'HS256'
      ? await createSigningKey({ algorithm, material: SECRET })
      : await generateKeyPair({ algorithm });
  return IdentityManager.create({ algorithm, signingKey, clock: new ManualClock(T0), cacheMaxEntries: 0 });
}

describe('only canonical base64url is accepted in identity tokens', () => {
  it.each(['HS256', 'EdDSA', 'ES256'] as const)(
    'refuses every re-spelled %s signature, alone and as a delegating parent',
    async (algorithm) => {
      const identity = await manager(algorithm);
      const token = await identity.createToken({ agentId: 'agent-1', roles: ['deployer'] });
      const [header, payload, signature] = token.split('.') as [string, string, string];
      const variants = nonCanonicalVariants(signature);
      expect(variants.length).toBeGreaterThanOrEqual(3);
      for (const variant of variants) {
        const respelled = `${header}.${payload}.${variant}`;
        expect(await identity.verify(respelled)).toMatchObject({
          ok: false,
          code: 'MALFORMED',
          reason: expect.stringContaining('signature is not canonical base64url'),
        });
        expect(await identity.delegate({ parentToken: respelled, childAgentId: 'worker' })).toMatchObject({
          success: false,
          code: 'MALFORMED',
        });
      }
      expect((await identity.verify(token)).ok).toBe(true);
    },
  );

  it('refuses a re-spelled header or payload even when the signature covers the re-spelled text', async () => {
    const identity = await manager('HS256');
    const now = Math.floor(T0 / 1000);
    let header = '';
    let payload = '';
    for (let pad = 0; pad < 16 && !(header.length % 4 >= 2 && payload.length % 4 >= 2); pad++) {
      header = b64({ alg: 'HS256', typ: 'agent-safe-id+jwt', kid: 'default', x: 'x'.repeat(pad % 4) });
      payload = b64(claims(now, { jti: `id-${'p'.repeat(pad)}` }));
    }
    const cases = [
      ...nonCanonicalVariants(header).map((variant) => [variant, payload, 'header'] as const),
      ...nonCanonicalVariants(payload).map((variant) => [header, variant, 'payload'] as const),
    ];
    expect(cases.length).toBeGreaterThanOrEqual(6);
    for (const [h, p, what] of cases) {
      expect(await identity.verify(`${h}.${p}.${hmac(`${h}.${p}`)}`)).toMatchObject({
        ok: false,
        code: 'MALFORMED',
        reason: expect.stringContaining(`${what} is not canonical base64url`),
      });
    }
    expect((await identity.verify(`${header}.${payload}.${hmac(`${header}.${payload}`)}`)).ok).toBe(true);
  });
});
