import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { isAgentSafeError } from '@agent-safe/core';
import { RedisStore } from '../src/index.js';
import { freePort, type RedisServer, startRedisServer } from './redis-server.js';

let server: RedisServer;

beforeAll(async () => {
  server = await startRedisServer();
});

afterAll(async () => {
  await server?.stop();
});

async function eventually<T>(attempt: () => Promise<T>, deadlineMs: number): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((wait) => setTimeout(wait, 50));
    }
  }
}

describe('RedisStore when Redis is down', () => {
  it('rejects connect with INTERNAL naming the store and address', async () => {
    const port = await freePort();
    const failure = await RedisStore.connect({ port, connectTimeoutMs: 500 }).catch(
      (error: unknown) => error,
    );
    expect(isAgentSafeError(failure, 'INTERNAL')).toBe(true);
    expect((failure as Error).message).toContain(`Redis store at 127.0.0.1:${port} is unavailable`);
  });

  it('fails closed while Redis is down and recovers on the same store when it returns', async () => {
    const store = await RedisStore.connect({ url: server.url, time: 'client', keyPrefix: 'down:' });
    try {
      expect((await store.take('k', 1000, 60_000, 10)).allowed).toBe(true);
      await server.kill();
      const operations = [
        store.take('k', 1001, 60_000, 10),
        store.addBelow('k', 1001, 60_000, 1, 100),
        store.admit('b', 1001, { threshold: 1, windowMs: 10, cooldownMs: 10 }),
        store.record('b', 1001, true, false, { threshold: 1, windowMs: 10, cooldownMs: 10 }),
        store.consume('n', Date.now() + 1000),
        store.guardCheck({ now: 1001, windows: [{ key: 'k', windowMs: 60_000, limit: 10 }] }),
        store.clear('k'),
      ];
      for (const operation of operations) {
        const failure = await operation.catch((error: unknown) => error);
        expect(isAgentSafeError(failure, 'INTERNAL')).toBe(true);
        expect((failure as Error).message).toContain(
          `Redis store at 127.0.0.1:${server.port} is unavailable`,
        );
      }
      await server.restart();
      // A fresh server has lost the loaded scripts too: the store must reload them by itself.
      const recovered = await eventually(() => store.take('k', 1002, 60_000, 10), 10_000);
      expect(recovered).toEqual({ allowed: true, count: 1, retryAfterMs: 0 });
      expect(await store.consume('n', Date.now() + 1000)).toBe(true);
    } finally {
      await store.close();
    }
  });

  it('rejects after commandTimeoutMs when Redis hangs, then works again', async () => {
    const store = await RedisStore.connect({ url: server.url, time: 'client', commandTimeoutMs: 200 });
    try {
      server.pause();
      const failure = await store.take('hang', 0, 1000, 1).catch((error: unknown) => error);
      server.resume();
      expect(isAgentSafeError(failure, 'INTERNAL')).toBe(true);
      expect((failure as Error).message).toMatch(/Redis store at .* is unavailable: Command timed out/);
      const recovered = await eventually(() => store.take('hang-after', 0, 1000, 1), 10_000);
      expect(recovered.allowed).toBe(true);
    } finally {
      server.resume();
      await store.close();
    }
  });

  it('rejects operations after close with USAGE', async () => {
    const store = await RedisStore.connect({ url: server.url });
    await store.close();
    await store.close();
    await expect(store.take('k', 0, 1000, 1)).rejects.toMatchObject({ code: 'USAGE' });
  });

  it('rejects a bad url or time option with USAGE before connecting', async () => {
    await expect(RedisStore.connect({ url: 'http://127.0.0.1:1' })).rejects.toMatchObject({ code: 'USAGE' });
    await expect(RedisStore.connect({ url: server.url, time: 'local' as 'server' })).rejects.toMatchObject({
      code: 'USAGE',
    });
  });
});

describe("RedisStore with time: 'server'", () => {
  it('ignores the caller now and uses one Redis clock', async () => {
    const store = await RedisStore.connect({ url: server.url, keyPrefix: 'srv:' });
    try {
      expect(store.time).toBe('server');
      // Wildly different caller clocks still share one window.
      expect((await store.take('k', 0, 60_000, 2)).allowed).toBe(true);
      expect((await store.take('k', 9e15, 60_000, 2)).allowed).toBe(true);
      const refused = await store.take('k', -5, 60_000, 2);
      expect(refused.allowed).toBe(false);
      expect(refused.retryAfterMs).toBeGreaterThan(50_000);
      expect(refused.retryAfterMs).toBeLessThanOrEqual(60_000);
      // openUntil is on the Redis clock, which is wall time here.
      const settings = { threshold: 1, windowMs: 60_000, cooldownMs: 60_000 };
      const opened = await store.record('b', 0, true, false, settings);
      expect(opened.state).toBe('open');
      expect(Math.abs(opened.openUntil - (Date.now() + 60_000))).toBeLessThan(10_000);
      expect(await store.consume('n', Date.now() + 60_000)).toBe(true);
      expect(await store.consume('n', Date.now() + 60_000)).toBe(false);
    } finally {
      await store.close();
    }
  });
});
