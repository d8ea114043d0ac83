import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { RedisStore } from '../src/index.js';
import { runWorkers } from './helpers.js';
import { type RedisServer, startRedisServer } from './redis-server.js';

const settings = { threshold: 2, windowMs: 1000, cooldownMs: 500 };
let server: RedisServer;
let store: RedisStore;

beforeAll(async () => {
  server = await startRedisServer();
  store = await RedisStore.connect({ url: server.url, time: 'client', keyPrefix: 'gs:' });
});

afterAll(async () => {
  await store?.close();
  await server?.stop();
});

/** Opens the breaker `key` at time 0 (open until 500). */
async function openBreaker(key: string): Promise<void> {
  await store.record(key, 0, true, false, settings);
  await store.record(key, 0, true, false, settings);
}

function step(name: string, now: number, limit = 5, weight = 3, ceiling = 10) {
  return {
    now,
    breaker: { key: `${name}-breaker`, settings },
    window: { key: `${name}-window`, windowMs: 10_000, limit },
    weights: { key: `${name}-risk`, windowMs: 10_000, weight, ceiling },
  };
}

describe('RedisStore.guardStep', () => {
  it('admits, takes and adds in one step when everything passes', async () => {
    expect(await store.guardStep(step('a', 1000))).toEqual({
      breaker: { admitted: true, state: 'closed', openUntil: 0, probe: false },
      window: { allowed: true, count: 1, retryAfterMs: 0 },
      weights: { before: 0, after: 3, recorded: true },
    });
    // The separate operations see the same keys.
    expect(await store.take('a-window', 1001, 10_000, 5)).toMatchObject({ count: 2 });
    expect(await store.addBelow('a-risk', 1001, 10_000, 0, Number.POSITIVE_INFINITY)).toMatchObject({
      after: 3,
    });
    expect(await store.guardStep(step('a', 1002))).toMatchObject({
      window: { allowed: true, count: 3 },
      weights: { before: 3, after: 6, recorded: true },
    });
  });

  it('records nothing while the breaker refuses', async () => {
    await openBreaker('b-breaker');
    expect(await store.guardStep(step('b', 100))).toEqual({
      breaker: { admitted: false, state: 'open', openUntil: 500, probe: false },
    });
    expect(await store.take('b-window', 100, 10_000, 5)).toMatchObject({ count: 1 });
    expect(await store.addBelow('b-risk', 100, 10_000, 0, Number.POSITIVE_INFINITY)).toMatchObject({
      after: 0,
    });
  });

  it('spends no probe and adds no weight when the window refuses', async () => {
    await openBreaker('c-breaker');
    await store.take('c-window', 600, 10_000, 1);
    expect(await store.guardStep(step('c', 600, 1))).toEqual({
      breaker: { admitted: true, state: 'half-open', openUntil: 0, probe: false },
      window: { allowed: false, count: 1, retryAfterMs: 10_000 },
    });
    expect(await store.addBelow('c-risk', 600, 10_000, 0, Number.POSITIVE_INFINITY)).toMatchObject({
      after: 0,
    });
    // The probe is still there, and once handed out nobody else is admitted.
    const probe = await store.guardStep(step('c', 601, 5));
    expect(probe).toEqual({
      breaker: { admitted: true, state: 'half-open', openUntil: 0, probe: true },
      window: { allowed: true, count: 2, retryAfterMs: 0 },
      weights: { before: 0, after: 3, recorded: true },
    });
    expect((await store.guardStep(step('c', 602, 5))).breaker).toMatchObject({ admitted: false });
  });

  it('keeps the weights below their ceiling but still takes the slot', async () => {
    expect((await store.guardStep(step('d', 0, 5, 4, 10))).weights).toEqual({
      before: 0,
      after: 4,
      recorded: true,
    });
    expect((await store.guardStep(step('d', 1, 5, 4, 10))).weights).toEqual({
      before: 4,
      after: 8,
      recorded: true,
    });
    const refused = await store.guardStep(step('d', 2, 5, 4, 10));
    expect(refused.window).toEqual({ allowed: true, count: 3, retryAfterMs: 0 });
    expect(refused.weights).toEqual({ before: 8, after: 8, recorded: false });
    // Weight 0 with no ceiling reads the sum; old weights leave the window.
    const read = await store.guardStep({
      now: 10_000,
      weights: { key: 'd-risk', windowMs: 10_000, weight: 0, ceiling: Number.POSITIVE_INFINITY },
    });
    expect(read).toEqual({ weights: { before: 4, after: 4, recorded: false } });
  });

  it('runs any subset of the steps', async () => {
    expect(await store.guardStep({ now: 0 })).toEqual({});
    expect(await store.guardStep({ now: 0, window: { key: 'e-window', windowMs: 1000, limit: 1 } })).toEqual({
      window: { allowed: true, count: 1, retryAfterMs: 0 },
    });
    expect(
      await store.guardStep({
        now: 1,
        window: { key: 'e-window', windowMs: 1000, limit: 1 },
        weights: { key: 'e-risk', windowMs: 1000, weight: 1, ceiling: 5 },
      }),
    ).toEqual({ window: { allowed: false, count: 1, retryAfterMs: 999 } });
    expect(await store.guardStep({ now: 2, breaker: { key: 'e-breaker', settings } })).toEqual({
      breaker: { admitted: true, state: 'closed', openUntil: 0, probe: false },
    });
  });

  it('rejects malformed input with USAGE before touching Redis', async () => {
    const bad: unknown[] = [
      null,
      { now: Number.NaN },
      { now: 0, window: { key: '', windowMs: 1, limit: 1 } },
      { now: 0, window: { key: 'w', windowMs: -1, limit: 1 } },
      { now: 0, window: { key: 'w', windowMs: 1, limit: 1.5 } },
      { now: 0, breaker: { key: 'b', settings: { threshold: 0, windowMs: 1, cooldownMs: 1 } } },
      { now: 0, breaker: { key: 'b' } },
      { now: 0, weights: { key: 'r', windowMs: 1, weight: -1, ceiling: 1 } },
      { now: 0, weights: { key: 'r', windowMs: 1, weight: 1, ceiling: Number.NaN } },
      {
        now: 0,
        window: { key: 'same', windowMs: 1, limit: 1 },
        weights: { key: 'same', windowMs: 1, weight: 1, ceiling: 2 },
      },
    ];
    for (const input of bad) {
      await expect(store.guardStep(input as Parameters<RedisStore['guardStep']>[0])).rejects.toMatchObject({
        code: 'USAGE',
      });
    }
  });

  it('shares state across a pool of connections and rejects a bad pool size', async () => {
    const pooled = await RedisStore.connect({
      url: server.url,
      time: 'client',
      keyPrefix: 'gs:',
      connections: 3,
    });
    try {
      const results = await Promise.all(
        Array.from({ length: 30 }, () =>
          pooled.guardStep({ now: 0, window: { key: 'f-window', windowMs: 1000, limit: 10 } }),
        ),
      );
      expect(results.filter((result) => result.window?.allowed)).toHaveLength(10);
      expect(await store.take('f-window', 1, 1000, 11)).toMatchObject({ count: 11 });
    } finally {
      await pooled.close();
    }
    for (const connections of [0, 17, 1.5]) {
      await expect(RedisStore.connect({ url: server.url, connections })).rejects.toMatchObject({
        code: 'USAGE',
      });
    }
  });

  it('is exact across processes: the window admits `limit`, the weights stop below the ceiling', async () => {
    const tallies = await runWorkers({
      url: server.url,
      mode: 'step',
      key: 'shared-step',
      limit: 50,
      attempts: 300,
      processes: 4,
      inFlight: 16,
    });
    expect(tallies.reduce((sum, tally) => sum + tally.errors, 0)).toBe(0);
    expect(tallies.reduce((sum, tally) => sum + tally.wins.length, 0)).toBe(50);
    // The workers add weight 1 below a ceiling of 31, under the default key prefix.
    const reader = await RedisStore.connect({ url: server.url, time: 'client' });
    try {
      const sum = await reader.addBelow(
        'shared-step:risk',
        1_000_000,
        3_600_000,
        0,
        Number.POSITIVE_INFINITY,
      );
      expect(sum.after).toBe(30);
    } finally {
      await reader.close();
    }
  });
});
