import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ManualClock } from '@agent-safe/core';
import { type RedisServer, startRedisServer } from '../../store-redis/test/redis-server.js';
import { AgentSafe, type AgentSafeOptions } from '../src/index.js';
import { copyProject } from './helpers.js';

// Ticket nonces follow the configured `store`: with Redis, a ticket is accepted once across replicas.

const SECRET = 'n'.repeat(48);
const START = Date.parse('2026-03-03T12:00:00Z');
const request = {
  action: 'scale-deployment',
  target: 'staging/app',
  params: { namespace: 'staging', deployment: 'app', replicas: 3 },
};

let redis: RedisServer;

beforeAll(async () => {
  redis = await startRedisServer();
});

afterAll(async () => {
  await redis?.stop();
});

function replica(dir: string, options: Partial<AgentSafeOptions> = {}): AgentSafe {
  return new AgentSafe({
    registry: join(dir, 'actions'),
    policies: join(dir, 'policies'),
    inventory: join(dir, 'inventory.yaml'),
    // Tickets name the audit event of their ALLOW, so they are issued only when there is an audit log.
    auditLog: join(dir, 'audit.jsonl'),
    config: false,
    clock: new ManualClock(START),
    security: { signingKey: SECRET },
    ...options,
  });
}

const expected = { action: request.action, target: request.target, params: request.params };

async function ticketFrom(safe: AgentSafe): Promise<string> {
  const caller = await safe.identity.createToken({ agentId: 'deploy-bot', roles: ['deployer'] });
  const decision = await safe.check({ ...request, caller });
  expect(decision.result).toBe('ALLOW');
  return decision.ticket!.token;
}

describe('ticket nonces on the configured store', () => {
  it.each([
    ['without guards (a nonce-only connection)', {}],
    ['with guards (the guards’ connection)', { rateLimit: { maxRequests: 100, windowSeconds: 60 } }],
  ])('accepts a ticket once across replicas sharing Redis, %s', async (_, guards) => {
    const dir = copyProject();
    const first = replica(dir, { store: redis.url, ...guards });
    const second = replica(dir, { store: redis.url, ...guards });
    try {
      const ticket = await ticketFrom(first);
      const here = await first.createTicketValidator();
      const there = await second.createTicketValidator();
      expect(await there.validate(ticket, expected)).toMatchObject({ valid: true });
      expect(await here.validate(ticket, expected)).toMatchObject({ valid: false, code: 'REPLAYED' });
    } finally {
      await first.close();
      await second.close();
    }
  });

  it('keeps nonces in the process with the default memory store', async () => {
    const dir = copyProject();
    const first = replica(dir);
    const second = replica(dir);
    const ticket = await ticketFrom(first);
    expect(await (await first.createTicketValidator()).validate(ticket, expected)).toMatchObject({
      valid: true,
    });
    // Another process (here: instance) does not know it: configure a shared store for replicas.
    expect(await (await second.createTicketValidator()).validate(ticket, expected)).toMatchObject({
      valid: true,
    });
    await first.close();
    await second.close();
  });

  it('rejects creating a validator while Redis is down, naming the store, and works once it is back', async () => {
    const dir = copyProject();
    const safe = replica(dir, { store: redis.url });
    try {
      const ticket = await ticketFrom(safe);
      await redis.kill();
      await expect(safe.createTicketValidator()).rejects.toMatchObject({
        code: 'INTERNAL',
        message: expect.stringContaining(`Redis store at 127.0.0.1:${redis.port}`),
      });
      await redis.restart();
      const validator = await safe.createTicketValidator();
      expect(await validator.validate(ticket, expected)).toMatchObject({ valid: true });
      expect(await validator.validate(ticket, expected)).toMatchObject({ valid: false, code: 'REPLAYED' });
    } finally {
      await safe.close();
    }
  });

  it('rejects a store that is neither memory nor a Redis URL at construction', () => {
    const dir = copyProject();
    expect(() => replica(dir, { store: 'postgres://db' })).toThrow(
      /store must be "memory", file:PATH or a redis:\/\/ URL/,
    );
  });
});
