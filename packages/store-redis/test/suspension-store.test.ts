import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { RedisSuspensionStore } from '../src/index.js';
import { type RedisServer, startRedisServer } from './redis-server.js';

const record = (agentId: string, reason = 'compromised') => ({
  agentId,
  by: 'admin',
  reason,
  at: 1_700_000_000_000,
});

describe('RedisSuspensionStore', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('is shared by two connections: a suspension one makes, the other reads, with a new version', async () => {
    const prefix = `t1-${process.pid}:`;
    const a = await RedisSuspensionStore.connect({ url: redis.url, keyPrefix: prefix });
    const b = await RedisSuspensionStore.connect({ url: redis.url, keyPrefix: prefix });
    try {
      expect(await b.version()).toBe(0);
      expect(await b.snapshot()).toEqual({ version: 0, records: [] });
      await a.suspend(record('agent-1'));
      expect(await b.version()).toBe(1);
      expect(await b.snapshot()).toEqual({ version: 1, records: [record('agent-1')] });
      // Suspending again replaces the record (the latest reason wins) and moves the version.
      await a.suspend(record('agent-1', 'still compromised'));
      expect((await b.snapshot()).records).toEqual([record('agent-1', 'still compromised')]);
      expect(await b.resume('agent-1')).toEqual(record('agent-1', 'still compromised'));
      expect(await a.snapshot()).toEqual({ version: 3, records: [] });
      // Resuming an agent that is not suspended changes nothing.
      expect(await a.resume('agent-1')).toBeUndefined();
      expect(await a.version()).toBe(3);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('refuses malformed records, naming the field', async () => {
    const store = await RedisSuspensionStore.connect({ url: redis.url, keyPrefix: `t2-${process.pid}:` });
    try {
      await expect(store.suspend({ ...record('agent-1'), reason: 'a\nb' })).rejects.toThrow(
        /suspension reason: contains control characters/,
      );
      await expect(store.suspend({ ...record(''), by: 'admin' })).rejects.toThrow(/suspension agentId/);
      expect(await store.version()).toBe(0);
    } finally {
      await store.close();
    }
  });

  it('rejects naming the store when Redis is down, and the connect names the server', async () => {
    const store = await RedisSuspensionStore.connect({ url: redis.url, keyPrefix: `t3-${process.pid}:` });
    try {
      await redis.kill();
      await expect(store.version()).rejects.toThrow(/the Redis suspension store at redis:\/\/127\.0\.0\.1/);
      await expect(RedisSuspensionStore.connect({ url: redis.url })).rejects.toThrow(
        /suspension store: cannot connect to Redis/,
      );
    } finally {
      await store.close();
      await redis.restart();
    }
  });
});
