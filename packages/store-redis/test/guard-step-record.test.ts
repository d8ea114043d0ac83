import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { GuardStepInput } from '@agent-safe/core';
import { RedisStore } from '../src/index.js';
import { type RedisServer, startRedisServer } from './redis-server.js';

const settings = { threshold: 3, windowMs: 1000, cooldownMs: 500 };
let server: RedisServer;
let store: RedisStore;

beforeAll(async () => {
  server = await startRedisServer();
  store = await RedisStore.connect({ url: server.url, time: 'client', keyPrefix: 'gsr:' });
});

afterAll(async () => {
  await store?.close();
  await server?.stop();
});

function step(name: string, now: number, denied?: boolean, limit = 100): GuardStepInput {
  return {
    now,
    breaker: { key: `${name}-breaker`, settings },
    window: { key: `${name}-window`, windowMs: 10_000, limit },
    weights: { key: `${name}-risk`, windowMs: 10_000, weight: 0, ceiling: Number.POSITIVE_INFINITY },
    ...(denied === undefined ? {} : { record: { denied } }),
  };
}

/** Opens the breaker of `name` at time 0 (open until 500). */
async function openBreaker(name: string): Promise<void> {
  for (let count = 0; count < settings.threshold; count += 1) {
    await store.record(`${name}-breaker`, 0, true, false, settings);
  }
}

describe('RedisStore.guardStep with record', () => {
  it('opens the breaker at the threshold exactly as a step followed by a separate record', async () => {
    // [time, denied] of each request; the breaker counts DENYs over 1000 ms.
    const requests: [number, boolean][] = [
      [0, true],
      [10, false],
      [400, true],
      [1100, true], // the first DENY left the window
      [1200, true], // third DENY in the window: opens until 1700
      [1300, true], // refused while open
      [1700, true], // probe, denied: open again until 2200
      [2200, false], // probe, allowed: closes
      [2300, true],
    ];
    const fused: unknown[] = [];
    const separate: unknown[] = [];
    for (const [now, denied] of requests) {
      fused.push(await store.guardStep(step('fused', now, denied)));
      const result = await store.guardStep(step('separate', now));
      const outcome: Record<string, unknown> = { ...result };
      if (result.breaker?.admitted && result.window?.allowed) {
        outcome.record = await store.record('separate-breaker', now, denied, result.breaker.probe, settings);
      }
      separate.push(outcome);
    }
    expect(fused).toEqual(separate);
    expect(fused.map((outcome) => (outcome as { record?: unknown }).record)).toEqual([
      { state: 'closed', openUntil: 0, denials: 1 },
      { state: 'closed', openUntil: 0, denials: 1 },
      { state: 'closed', openUntil: 0, denials: 2 },
      { state: 'closed', openUntil: 0, denials: 2 },
      { state: 'open', openUntil: 1700, denials: 0 },
      undefined,
      { state: 'open', openUntil: 2200, denials: 0 },
      { state: 'closed', openUntil: 0, denials: 0 },
      { state: 'closed', openUntil: 0, denials: 1 },
    ]);
    expect((fused[5] as { breaker: unknown }).breaker).toEqual({
      admitted: false,
      state: 'open',
      openUntil: 1700,
      probe: false,
    });
  });

  it('counts a DENY once toward the threshold', async () => {
    await store.guardStep(step('once', 0, true));
    await store.guardStep(step('once', 1, true));
    // Two DENYs of a threshold of three: still closed, the third opens it.
    expect(await store.admit('once-breaker', 2, settings)).toMatchObject({ admitted: true, state: 'closed' });
    expect((await store.guardStep(step('once', 3, true))).record).toEqual({
      state: 'open',
      openUntil: 503,
      denials: 0,
    });
  });

  it('re-opens the breaker when a half-open probe is denied in the step', async () => {
    await openBreaker('probe');
    expect(await store.guardStep(step('probe', 600, true))).toEqual({
      breaker: { admitted: true, state: 'half-open', openUntil: 0, probe: true },
      window: { allowed: true, count: 1, retryAfterMs: 0 },
      weights: { before: 0, after: 0, recorded: false },
      record: { state: 'open', openUntil: 1100, denials: 0 },
    });
    expect((await store.guardStep(step('probe', 700, true))).breaker).toEqual({
      admitted: false,
      state: 'open',
      openUntil: 1100,
      probe: false,
    });
  });

  it('records nothing when the window or the breaker refuses', async () => {
    // Closed breaker, full window: the DENY of a refused request does not count.
    await store.guardStep(step('full', 0, true, 1));
    const refused = await store.guardStep(step('full', 1, true, 1));
    expect(refused.window).toMatchObject({ allowed: false });
    expect(refused.record).toBeUndefined();
    expect(await store.record('full-breaker', 2, false, false, settings)).toEqual({
      state: 'closed',
      openUntil: 0,
      denials: 1,
    });

    // Half-open breaker, full window: no probe spent and no re-opening.
    await openBreaker('half');
    await store.take('half-window', 600, 10_000, 1);
    expect(await store.guardStep(step('half', 600, true, 1))).toEqual({
      breaker: { admitted: true, state: 'half-open', openUntil: 0, probe: false },
      window: { allowed: false, count: 1, retryAfterMs: 10_000 },
    });
    expect((await store.guardStep(step('half', 601, false, 5))).record).toEqual({
      state: 'closed',
      openUntil: 0,
      denials: 0,
    });

    // Open breaker: refused before anything runs.
    await openBreaker('shut');
    expect(await store.guardStep(step('shut', 100, true))).toEqual({
      breaker: { admitted: false, state: 'open', openUntil: 500, probe: false },
    });
  });

  it('rejects record without a breaker or with a non-boolean decision', async () => {
    const bad: unknown[] = [
      { now: 0, window: { key: 'w', windowMs: 1, limit: 1 }, record: { denied: true } },
      { ...step('bad', 0), record: { denied: 'yes' } },
      { ...step('bad', 0), record: null },
      { ...step('bad', 0), record: {} },
    ];
    for (const input of bad) {
      await expect(store.guardStep(input as GuardStepInput)).rejects.toMatchObject({ code: 'USAGE' });
    }
    expect(await store.take('bad-window', 0, 10_000, 100)).toMatchObject({ count: 1 });
  });
});
