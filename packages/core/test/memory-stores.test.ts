import { describe, expect, it } from '@jest/globals';
import {
  AgentSafeError,
  type BreakerSettings,
  InMemoryCircuitBreakerStore,
  InMemorySlidingWindowStore,
  MAX_STORE_KEY_LENGTH,
} from '../src/index.js';

const T0 = 1_700_000_000_000;

describe('InMemorySlidingWindowStore.take', () => {
  it('allows up to the limit and refuses the next without recording it', async () => {
    const store = new InMemorySlidingWindowStore();
    for (let index = 1; index <= 3; index++) {
      expect(await store.take('a', T0 + index, 1000, 3)).toEqual({
        allowed: true,
        count: index,
        retryAfterMs: 0,
      });
    }
    expect(await store.take('a', T0 + 10, 1000, 3)).toEqual({ allowed: false, count: 3, retryAfterMs: 991 });
    // The refusal did not consume a slot: once the first entry leaves, exactly one is free.
    expect(store.takeSync('a', T0 + 1001, 1000, 3)).toEqual({ allowed: true, count: 3, retryAfterMs: 0 });
    expect(store.takeSync('a', T0 + 1001, 1000, 3).allowed).toBe(false);
  });

  it('drops entries exactly at now - windowMs', () => {
    const store = new InMemorySlidingWindowStore();
    expect(store.takeSync('a', T0, 1000, 1).allowed).toBe(true);
    expect(store.takeSync('a', T0 + 999, 1000, 1)).toEqual({ allowed: false, count: 1, retryAfterMs: 1 });
    expect(store.takeSync('a', T0 + 1000, 1000, 1)).toEqual({ allowed: true, count: 1, retryAfterMs: 0 });
  });

  it('keeps keys independent', () => {
    const store = new InMemorySlidingWindowStore();
    expect(store.takeSync('a', T0, 1000, 1).allowed).toBe(true);
    expect(store.takeSync('b', T0, 1000, 1).allowed).toBe(true);
    expect(store.takeSync('a', T0, 1000, 1).allowed).toBe(false);
    expect(store.takeSync('__proto__', T0, 1000, 1).allowed).toBe(true);
    expect(store.takeSync('__proto__', T0, 1000, 1).allowed).toBe(false);
  });

  it('enforces the limit exactly under many concurrent calls', async () => {
    const store = new InMemorySlidingWindowStore();
    const results = await Promise.all(Array.from({ length: 1000 }, () => store.take('a', T0, 60_000, 50)));
    expect(results.filter((result) => result.allowed)).toHaveLength(50);
  });

  it('keeps ordering when the clock steps back (the entry lives as long as the newest)', () => {
    const store = new InMemorySlidingWindowStore();
    store.takeSync('a', T0 + 500, 1000, 2);
    store.takeSync('a', T0 + 100, 1000, 2);
    expect(store.takeSync('a', T0 + 1499, 1000, 2).allowed).toBe(false);
    expect(store.takeSync('a', T0 + 1500, 1000, 2)).toEqual({ allowed: true, count: 1, retryAfterMs: 0 });
  });

  it('grows its ring buffer past the initial capacity and keeps order', () => {
    const store = new InMemorySlidingWindowStore();
    for (let index = 0; index < 100; index++)
      expect(store.takeSync('a', T0 + index, 1000, 100).allowed).toBe(true);
    expect(store.takeSync('a', T0 + 1010, 1000, 100)).toEqual({ allowed: true, count: 90, retryAfterMs: 0 });
  });
});

describe('InMemorySlidingWindowStore.addBelow', () => {
  it('records only while the total stays below the ceiling', async () => {
    const store = new InMemorySlidingWindowStore();
    expect(await store.addBelow('r', T0, 1000, 5, 10)).toEqual({ before: 0, after: 5, recorded: true });
    expect(await store.addBelow('r', T0 + 1, 1000, 4, 10)).toEqual({ before: 5, after: 9, recorded: true });
    expect(await store.addBelow('r', T0 + 2, 1000, 1, 10)).toEqual({ before: 9, after: 9, recorded: false });
    expect(await store.addBelow('r', T0 + 3, 1000, 0, 10)).toEqual({ before: 9, after: 9, recorded: false });
    expect(store.addBelowSync('r', T0 + 1000, 1000, 0, Number.POSITIVE_INFINITY)).toEqual({
      before: 4,
      after: 4,
      recorded: false,
    });
    expect(store.addBelowSync('r', T0 + 1001, 1000, 100, Number.POSITIVE_INFINITY).after).toBe(100);
  });

  it('clear removes every entry', async () => {
    const store = new InMemorySlidingWindowStore();
    store.addBelowSync('r', T0, 1000, 5, 10);
    await store.clear('r');
    expect(store.addBelowSync('r', T0, 1000, 0, 10).before).toBe(0);
    expect(store.size).toBe(0);
  });

  it('never exceeds the ceiling under concurrent adds', async () => {
    const store = new InMemorySlidingWindowStore();
    const results = await Promise.all(
      Array.from({ length: 500 }, () => store.addBelow('r', T0, 1000, 3, 100)),
    );
    expect(results.filter((result) => result.recorded)).toHaveLength(33);
    expect(store.addBelowSync('r', T0, 1000, 0, 100).before).toBe(99);
  });
});

describe('InMemorySlidingWindowStore memory', () => {
  it('drops keys whose window is empty and caps the number of keys', () => {
    const store = new InMemorySlidingWindowStore({ maxKeys: 1000 });
    for (let index = 0; index < 5000; index++) store.takeSync(`caller-${index}`, T0, 1000, 10);
    expect(store.size).toBe(1000);
    // The most recent keys survive the eviction.
    expect(store.takeSync('caller-4999', T0, 1000, 1).allowed).toBe(false);
    // After the window, sweeps and refusals remove idle keys.
    for (let index = 0; index < 2000; index++) store.takeSync('other', T0 + 5000 + index, 1, 1_000_000);
    expect(store.size).toBeLessThan(1000);
  });

  it('prefers evicting keys not used recently', () => {
    const store = new InMemorySlidingWindowStore({ maxKeys: 3 });
    store.takeSync('a', T0, 60_000, 5);
    store.takeSync('b', T0, 60_000, 5);
    store.takeSync('c', T0, 60_000, 5);
    store.takeSync('d', T0, 60_000, 5); // clears every reference bit, evicts a
    store.takeSync('b', T0, 60_000, 5); // b used again
    store.takeSync('e', T0, 60_000, 5); // c is the least recently used
    expect(store.takeSync('b', T0, 60_000, 5).count).toBe(3);
    expect(store.takeSync('c', T0, 60_000, 5).count).toBe(1);
  });

  it('removes the key when a refusal finds the window empty', () => {
    const store = new InMemorySlidingWindowStore();
    store.addBelowSync('r', T0, 1000, 5, 10);
    store.addBelowSync('r', T0 + 5000, 1000, 0, 10);
    expect(store.size).toBe(0);
  });
});

describe('InMemorySlidingWindowStore input checks', () => {
  it.each([
    ['an empty key', '', T0, 1000, 1],
    ['an over-long key', 'x'.repeat(MAX_STORE_KEY_LENGTH + 1), T0, 1000, 1],
    ['a non-string key', 42 as unknown as string, T0, 1000, 1],
    ['a NaN time', 'a', Number.NaN, 1000, 1],
    ['a negative time', 'a', -1, 1000, 1],
    ['a zero window', 'a', T0, 0, 1],
    ['a NaN window', 'a', T0, Number.NaN, 1],
    ['a NaN limit', 'a', T0, 1000, Number.NaN],
  ])('refuses %s', async (_label, key, now, windowMs, limit) => {
    const store = new InMemorySlidingWindowStore();
    expect(() => store.takeSync(key, now, windowMs, limit)).toThrow(AgentSafeError);
    await expect(store.take(key, now, windowMs, limit)).rejects.toMatchObject({ code: 'USAGE' });
  });

  it('refuses negative, infinite or NaN weights and a NaN ceiling', async () => {
    const store = new InMemorySlidingWindowStore();
    for (const weight of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
      await expect(store.addBelow('r', T0, 1000, weight, 10)).rejects.toMatchObject({ code: 'USAGE' });
    }
    await expect(store.addBelow('r', T0, 1000, 1, Number.NaN)).rejects.toMatchObject({ code: 'USAGE' });
  });

  it('refuses a bad maxKeys', () => {
    expect(() => new InMemorySlidingWindowStore({ maxKeys: 0 })).toThrow(/maxKeys/);
    expect(() => new InMemoryCircuitBreakerStore({ maxKeys: 1.5 })).toThrow(/maxKeys/);
  });
});

const settings: BreakerSettings = { threshold: 3, windowMs: 10_000, cooldownMs: 60_000 };

describe('InMemoryCircuitBreakerStore', () => {
  it('admits while closed and holds no key for callers without denials', async () => {
    const store = new InMemoryCircuitBreakerStore();
    expect(await store.admit('a', T0, settings)).toEqual({
      admitted: true,
      state: 'closed',
      openUntil: 0,
      probe: false,
    });
    expect(await store.record('a', T0, false, false, settings)).toEqual({
      state: 'closed',
      openUntil: 0,
      denials: 0,
    });
    expect(store.size).toBe(0);
  });

  it('opens at the threshold of denials within the window', () => {
    const store = new InMemoryCircuitBreakerStore();
    expect(store.recordSync('a', T0, true, false, settings).denials).toBe(1);
    expect(store.recordSync('a', T0 + 1, true, false, settings).denials).toBe(2);
    expect(store.recordSync('a', T0 + 2, true, false, settings)).toEqual({
      state: 'open',
      openUntil: T0 + 2 + 60_000,
      denials: 0,
    });
    expect(store.admitSync('a', T0 + 3, settings)).toEqual({
      admitted: false,
      state: 'open',
      openUntil: T0 + 60_002,
      probe: false,
    });
    expect(store.admitSync('b', T0 + 3, settings).admitted).toBe(true);
  });

  it('forgets denials that left the window', () => {
    const store = new InMemoryCircuitBreakerStore();
    store.recordSync('a', T0, true, false, settings);
    store.recordSync('a', T0 + 1, true, false, settings);
    expect(store.recordSync('a', T0 + 10_001, true, false, settings)).toEqual({
      state: 'closed',
      openUntil: 0,
      denials: 1,
    });
    store.admitSync('a', T0 + 30_000, settings);
    expect(store.size).toBe(0);
  });

  it('half-opens after the cooldown with exactly one probe; probe ALLOW closes', async () => {
    const store = new InMemoryCircuitBreakerStore();
    for (let index = 0; index < 3; index++) store.recordSync('a', T0, true, false, settings);
    expect(store.admitSync('a', T0 + 59_999, settings).admitted).toBe(false);
    const admissions = await Promise.all(
      Array.from({ length: 100 }, () => store.admit('a', T0 + 60_000, settings)),
    );
    const probes = admissions.filter((admission) => admission.admitted);
    expect(probes).toEqual([{ admitted: true, state: 'half-open', openUntil: 0, probe: true }]);
    expect(admissions.filter((admission) => !admission.admitted).every((a) => a.state === 'half-open')).toBe(
      true,
    );
    expect(store.recordSync('a', T0 + 60_001, false, true, settings).state).toBe('closed');
    expect(store.admitSync('a', T0 + 60_002, settings)).toEqual({
      admitted: true,
      state: 'closed',
      openUntil: 0,
      probe: false,
    });
    expect(store.size).toBe(0);
  });

  it('probe DENY opens again for a full cooldown', () => {
    const store = new InMemoryCircuitBreakerStore();
    for (let index = 0; index < 3; index++) store.recordSync('a', T0, true, false, settings);
    expect(store.admitSync('a', T0 + 60_000, settings).probe).toBe(true);
    expect(store.recordSync('a', T0 + 60_010, true, true, settings)).toEqual({
      state: 'open',
      openUntil: T0 + 120_010,
      denials: 0,
    });
    expect(store.admitSync('a', T0 + 120_009, settings).admitted).toBe(false);
    expect(store.admitSync('a', T0 + 120_010, settings).probe).toBe(true);
  });

  it('releases a lost probe after another cooldown', () => {
    const store = new InMemoryCircuitBreakerStore();
    for (let index = 0; index < 3; index++) store.recordSync('a', T0, true, false, settings);
    expect(store.admitSync('a', T0 + 60_000, settings).probe).toBe(true);
    expect(store.admitSync('a', T0 + 119_999, settings).admitted).toBe(false);
    expect(store.admitSync('a', T0 + 120_000, settings)).toEqual({
      admitted: true,
      state: 'half-open',
      openUntil: 0,
      probe: true,
    });
  });

  it('ignores ordinary decisions while open and a stale probe flag while closed', () => {
    const store = new InMemoryCircuitBreakerStore();
    for (let index = 0; index < 3; index++) store.recordSync('a', T0, true, false, settings);
    expect(store.recordSync('a', T0 + 5, true, false, settings).state).toBe('open');
    expect(store.recordSync('a', T0 + 5, false, true, settings).state).toBe('open');
    expect(store.recordSync('b', T0, true, true, settings)).toEqual({
      state: 'closed',
      openUntil: 0,
      denials: 1,
    });
  });

  it('refuses malformed settings', async () => {
    const store = new InMemoryCircuitBreakerStore();
    for (const bad of [
      { threshold: 0, windowMs: 1, cooldownMs: 1 },
      { threshold: 1, windowMs: Number.NaN, cooldownMs: 1 },
      { threshold: 1, windowMs: 1, cooldownMs: -5 },
      null as unknown as BreakerSettings,
    ]) {
      await expect(store.admit('a', T0, bad)).rejects.toMatchObject({ code: 'USAGE' });
      await expect(store.record('a', T0, true, false, bad)).rejects.toMatchObject({ code: 'USAGE' });
    }
  });

  it('caps the number of keys', () => {
    const store = new InMemoryCircuitBreakerStore({ maxKeys: 100 });
    for (let index = 0; index < 1000; index++) store.recordSync(`c${index}`, T0, true, false, settings);
    expect(store.size).toBe(100);
  });
});
