import { describe, expect, it } from '@jest/globals';
import { ManualClock } from '@agent-safe/core';
import { SignJWT } from 'jose';
import {
  createSigningKey,
  generateKeyPair,
  IdentityManager,
  looksLikeToken,
  MAX_TOKEN_LENGTH,
} from '../src/index.js';
import { b64, claims, hmacToken, payloadOf, SECRET, signHs256, T0 } from './helpers.js';

async function hsManager(
  options: { clock?: ManualClock; issuer?: string; audience?: string; cacheMaxEntries?: number } = {},
) {
  const signingKey = await createSigningKey({ algorithm: 'HS256', material: SECRET });
  return IdentityManager.create({
    algorithm: 'HS256',
    signingKey,
    clock: options.clock ?? new ManualClock(T0),
    ...options,
  });
}

describe('createToken and verify', () => {
  it('round-trips an authenticated caller with the documented claims and header', async () => {
    const manager = await hsManager();
    const token = await manager.createToken({
      agentId: 'deploy-agent-01',
      agentName: 'Deployer',
      roles: ['deployer'],
      groups: ['platform-team'],
      ttl: 120,
    });
    const header = JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as Record<
      string,
      unknown
    >;
    expect(header).toEqual({ alg: 'HS256', typ: 'agent-safe-id+jwt', kid: 'default' });
    const payload = payloadOf(token);
    expect(payload).toMatchObject({
      sub: 'deploy-agent-01',
      agent_id: 'deploy-agent-01',
      agent_name: 'Deployer',
      roles: ['deployer'],
      groups: ['platform-team'],
      iss: 'agent-safe',
      aud: 'agent-safe',
      iat: T0 / 1000,
      nbf: T0 / 1000,
      exp: T0 / 1000 + 120,
    });
    expect(typeof payload.jti).toBe('string');
    const result = await manager.verify(token);
    expect(result).toEqual({
      ok: true,
      caller: {
        agentId: 'deploy-agent-01',
        agentName: 'Deployer',
        roles: ['deployer'],
        groups: ['platform-team'],
        authenticated: true,
        delegationChain: [],
      },
      expiresAt: T0 + 120_000,
      tokenId: payload.jti,
      delegationDepth: 0,
      maxDelegationDepth: 10,
    });
  });

  it('refuses bad createToken input with INPUT_INVALID', async () => {
    const manager = await hsManager();
    const bad = [
      { agentId: '' },
      { agentId: 'x'.repeat(513) },
      { agentId: 7 as unknown as string },
      { agentId: 'a', roles: 'admin' as unknown as string[] },
      { agentId: 'a', groups: [1] as unknown as string[] },
      { agentId: 'a', ttl: 0 },
      { agentId: 'a', ttl: Number.NaN },
      { agentId: 'a', ttl: 24 * 3600 + 1 },
      { agentId: 'a', maxDelegationDepth: 11 },
    ];
    for (const options of bad) {
      await expect(manager.createToken(options)).rejects.toMatchObject({ code: 'INPUT_INVALID' });
    }
  });

  it('refuses a token signed with another key (forged signature)', async () => {
    const manager = await hsManager();
    const otherKey = await createSigningKey({ algorithm: 'HS256', material: `${SECRET}-other` });
    const forger = await IdentityManager.create({
      algorithm: 'HS256',
      signingKey: otherKey,
      clock: new ManualClock(T0),
    });
    const result = await manager.verify(await forger.createToken({ agentId: 'mallory', roles: ['admin'] }));
    expect(result).toMatchObject({ ok: false, code: 'SIGNATURE' });
  });

  it('refuses a tampered payload', async () => {
    const manager = await hsManager();
    const token = await manager.createToken({ agentId: 'agent-1', roles: ['reader'] });
    const [header, payload, signature] = token.split('.');
    const widened = b64({ ...JSON.parse(Buffer.from(payload!, 'base64url').toString()), roles: ['admin'] });
    const result = await manager.verify(`${header}.${widened}.${signature}`);
    expect(result).toMatchObject({ ok: false, code: 'SIGNATURE' });
  });

  it('refuses alg "none" in any spelling', async () => {
    const manager = await hsManager();
    const now = T0 / 1000;
    for (const alg of ['none', 'None', 'NONE']) {
      const unsigned = `${b64({ alg, typ: 'agent-safe-id+jwt' })}.${b64(claims(now))}.`;
      const result = await manager.verify(unsigned);
      expect(result).toEqual({
        ok: false,
        code: 'ALGORITHM',
        reason: 'unsigned tokens (alg "none") are never accepted',
      });
    }
  });

  it('refuses an HS256 token signed with the EdDSA public key (algorithm confusion)', async () => {
    const edKey = await generateKeyPair({ algorithm: 'EdDSA', keyId: 'ed-1' });
    const verifier = await IdentityManager.create({
      algorithm: 'EdDSA',
      verificationKeys: { keys: [edKey.verificationKey.publicJwk!] },
      clock: new ManualClock(T0),
    });
    const header = { alg: 'HS256', typ: 'agent-safe-id+jwt', kid: 'ed-1' };
    const publicX = Buffer.from(edKey.verificationKey.publicJwk!.x!, 'base64url');
    for (const keyBytes of [publicX, JSON.stringify(edKey.verificationKey.publicJwk)]) {
      const result = await verifier.verify(hmacToken(header, claims(T0 / 1000), keyBytes));
      expect(result).toMatchObject({ ok: false, code: 'ALGORITHM' });
      expect(result.ok ? '' : result.reason).toContain('accepts only EdDSA');
    }
  });

  it('refuses an EdDSA or ES256 token at an HS256 verifier and vice versa', async () => {
    const clock = new ManualClock(T0);
    const hs = await hsManager({ clock });
    const ed = await IdentityManager.create({
      algorithm: 'EdDSA',
      signingKey: await generateKeyPair({ algorithm: 'EdDSA' }),
      clock,
    });
    const es = await IdentityManager.create({
      algorithm: 'ES256',
      signingKey: await generateKeyPair({ algorithm: 'ES256' }),
      clock,
    });
    const edToken = await ed.createToken({ agentId: 'a' });
    const esToken = await es.createToken({ agentId: 'a' });
    const hsToken = await hs.createToken({ agentId: 'a' });
    expect(await hs.verify(edToken)).toMatchObject({ ok: false, code: 'ALGORITHM' });
    expect(await hs.verify(esToken)).toMatchObject({ ok: false, code: 'ALGORITHM' });
    expect(await ed.verify(hsToken)).toMatchObject({ ok: false, code: 'ALGORITHM' });
    expect(await ed.verify(esToken)).toMatchObject({ ok: false, code: 'ALGORITHM' });
    expect(await es.verify(edToken)).toMatchObject({ ok: false, code: 'ALGORITHM' });
    expect(await ed.verify(edToken)).toMatchObject({ ok: true });
    expect(await es.verify(esToken)).toMatchObject({ ok: true });
  });

  it('refuses an expired token, allowing only the bounded clock tolerance', async () => {
    const clock = new ManualClock(T0);
    const manager = await hsManager({ clock, cacheMaxEntries: 0 });
    const token = await manager.createToken({ agentId: 'a', ttl: 60 });
    clock.advance(60_000 + 20_000);
    expect(await manager.verify(token)).toMatchObject({ ok: true });
    clock.advance(11_000);
    expect(await manager.verify(token)).toEqual({ ok: false, code: 'EXPIRED', reason: 'token has expired' });
  });

  it('refuses a token that is not valid yet', async () => {
    const minter = await hsManager({ clock: new ManualClock(T0 + 120_000) });
    const verifier = await hsManager({ clock: new ManualClock(T0) });
    const result = await verifier.verify(await minter.createToken({ agentId: 'a' }));
    expect(result).toMatchObject({ ok: false, code: 'NOT_YET_VALID' });
  });

  it('refuses the wrong issuer and the wrong audience', async () => {
    const verifier = await hsManager();
    const otherIssuer = await hsManager({ issuer: 'someone-else' });
    const otherAudience = await hsManager({ audience: 'another-service' });
    expect(await verifier.verify(await otherIssuer.createToken({ agentId: 'a' }))).toMatchObject({
      ok: false,
      code: 'ISSUER',
    });
    expect(await verifier.verify(await otherAudience.createToken({ agentId: 'a' }))).toMatchObject({
      ok: false,
      code: 'AUDIENCE',
    });
  });

  it('refuses a JWT of another type, such as an execution ticket', async () => {
    const manager = await hsManager();
    const ticket = await signHs256(claims(T0 / 1000), { typ: 'agent-safe-ticket+jwt' });
    expect(await manager.verify(ticket)).toMatchObject({ ok: false, code: 'TYPE' });
    const untyped = await new SignJWT(claims(T0 / 1000))
      .setProtectedHeader({ alg: 'HS256', kid: 'default' })
      .sign(new TextEncoder().encode(SECRET));
    expect(await manager.verify(untyped)).toMatchObject({ ok: false, code: 'TYPE' });
  });

  it('refuses an unknown key id', async () => {
    const manager = await hsManager();
    expect(await manager.verify(await signHs256(claims(T0 / 1000), { kid: 'retired-key' }))).toMatchObject({
      ok: false,
      code: 'KEY_UNKNOWN',
    });
  });

  it('refuses malformed input without throwing', async () => {
    const manager = await hsManager();
    const cases: [unknown, string][] = [
      ['random text', 'MALFORMED'],
      ['', 'MALFORMED'],
      ['eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0', 'MALFORMED'],
      ['a.b.c.d', 'MALFORMED'],
      ['eyJub3QganNvbg.eyJ9.c2ln', 'MALFORMED'],
      [`${b64([1, 2])}.${b64({})}.c2ln`, 'MALFORMED'],
      [`${b64({ typ: 'agent-safe-id+jwt' })}.${b64({})}.c2ln`, 'MALFORMED'],
      ['a'.repeat(MAX_TOKEN_LENGTH + 1), 'TOO_LARGE'],
      ['x.'.repeat(200_000), 'TOO_LARGE'],
      [null, 'MALFORMED'],
      [42, 'MALFORMED'],
      [{ toString: () => 'x' }, 'MALFORMED'],
    ];
    for (const [input, code] of cases) {
      const result = await manager.verify(input);
      expect({ input: String(input).slice(0, 40), code: result.ok ? 'ok' : result.code }).toEqual({
        input: String(input).slice(0, 40),
        code,
      });
    }
    const badPayload = `${b64({ alg: 'HS256', typ: 'agent-safe-id+jwt', kid: 'default' })}.bm90IGpzb24.c2ln`;
    expect(await manager.verify(badPayload)).toMatchObject({ ok: false });
  });

  it('refuses missing or ill-typed claims even when properly signed', async () => {
    const manager = await hsManager();
    const now = T0 / 1000;
    const { jti: _jti, ...withoutJti } = claims(now);
    const bad: [Record<string, unknown>, string][] = [
      [withoutJti, 'jti'],
      [claims(now, { roles: 'admin' }), 'roles'],
      [claims(now, { roles: [''] }), 'roles'],
      [claims(now, { groups: [{}] }), 'groups'],
      [claims(now, { agent_id: 'someone-else' }), 'agent_id'],
      [claims(now, { sub: '' }), 'sub'],
      [claims(now, { exp: now + 25 * 3600 }), 'lifetime'],
      [claims(now, { parent_token: 'x.y.z' }), 'max_depth'],
      [claims(now, { max_depth: 11 }), 'max_depth'],
    ];
    for (const [payload, mention] of bad) {
      const result = await manager.verify(await signHs256(payload));
      expect(result).toMatchObject({ ok: false, code: 'CLAIMS' });
      expect(result.ok ? '' : result.reason).toContain(mention);
    }
  });

  it('never mints without a signing key', async () => {
    const key = await createSigningKey({ algorithm: 'HS256', material: SECRET });
    const verifier = await IdentityManager.create({
      algorithm: 'HS256',
      verificationKeys: [key.verificationKey],
    });
    expect(verifier.canSign).toBe(false);
    await expect(verifier.createToken({ agentId: 'a' })).rejects.toMatchObject({ code: 'KEY_INVALID' });
  });

  it('refuses inconsistent configuration', async () => {
    const edKey = await generateKeyPair({ algorithm: 'EdDSA' });
    await expect(IdentityManager.create({ algorithm: 'HS256', signingKey: edKey })).rejects.toMatchObject({
      code: 'KEY_INVALID',
    });
    await expect(IdentityManager.create({ algorithm: 'HS256' })).rejects.toMatchObject({
      code: 'KEY_INVALID',
    });
    await expect(
      IdentityManager.create({ algorithm: 'RS256' as 'HS256', signingKey: edKey }),
    ).rejects.toMatchObject({
      code: 'KEY_INVALID',
    });
    await expect(
      IdentityManager.create({ algorithm: 'EdDSA', signingKey: edKey, clockToleranceSeconds: 3600 }),
    ).rejects.toMatchObject({ code: 'USAGE' });
  });
});

describe('verification cache', () => {
  it('serves a second verify from the cache and refuses it once the clock passes exp', async () => {
    const clock = new ManualClock(T0);
    const manager = await hsManager({ clock });
    const token = await manager.createToken({ agentId: 'a', ttl: 60 });
    const first = await manager.verify(token);
    expect(manager.cacheStats()).toMatchObject({ hits: 0, misses: 1, size: 1 });
    const second = await manager.verify(token);
    expect(second).toEqual(first);
    expect(manager.cacheStats()).toMatchObject({ hits: 1, misses: 1, size: 1 });
    clock.advance((60 + 30) * 1000);
    expect(await manager.verify(token)).toMatchObject({ ok: false, code: 'EXPIRED' });
    expect(manager.cacheStats()).toMatchObject({ hits: 1, misses: 2, size: 0 });
  });

  it('answers verifyCached synchronously only for a token that verified and has not expired', async () => {
    const clock = new ManualClock(T0);
    const manager = await hsManager({ clock });
    const token = await manager.createToken({ agentId: 'a', roles: ['r'], ttl: 60 });
    expect(manager.verifyCached(token)).toBeUndefined();
    const verified = await manager.verify(token);
    expect(manager.verifyCached(token)).toEqual(verified);
    expect(manager.verifyCached(`${token}x`)).toBeUndefined();
    clock.advance((60 + 30) * 1000);
    expect(manager.verifyCached(token)).toBeUndefined();
  });

  it('does not cache failures', async () => {
    const manager = await hsManager();
    await manager.verify('not-a-token');
    await manager.verify('not-a-token');
    expect(manager.cacheStats()).toMatchObject({ hits: 0, size: 0 });
  });

  it('is bounded and evicts the oldest entry', async () => {
    const manager = await hsManager({ cacheMaxEntries: 2 });
    const tokens = await Promise.all(['a', 'b', 'c'].map((agentId) => manager.createToken({ agentId })));
    for (const token of tokens) await manager.verify(token);
    expect(manager.cacheStats()).toMatchObject({ size: 2, evictions: 1 });
    await manager.verify(tokens[0]!);
    expect(manager.cacheStats().hits).toBe(0);
    await manager.verify(tokens[2]!);
    expect(manager.cacheStats().hits).toBe(1);
  });

  it('hands out frozen callers so one consumer cannot alter another’s cached identity', async () => {
    const manager = await hsManager();
    const token = await manager.createToken({ agentId: 'a', roles: ['reader'] });
    const result = await manager.verify(token);
    if (!result.ok) throw new Error('expected ok');
    expect(() => (result.caller.roles as string[]).push('admin')).toThrow(TypeError);
    const again = await manager.verify(token);
    expect(again.ok && again.caller.roles).toEqual(['reader']);
  });
});

describe('looksLikeToken', () => {
  it('tells tokens from plain agent ids', async () => {
    const manager = await hsManager();
    expect(looksLikeToken(await manager.createToken({ agentId: 'a' }))).toBe(true);
    expect(looksLikeToken(`${b64({ alg: 'none' })}.${b64({})}.`)).toBe(true);
    expect(looksLikeToken('deploy-agent-01')).toBe(false);
    expect(looksLikeToken('team.agent.01')).toBe(false);
  });
});
