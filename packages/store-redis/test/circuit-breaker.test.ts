import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { RedisStore } from '../src/index.js';
import { type RedisServer, startRedisServer } from './redis-server.js';

const settings = { threshold: 3, windowMs: 1000, cooldownMs: 500 };
let server: RedisServer;
let store: RedisStore;
let raw: Redis;

beforeAll(async () => {
  server = await startRedisServer();
  store = await RedisStore.connect({ url: server.url, time: 'client', keyPrefix: 'cb:' });
  raw = new Redis(server.url);
});

afterAll(async () => {
  await store?.close();
  raw?.disconnect();
  await server?.stop();
});

async function openBreaker(key: string, at: number): Promise<void> {
  for (let index = 0; index < settings.threshold; index += 1) {
    await store.record(key, at, true, false, settings);
  }
}

describe('RedisStore as a CircuitBreakerStore (client time)', () => {
  it('stays closed below the threshold and opens at it', async () => {
    expect(await store.admit('b1', 0, settings)).toEqual({
      admitted: true,
      state: 'closed',
      openUntil: 0,
      probe: false,
    });
    expect(await store.record('b1', 10, true, false, settings)).toEqual({
      state: 'closed',
      openUntil: 0,
      denials: 1,
    });
    expect(await store.record('b1', 20, false, false, settings)).toEqual({
      state: 'closed',
      openUntil: 0,
      denials: 1,
    });
    expect((await store.record('b1', 30, true, false, settings)).state).toBe('closed');
    // Opening forgets the denials that opened it.
    expect(await store.record('b1', 40, true, false, settings)).toEqual({
      state: 'open',
      openUntil: 540,
      denials: 0,
    });
    // Denials reported while open are not counted.
    expect(await store.record('b1', 41, true, false, settings)).toEqual({
      state: 'open',
      openUntil: 540,
      denials: 0,
    });
    expect(await store.admit('b1', 539, settings)).toEqual({
      admitted: false,
      state: 'open',
      openUntil: 540,
      probe: false,
    });
  });

  it('counts only denials inside the window', async () => {
    await store.record('b2', 0, true, false, settings);
    await store.record('b2', 500, true, false, settings);
    // The denial at 0 left the window at 1000.
    expect(await store.record('b2', 1000, true, false, settings)).toEqual({
      state: 'closed',
      openUntil: 0,
      denials: 2,
    });
  });

  it('half-opens after the cooldown, admits exactly one probe, and closes on its non-DENY', async () => {
    await openBreaker('b3', 100);
    const probe = await store.admit('b3', 600, settings);
    expect(probe).toEqual({ admitted: true, state: 'half-open', openUntil: 0, probe: true });
    expect(await store.admit('b3', 601, settings)).toEqual({
      admitted: false,
      state: 'half-open',
      openUntil: 0,
      probe: false,
    });
    expect(await store.record('b3', 650, false, true, settings)).toEqual({
      state: 'closed',
      openUntil: 0,
      denials: 0,
    });
    expect((await store.admit('b3', 651, settings)).state).toBe('closed');
    // Closing forgets the old denials: one more DENY does not reopen it.
    expect((await store.record('b3', 652, true, false, settings)).state).toBe('closed');
  });

  it('re-opens on the probe DENY for another cooldown', async () => {
    await openBreaker('b4', 0);
    expect((await store.admit('b4', 500, settings)).probe).toBe(true);
    expect(await store.record('b4', 510, true, true, settings)).toMatchObject({
      state: 'open',
      openUntil: 1010,
    });
    expect((await store.admit('b4', 1009, settings)).admitted).toBe(false);
    expect(await store.admit('b4', 1010, settings)).toMatchObject({ admitted: true, probe: true });
  });

  it('releases a probe that never reports back after another cooldown', async () => {
    await openBreaker('b5', 0);
    expect((await store.admit('b5', 500, settings)).probe).toBe(true);
    expect((await store.admit('b5', 999, settings)).admitted).toBe(false);
    expect(await store.admit('b5', 1000, settings)).toEqual({
      admitted: true,
      state: 'half-open',
      openUntil: 0,
      probe: true,
    });
  });

  it('hands out one probe among many concurrent admits', async () => {
    await openBreaker('b6', 0);
    const admissions = await Promise.all(Array.from({ length: 50 }, () => store.admit('b6', 600, settings)));
    expect(admissions.filter((admission) => admission.admitted)).toHaveLength(1);
    expect(admissions.filter((admission) => admission.probe)).toHaveLength(1);
  });

  it('opens for exactly one record when many denials race', async () => {
    const records = await Promise.all(
      Array.from({ length: 20 }, () => store.record('b7', 0, true, false, settings)),
    );
    const states = records.map((record) => record.state);
    expect(states.filter((state) => state === 'closed')).toHaveLength(2);
    expect(states.filter((state) => state === 'open')).toHaveLength(18);
  });

  it('sets expiries on breaker keys and deletes them when it closes', async () => {
    await store.record('b8', 0, true, false, settings);
    expect(await raw.pttl('cb:breaker:{k:b8}:denials')).toBeGreaterThan(0);
    await openBreaker('b8', 0);
    expect(await raw.exists('cb:breaker:{k:b8}:denials')).toBe(0);
    expect(await raw.pttl('cb:breaker:{k:b8}')).toBeGreaterThan(86_000_000);
    await store.admit('b8', 500, settings);
    await store.record('b8', 501, false, true, settings);
    expect(await raw.exists('cb:breaker:{k:b8}', 'cb:breaker:{k:b8}:denials')).toBe(0);
  });

  it('rejects malformed settings with USAGE', async () => {
    await expect(store.admit('b9', 0, { ...settings, threshold: 0 })).rejects.toMatchObject({
      code: 'USAGE',
      issues: [{ path: 'settings.threshold' }],
    });
    await expect(
      store.record('b9', 0, true, false, { ...settings, cooldownMs: Number.NaN }),
    ).rejects.toMatchObject({ code: 'USAGE', issues: [{ path: 'settings.cooldownMs' }] });
    await expect(store.admit('b9', 0, null as unknown as typeof settings)).rejects.toMatchObject({
      code: 'USAGE',
    });
  });
});
