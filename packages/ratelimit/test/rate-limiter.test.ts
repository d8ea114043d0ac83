import { describe, expect, it } from '@jest/globals';
import { InMemorySlidingWindowStore, ManualClock, type SlidingWindowStore } from '@agent-safe/core';
import { RateLimiter } from '../src/index.js';

const T0 = Date.UTC(2025, 0, 1);

/** A store that answers only asynchronously (like a network store), wrapping the in-memory one. */
function asyncOnly(inner = new InMemorySlidingWindowStore()): SlidingWindowStore {
  return {
    take: (key, now, windowMs, limit) =>
      new Promise((resolve) => setImmediate(() => resolve(inner.take(key, now, windowMs, limit)))),
    addBelow: (...args) => inner.addBelow(...args),
    clear: (key) => inner.clear(key),
  };
}

describe('RateLimiter', () => {
  it('allows maxRequests per window and refuses with the reason text', async () => {
    const clock = new ManualClock(T0);
    const limiter = new RateLimiter({ maxRequests: 2, windowSeconds: 60, clock });
    expect(await limiter.check('agent-01')).toEqual({ allowed: true, count: 1, retryAfterMs: 0 });
    clock.advance(1000);
    expect((await limiter.check('agent-01')).count).toBe(2);
    expect(await limiter.check('agent-01')).toEqual({
      allowed: false,
      count: 2,
      retryAfterMs: 59_000,
      reason: "Rate limit exceeded for caller 'agent-01': 2 requests per 60s window.",
    });
  });

  it('slides: a request ages out exactly windowSeconds after it was counted', async () => {
    const clock = new ManualClock(T0);
    const limiter = new RateLimiter({ maxRequests: 1, windowSeconds: 10, clock });
    expect((await limiter.check('a')).allowed).toBe(true);
    clock.advance(9_999);
    expect((await limiter.check('a')).allowed).toBe(false);
    clock.advance(1);
    expect((await limiter.check('a')).allowed).toBe(true);
  });

  it('does not charge refused requests', async () => {
    const clock = new ManualClock(T0);
    const limiter = new RateLimiter({ maxRequests: 1, windowSeconds: 10, clock });
    await limiter.check('a');
    for (let index = 0; index < 20; index++) {
      clock.advance(100);
      expect(limiter.checkSync('a').allowed).toBe(false);
    }
    clock.set(T0 + 10_000);
    expect(limiter.checkSync('a').allowed).toBe(true);
  });

  it.each([
    ['in-memory', () => new InMemorySlidingWindowStore()],
    ['async-only', () => asyncOnly()],
  ])('allows exactly maxRequests of 1000 concurrent checks (%s store)', async (_name, makeStore) => {
    const limiter = new RateLimiter({
      maxRequests: 37,
      windowSeconds: 60,
      store: makeStore(),
      clock: new ManualClock(T0),
    });
    const results = await Promise.all(Array.from({ length: 1000 }, () => limiter.check('agent')));
    expect(results.filter((result) => result.allowed)).toHaveLength(37);
    expect(results.filter((result) => !result.allowed).every((result) => result.reason !== undefined)).toBe(
      true,
    );
  });

  it('isolates callers, including prototype-like names', async () => {
    const limiter = new RateLimiter({ maxRequests: 1, windowSeconds: 60, clock: new ManualClock(T0) });
    expect((await limiter.check('a')).allowed).toBe(true);
    expect((await limiter.check('__proto__')).allowed).toBe(true);
    expect((await limiter.check('constructor')).allowed).toBe(true);
    expect((await limiter.check('a')).allowed).toBe(false);
    expect((await limiter.check('b')).allowed).toBe(true);
  });

  it('namespaces its keys so a shared store can hold other data', async () => {
    const store = new InMemorySlidingWindowStore();
    const limiter = new RateLimiter({ maxRequests: 1, windowSeconds: 60, store, clock: new ManualClock(T0) });
    await limiter.check('a');
    expect(store.addBelowSync('a', T0, 60_000, 0, Number.POSITIVE_INFINITY).before).toBe(0);
    expect(store.addBelowSync('rate-limit:a', T0, 60_000, 0, Number.POSITIVE_INFINITY).before).toBe(1);
  });

  it('propagates a store failure as a rejection with the store message', async () => {
    const failing: SlidingWindowStore = {
      take: () => Promise.reject(new Error('redis: connection refused')),
      addBelow: () => Promise.reject(new Error('unused')),
      clear: () => Promise.resolve(),
    };
    const limiter = new RateLimiter({ maxRequests: 1, windowSeconds: 60, store: failing });
    expect(limiter.isSynchronous).toBe(false);
    await expect(limiter.check('a')).rejects.toThrow('redis: connection refused');
    expect(() => limiter.checkSync('a')).toThrow(expect.objectContaining({ code: 'USAGE' }));
  });

  it('rejects a malformed caller key', async () => {
    const limiter = new RateLimiter({ maxRequests: 1, windowSeconds: 60 });
    await expect(limiter.check('')).rejects.toMatchObject({ code: 'INPUT_INVALID' });
    await expect(limiter.check(42 as unknown as string)).rejects.toMatchObject({ code: 'INPUT_INVALID' });
    await expect(limiter.check('x'.repeat(5000))).rejects.toMatchObject({ code: 'USAGE' });
  });

  it.each([
    [{ maxRequests: 0, windowSeconds: 60 }, /maxRequests must be a positive integer, got 0/],
    [{ maxRequests: 1.5, windowSeconds: 60 }, /maxRequests/],
    [{ maxRequests: Number.NaN, windowSeconds: 60 }, /maxRequests/],
    [{ maxRequests: '5', windowSeconds: 60 }, /maxRequests must be a positive integer, got string/],
    [{ maxRequests: 5, windowSeconds: -1 }, /windowSeconds/],
    [{ maxRequests: 5, windowSeconds: 1e12 }, /windowSeconds/],
    [{ maxRequests: 5 }, /windowSeconds/],
    [{ maxRequests: 5, windowSeconds: 60, window_seconds: 60 }, /unknown options/],
    [null, /must be an object/],
  ])('refuses options %p', (options, message) => {
    expect(() => new RateLimiter(options as never)).toThrow(message);
  });
});
