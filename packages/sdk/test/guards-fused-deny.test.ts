import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { GuardStepInput } from '@agent-safe/core';
import { RedisStore } from '@agent-safe/store-redis';
import { type RedisServer, startRedisServer } from '../../store-redis/test/redis-server.js';
import { AgentSafe } from '../src/index.js';
import { copyProject } from './helpers.js';

const restart = {
  action: 'restart-deployment',
  target: 'dev/app',
  params: { namespace: 'd', deployment: 'a' },
};
const formatDisk = { action: 'format-disk', target: 'dev/app' };

let server: RedisServer;
let redis: RedisStore;

beforeAll(async () => {
  server = await startRedisServer();
  redis = await RedisStore.connect({ url: server.url, keyPrefix: 'sdk-fused:' });
});

afterAll(async () => {
  await redis?.close();
  await server?.stop();
});

/** The Redis store behind a facade that counts the operations the guards run on it. */
function counted() {
  const calls = { guardStep: [] as GuardStepInput[], record: 0 };
  const store = {
    take: redis.take.bind(redis),
    addBelow: redis.addBelow.bind(redis),
    clear: redis.clear.bind(redis),
    admit: redis.admit.bind(redis),
    consume: redis.consume.bind(redis),
    record: (...args: Parameters<RedisStore['record']>) => {
      calls.record += 1;
      return redis.record(...args);
    },
    guardStep: (input: GuardStepInput) => {
      calls.guardStep.push(input);
      return redis.guardStep(input);
    },
  };
  return { store, calls };
}

describe('guards on a store that fuses guard steps', () => {
  it('records a policy DENY in the one guard step and counts it once toward the threshold', async () => {
    const dir = copyProject();
    const { store, calls } = counted();
    const safe = new AgentSafe({
      registry: join(dir, 'actions'),
      policies: join(dir, 'policies'),
      inventory: join(dir, 'inventory.yaml'),
      auditLog: false,
      config: false,
      store,
      rateLimit: {
        maxRequests: 100,
        windowSeconds: 60,
        circuitBreakerThreshold: 2,
        circuitBreakerCooldownSeconds: 300,
      },
    });
    expect((await safe.check({ ...formatDisk, caller: 'bot' })).result).toBe('DENY');
    expect(calls).toMatchObject({ record: 0 });
    expect(calls.guardStep.at(-1)?.record).toEqual({ denied: true });
    // Counted twice, this one DENY would already have opened the breaker.
    expect((await safe.check({ ...restart, caller: 'bot' })).result).toBe('ALLOW');
    expect(calls.guardStep.at(-1)?.record).toBeUndefined();
    expect((await safe.check({ ...formatDisk, caller: 'bot' })).result).toBe('DENY');
    const paused = await safe.check({ ...restart, caller: 'bot' });
    expect(paused.reason).toMatch(/^Circuit breaker open for caller 'bot'/);
    expect(calls).toMatchObject({ record: 0 });
    expect(calls.guardStep).toHaveLength(4);
    await safe.close();
  });
});
