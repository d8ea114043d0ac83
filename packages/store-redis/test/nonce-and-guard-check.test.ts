import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { RedisStore } from '../src/index.js';
import { type RedisServer, startRedisServer } from './redis-server.js';

const settings = { threshold: 2, windowMs: 1000, cooldownMs: 500 };
let server: RedisServer;
let store: RedisStore;
let raw: Redis;

beforeAll(async () => {
  server = await startRedisServer();
  store = await RedisStore.connect({ url: server.url, time: 'client', keyPrefix: 'ng:', nonceGraceMs: 1000 });
  raw = new Redis(server.url);
});

afterAll(async () => {
  await store?.close();
  raw?.disconnect();
  await server?.stop();
});

describe('RedisStore as a NonceStore', () => {
  it('consumes a nonce once', async () => {
    const expiresAt = Date.now() + 30_000;
    expect(await store.consume('jti-1', expiresAt)).toBe(true);
    expect(await store.consume('jti-1', expiresAt)).toBe(false);
    expect(await store.consume('jti-2', expiresAt)).toBe(true);
  });

  it('lets exactly one of many concurrent consumes win', async () => {
    const results = await Promise.all(
      Array.from({ length: 100 }, () => store.consume('jti-race', Date.now() + 30_000)),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  it('expires a nonce nonceGraceMs after expiresAt', async () => {
    await store.consume('jti-ttl', Date.now() + 10_000);
    const ttl = await raw.pttl('ng:nonce:k:jti-ttl');
    expect(ttl).toBeGreaterThan(9_000);
    expect(ttl).toBeLessThanOrEqual(11_000);
    // An already expired ticket is still recorded for the grace period.
    expect(await store.consume('jti-old', Date.now() - 60_000)).toBe(true);
    expect(await raw.pttl('ng:nonce:k:jti-old')).toBeGreaterThan(0);
    expect(await store.consume('jti-old', Date.now() - 60_000)).toBe(false);
  });

  it('rejects malformed nonces and expiries with INPUT_INVALID', async () => {
    await expect(store.consume('', Date.now())).rejects.toMatchObject({ code: 'INPUT_INVALID' });
    await expect(store.consume('x'.repeat(513), Date.now())).rejects.toMatchObject({ code: 'INPUT_INVALID' });
    await expect(store.consume('ok', Number.NaN)).rejects.toMatchObject({
      code: 'INPUT_INVALID',
      issues: [{ path: 'expiresAt' }],
    });
  });
});

describe('RedisStore.guardCheck', () => {
  it('takes from every window and admits through the breaker in one step', async () => {
    const result = await store.guardCheck({
      now: 1000,
      windows: [
        { key: 'g-caller', windowMs: 1000, limit: 2 },
        { key: 'g-action', windowMs: 1000, limit: 5 },
      ],
      breaker: { key: 'g-breaker', settings },
    });
    expect(result).toEqual({
      allowed: true,
      breaker: { admitted: true, state: 'closed', openUntil: 0, probe: false },
      windows: [
        { allowed: true, count: 1, retryAfterMs: 0 },
        { allowed: true, count: 1, retryAfterMs: 0 },
      ],
    });
  });

  it('records nothing when one window is full', async () => {
    const windows = [
      { key: 'h-caller', windowMs: 1000, limit: 1 },
      { key: 'h-action', windowMs: 1000, limit: 5 },
    ];
    expect((await store.guardCheck({ now: 1000, windows })).allowed).toBe(true);
    const refused = await store.guardCheck({ now: 1100, windows });
    expect(refused).toEqual({
      allowed: false,
      windows: [
        { allowed: false, count: 1, retryAfterMs: 900 },
        { allowed: true, count: 1, retryAfterMs: 0 },
      ],
    });
    expect((await store.take('h-action', 1100, 1000, 5)).count).toBe(2);
  });

  it('records nothing while the breaker is open and spends no probe on a refused window', async () => {
    await store.record('i-breaker', 0, true, false, settings);
    await store.record('i-breaker', 0, true, false, settings);
    const whileOpen = await store.guardCheck({
      now: 100,
      windows: [{ key: 'i-window', windowMs: 10_000, limit: 1 }],
      breaker: { key: 'i-breaker', settings },
    });
    expect(whileOpen.allowed).toBe(false);
    expect(whileOpen.breaker).toEqual({ admitted: false, state: 'open', openUntil: 500, probe: false });
    expect(whileOpen.windows[0]?.count).toBe(0);
    await store.take('i-window', 600, 10_000, 1);
    const windowFull = await store.guardCheck({
      now: 600,
      windows: [{ key: 'i-window', windowMs: 10_000, limit: 1 }],
      breaker: { key: 'i-breaker', settings },
    });
    expect(windowFull.allowed).toBe(false);
    // The probe is still available to the next request.
    expect(await store.admit('i-breaker', 601, settings)).toMatchObject({ admitted: true, probe: true });
  });

  it('rejects repeated window keys and too many windows', async () => {
    await expect(
      store.guardCheck({
        now: 0,
        windows: [
          { key: 'same', windowMs: 1, limit: 1 },
          { key: 'same', windowMs: 1, limit: 1 },
        ],
      }),
    ).rejects.toMatchObject({ code: 'USAGE' });
    await expect(
      store.guardCheck({
        now: 0,
        windows: Array.from({ length: 17 }, (_, index) => ({ key: `w${index}`, windowMs: 1, limit: 1 })),
      }),
    ).rejects.toMatchObject({ code: 'USAGE' });
  });
});
