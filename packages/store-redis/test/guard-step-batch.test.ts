import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { GuardStepInput } from '@agent-safe/core';
import { Redis } from 'ioredis';
import { MAX_QUEUED_STEPS, RedisStore, encodeCallerKey } from '../src/index.js';
import { type RedisServer, startRedisServer } from './redis-server.js';

// Concurrent guard steps of one store share script runs. These tests check that sharing a run changes
// no answer: every step sees exactly the state the steps before it left, as if run one by one.

let server: RedisServer;
let admin: Redis;

beforeAll(async () => {
  server = await startRedisServer();
  admin = new Redis(server.url);
});

afterAll(async () => {
  admin?.disconnect();
  await server?.stop();
});

async function evalshaCalls(): Promise<number> {
  const stats = await admin.info('commandstats');
  const line = stats.split('\n').find((entry) => entry.startsWith('cmdstat_evalsha:'));
  return Number(/calls=(\d+)/.exec(line ?? '')?.[1] ?? 0);
}

/** A varied sequence: different settings, subsets, records, fractional weights and times, refusals. */
function scenario(): GuardStepInput[] {
  const strict = { threshold: 2, windowMs: 1000, cooldownMs: 50 };
  const loose = { threshold: 100, windowMs: 60_000, cooldownMs: 1000 };
  const inputs: GuardStepInput[] = [];
  for (let index = 0; index < 120; index += 1) {
    const now = 1_795_308_798_000 + index * 7.25;
    const who = `agent-${index % 3}`;
    switch (index % 5) {
      case 0:
        inputs.push({
          now,
          breaker: { key: who, settings: strict },
          window: { key: `rate:${who}`, windowMs: 400, limit: 4 },
          weights: { key: `risk:${who}`, windowMs: 300, weight: 0.1, ceiling: 1.7 },
          record: { denied: index % 2 === 0 },
        });
        break;
      case 1:
        inputs.push({ now, window: { key: `rate:${who}`, windowMs: 400, limit: 4 } });
        break;
      case 2:
        inputs.push({ now, weights: { key: `risk:${who}`, windowMs: 300, weight: 0.2, ceiling: 1.7 } });
        break;
      case 3:
        inputs.push({
          now,
          breaker: { key: `other-${who}`, settings: loose },
          window: { key: `rate-other:${who}`, windowMs: 250.5, limit: 3 },
          weights: { key: `risk:${who}`, windowMs: 300, weight: 0, ceiling: Number.POSITIVE_INFINITY },
        });
        break;
      default:
        inputs.push({ now, breaker: { key: who, settings: strict }, record: { denied: true } });
    }
  }
  return inputs;
}

describe('RedisStore.guardStep in shared script runs', () => {
  it('gives every concurrent step the answer it gets alone, in submission order', async () => {
    const inputs = scenario();
    const alone = await RedisStore.connect({ url: server.url, time: 'client', keyPrefix: 'alone:' });
    // One connection, so that all 120 steps share one run and its order is the submission order. (With
    // two, two runs in flight reach Redis in either order, as concurrent requests may; the burst test
    // below covers that.)
    const shared = await RedisStore.connect({ url: server.url, time: 'client', keyPrefix: 'shared:' });
    try {
      const expected = [];
      for (const input of inputs) expected.push(await alone.guardStep(input));
      const before = await evalshaCalls();
      const actual = await Promise.all(inputs.map((input) => shared.guardStep(input)));
      const runs = (await evalshaCalls()) - before;
      expect(actual).toEqual(expected);
      // Submitted in one tick: one run.
      expect(runs).toBe(1);
      // The scenario exercises refusals, records and fractional sums (so the comparison means something).
      expect(expected.some((result) => result.window?.allowed === false)).toBe(true);
      expect(expected.some((result) => result.breaker?.admitted === false)).toBe(true);
      expect(expected.some((result) => result.record?.state === 'open')).toBe(true);
      expect(expected.some((result) => result.weights?.recorded === false)).toBe(true);
      expect(expected.map((result) => result.weights?.after)).toContain(0.30000000000000004);
    } finally {
      await alone.close();
      await shared.close();
    }
  });

  it('admits exactly `limit` of many concurrent steps on one window, each with its own count', async () => {
    const store = await RedisStore.connect({ url: server.url, keyPrefix: 'burst:', connections: 2 });
    try {
      const before = await evalshaCalls();
      const results = await Promise.all(
        Array.from({ length: 400 }, () =>
          store.guardStep({
            now: 0,
            window: { key: 'one', windowMs: 60_000, limit: 150 },
            weights: { key: 'one-risk', windowMs: 60_000, weight: 2, ceiling: 101 },
          }),
        ),
      );
      const allowed = results.filter((result) => result.window?.allowed);
      expect(allowed).toHaveLength(150);
      // Runs on the two connections may reach Redis in either order, but every step is atomic: the
      // counts handed out are exactly 1..150.
      expect(allowed.map((result) => result.window?.count).sort((a, b) => a! - b!)).toEqual(
        Array.from({ length: 150 }, (_, index) => index + 1),
      );
      // Weight 2 below a ceiling of 101: 50 recorded, and the sums handed out are exactly 2..100.
      const recorded = allowed.filter((result) => result.weights?.recorded);
      expect(recorded.map((result) => result.weights?.after).sort((a, b) => a! - b!)).toEqual(
        Array.from({ length: 50 }, (_, index) => 2 * (index + 1)),
      );
      expect(allowed.filter((result) => result.weights?.recorded === false)).toHaveLength(100);
      // Two runs at a time of at most 128 steps (shared between idle connections): far fewer runs than steps.
      const runs = (await evalshaCalls()) - before;
      expect(runs).toBeGreaterThanOrEqual(4);
      expect(runs).toBeLessThanOrEqual(8);
      expect(await store.take('one', 0, 60_000, 1_000)).toMatchObject({ count: 151 });
    } finally {
      await store.close();
    }
  });

  it('fails only the step whose key is broken, and runs the others', async () => {
    const store = await RedisStore.connect({ url: server.url, time: 'client', keyPrefix: 'broken:' });
    try {
      await admin.set(`broken:window:{${encodeCallerKey('bad')}}`, 'not a sorted set');
      const window = (key: string) => ({ now: 0, window: { key, windowMs: 1000, limit: 5 } });
      const [first, bad, last] = await Promise.allSettled([
        store.guardStep(window('good-1')),
        store.guardStep(window('bad')),
        store.guardStep(window('good-2')),
      ]);
      expect(first).toMatchObject({ status: 'fulfilled', value: { window: { allowed: true, count: 1 } } });
      expect(last).toMatchObject({ status: 'fulfilled', value: { window: { allowed: true, count: 1 } } });
      expect(bad.status).toBe('rejected');
      const error = (bad as PromiseRejectedResult).reason;
      expect(error).toMatchObject({ code: 'INTERNAL', details: { store: 'redis', operation: 'guardStep' } });
      expect(error.message).toMatch(/rejected guardStep: .*WRONGTYPE/);
    } finally {
      await store.close();
    }
  });

  it('rejects every step of a run when Redis stops answering, and serves later steps', async () => {
    const store = await RedisStore.connect({ url: server.url, keyPrefix: 'stall:', commandTimeoutMs: 200 });
    try {
      server.pause();
      const stalled = await Promise.allSettled(
        Array.from({ length: 10 }, (_, index) =>
          store.guardStep({ now: 0, window: { key: `w${index}`, windowMs: 1000, limit: 5 } }),
        ),
      );
      server.resume();
      expect(stalled.every((outcome) => outcome.status === 'rejected')).toBe(true);
      expect((stalled[0] as PromiseRejectedResult).reason).toMatchObject({ code: 'INTERNAL' });
      expect(
        await store.guardStep({ now: 0, window: { key: 'after', windowMs: 1000, limit: 5 } }),
      ).toMatchObject({ window: { allowed: true } });
    } finally {
      server.resume();
      await store.close();
    }
  });
});

describe('RedisStore.guardStep queue', () => {
  it(`refuses steps beyond ${MAX_QUEUED_STEPS} waiting ones at once, and settles every step on close`, async () => {
    const store = await RedisStore.connect({ url: server.url, keyPrefix: 'queue:', commandTimeoutMs: 5000 });
    const step = () => store.guardStep({ now: 0, window: { key: 'q', windowMs: 1000, limit: 1_000_000 } });
    server.pause();
    try {
      const waiting = Promise.allSettled(Array.from({ length: MAX_QUEUED_STEPS }, step));
      const refused = await step().then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(refused).toMatchObject({ code: 'INTERNAL', details: { operation: 'guardStep' } });
      expect((refused as Error).message).toMatch(/already waiting for Redis/);
      server.resume();
      const outcomes = await waiting;
      expect(outcomes).toHaveLength(MAX_QUEUED_STEPS);
      expect(outcomes.every((outcome) => outcome.status === 'fulfilled')).toBe(true);
    } finally {
      server.resume();
    }
    // Closing with steps still queued settles them all: refused, the store is closed.
    const late = Promise.allSettled(Array.from({ length: 300 }, step));
    await store.close();
    const settled = await late;
    expect(settled).toHaveLength(300);
    for (const outcome of settled) {
      expect(outcome).toMatchObject({ status: 'rejected', reason: { code: 'USAGE' } });
    }
  });
});
