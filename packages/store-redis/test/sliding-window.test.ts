import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { RedisStore } from '../src/index.js';
import { type RedisServer, startRedisServer } from './redis-server.js';

let server: RedisServer;
let store: RedisStore;
let raw: Redis;

beforeAll(async () => {
  server = await startRedisServer();
  store = await RedisStore.connect({ url: server.url, time: 'client', keyPrefix: 'test:' });
  raw = new Redis(server.url);
});

afterAll(async () => {
  await store?.close();
  raw?.disconnect();
  await server?.stop();
});

describe('RedisStore as a SlidingWindowStore (client time)', () => {
  it('allows exactly `limit` takes in a window and refuses the next with the time until the oldest leaves', async () => {
    const results = [];
    for (let index = 0; index < 3; index += 1) results.push(await store.take('exact', 1000 + index, 100, 3));
    expect(results.map((result) => [result.allowed, result.count, result.retryAfterMs])).toEqual([
      [true, 1, 0],
      [true, 2, 0],
      [true, 3, 0],
    ]);
    expect(await store.take('exact', 1050, 100, 3)).toEqual({ allowed: false, count: 3, retryAfterMs: 50 });
  });

  it('slides: entries at or before now - windowMs are dropped', async () => {
    await store.take('slide', 1000, 100, 2);
    await store.take('slide', 1010, 100, 2);
    expect((await store.take('slide', 1099, 100, 2)).allowed).toBe(false);
    // At 1100 the entry at 1000 is exactly windowMs old, so it is gone.
    expect(await store.take('slide', 1100, 100, 2)).toEqual({ allowed: true, count: 2, retryAfterMs: 0 });
    expect(await store.take('slide', 1100, 100, 2)).toEqual({ allowed: false, count: 2, retryAfterMs: 10 });
  });

  it('keeps equal timestamps as distinct entries', async () => {
    for (let index = 0; index < 5; index += 1) await store.take('same-ms', 5000, 1000, 10);
    expect(await raw.zcard('test:window:{k:same-ms}')).toBe(5);
  });

  it('refuses everything with limit 0', async () => {
    expect(await store.take('zero', 1000, 100, 0)).toEqual({ allowed: false, count: 0, retryAfterMs: 0 });
  });

  it('sets expiries on window keys so idle keys disappear', async () => {
    await store.take('expiring', 1000, 5000, 1);
    const ttl = await raw.pttl('test:window:{k:expiring}');
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(6000);
  });

  it('addBelow records only while before + weight < ceiling and reports the sums', async () => {
    expect(await store.addBelow('risk', 1000, 1000, 40, 100)).toEqual({
      before: 0,
      after: 40,
      recorded: true,
    });
    expect(await store.addBelow('risk', 1001, 1000, 50, 100)).toEqual({
      before: 40,
      after: 90,
      recorded: true,
    });
    expect(await store.addBelow('risk', 1002, 1000, 10, 100)).toEqual({
      before: 90,
      after: 90,
      recorded: false,
    });
    expect(await store.addBelow('risk', 1003, 1000, 9.5, 100)).toEqual({
      before: 90,
      after: 99.5,
      recorded: true,
    });
    // The first entry leaves the window at 2000.
    expect(await store.addBelow('risk', 2000, 1000, 0, 100)).toEqual({
      before: 59.5,
      after: 59.5,
      recorded: false,
    });
  });

  it('addBelow keeps fractional weights exactly and treats Infinity as no ceiling', async () => {
    await store.addBelow('fractions', 1000, 1000, 0.1, Number.POSITIVE_INFINITY);
    const second = await store.addBelow('fractions', 1000, 1000, 0.2, Number.POSITIVE_INFINITY);
    expect(second).toEqual({ before: 0.1, after: 0.1 + 0.2, recorded: true });
    expect((await store.addBelow('fractions', 1000, 1000, 1e12, Number.POSITIVE_INFINITY)).recorded).toBe(
      true,
    );
    expect((await store.addBelow('nothing', 1000, 1000, 1, Number.NEGATIVE_INFINITY)).recorded).toBe(false);
  });

  it('keeps fractional client timestamps exact', async () => {
    const now = 1_700_000_000_000.25;
    await store.take('fraction-ms', now, 1, 1);
    expect((await store.take('fraction-ms', now + 0.5, 1, 1)).retryAfterMs).toBe(0.5);
  });

  it('clear removes every entry of the key', async () => {
    await store.take('cleared', 1000, 1000, 1);
    expect((await store.take('cleared', 1000, 1000, 1)).allowed).toBe(false);
    await store.clear('cleared');
    expect(await raw.exists('test:window:{k:cleared}')).toBe(0);
    expect((await store.take('cleared', 1000, 1000, 1)).allowed).toBe(true);
  });

  it('hashes long and malformed caller keys instead of storing them raw', async () => {
    const long = `caller-${'x'.repeat(10_000)}`;
    await store.take(long, 1000, 1000, 5);
    await store.take('\uD800', 1000, 1000, 5);
    await store.take('\uD801', 1000, 1000, 5);
    const keys = await raw.keys('test:window:{h:*');
    expect(keys.length).toBe(3);
    for (const key of keys) expect(key.length).toBeLessThan(100);
    // Different lone surrogates must not share a counter.
    expect((await store.take('\uD800', 1000, 1000, 5)).count).toBe(2);
  });

  it('keeps hostile keys such as __proto__ as ordinary keys', async () => {
    expect((await store.take('__proto__', 1000, 1000, 1)).allowed).toBe(true);
    expect((await store.take('__proto__', 1000, 1000, 1)).allowed).toBe(false);
    expect((await store.take('constructor', 1000, 1000, 1)).allowed).toBe(true);
  });

  it('rejects malformed arguments with USAGE', async () => {
    const bad: [string, Promise<unknown>][] = [
      ['key', store.take('', 1000, 1000, 1)],
      ['key', store.take(42 as unknown as string, 1000, 1000, 1)],
      ['now', store.take('a', Number.NaN, 1000, 1)],
      ['windowMs', store.take('a', 1000, -1, 1)],
      ['windowMs', store.take('a', 1000, Number.POSITIVE_INFINITY, 1)],
      ['limit', store.take('a', 1000, 1000, 1.5)],
      ['limit', store.take('a', 1000, 1000, -1)],
      ['weight', store.addBelow('a', 1000, 1000, -1, 10)],
      ['weight', store.addBelow('a', 1000, 1000, Number.NaN, 10)],
      ['ceiling', store.addBelow('a', 1000, 1000, 1, Number.NaN)],
    ];
    for (const [path, promise] of bad) {
      await expect(promise).rejects.toMatchObject({ code: 'USAGE', issues: [{ path }] });
    }
  });
});
