import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ApprovalService, newApprovalId, resolveApprovalSettings } from '@agent-safe/approvals';
import type { ApprovalRecord } from '@agent-safe/core';
import { RedisApprovalStore } from '../src/index.js';
import { type RedisServer, startRedisServer } from './redis-server.js';

const settings = resolveApprovalSettings({ approverRoles: ['approver'], thresholds: { critical: 2 } });
const START = Date.now();

const requestInput = {
  action: 'restart-deployment',
  target: 'prod/api-server',
  caller: 'deploy-bot',
  callerAuthenticated: true,
  delegationChain: ['orchestrator'],
  params: { namespace: 'prod', deployment: 'api-server' },
  maskedPaths: [],
  paramsDigest: 'a'.repeat(64),
  reason: 'Production needs approval',
  matchedRule: 'approve-prod',
  effectiveRisk: 'high' as const,
  policyRevision: 'rev-1',
  ticketId: null,
  correlationId: null,
  auditId: 'evt-1',
};

const alice = { agentId: 'alice', roles: ['approver'], authenticated: true, delegationChain: [] };
const bob = { agentId: 'bob', roles: ['approver'], authenticated: true, delegationChain: [] };

function record(overrides: Partial<ApprovalRecord> = {}): ApprovalRecord {
  return {
    ...requestInput,
    id: newApprovalId(),
    version: 1,
    status: 'pending',
    createdAt: START,
    expiresAt: START + 3_600_000,
    requiredApprovals: 1,
    requireComment: false,
    approvals: [],
    denials: [],
    decidedAt: null,
    ticket: null,
    ...overrides,
  };
}

let redis: RedisServer;
let prefix = 0;

beforeAll(async () => {
  redis = await startRedisServer();
});

afterAll(async () => {
  await redis?.stop();
});

const connect = () => RedisApprovalStore.connect({ url: redis.url, keyPrefix: `test${++prefix}:` });

describe('RedisApprovalStore', () => {
  it('creates, deduplicates, reads and lists newest first', async () => {
    const store = await connect();
    const key = 'c'.repeat(64);
    const first = record();
    const second = record({ createdAt: START + 1 });
    expect(await store.create(first, key)).toEqual({ record: first, created: true });
    expect(await store.create(second, key)).toEqual({ record: first, created: false });
    expect(await store.create(second, undefined)).toEqual({ record: second, created: true });
    expect(await store.get(first.id)).toEqual(first);
    expect(await store.findOpen(key)).toEqual(first);
    expect((await store.list()).map((r) => r.id)).toEqual([second.id, first.id]);
    await store.releaseOpen(key, first.id);
    expect(await store.findOpen(key)).toBeUndefined();
    await store.close();
  });

  it('compare-and-swaps on the version, atomically across replicas', async () => {
    const one = await connect();
    const two = await RedisApprovalStore.connect({ url: redis.url, keyPrefix: `test${prefix}:` });
    const first = record();
    await one.create(first, undefined);
    const results = await Promise.all([
      one.replace({ ...first, version: 2, status: 'approved' }),
      two.replace({ ...first, version: 2, status: 'denied' }),
    ]);
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await one.replace({ ...first, version: 5 })).toBe(false);
    await one.close();
    await two.close();
  });

  it('two approvers on two replicas at once: exactly one wins; two collectors get one ticket', async () => {
    const a = new ApprovalService({ store: await connect(), settings });
    const b = new ApprovalService({
      store: await RedisApprovalStore.connect({ url: redis.url, keyPrefix: `test${prefix}:` }),
      settings,
    });
    const { record: created } = await a.request(requestInput);
    const votes = await Promise.allSettled([
      a.approve(created.id, { approver: alice }),
      b.approve(created.id, { approver: bob }),
    ]);
    expect(votes.map((v) => v.status).sort()).toEqual(['fulfilled', 'rejected']);
    let minted = 0;
    const issue = async () => {
      minted += 1;
      return {
        token: `t${minted}`,
        nonce: `n${minted}`,
        action: requestInput.action,
        target: requestInput.target,
        caller: requestInput.caller,
        paramsDigest: requestInput.paramsDigest,
        auditId: 'e',
        policyRevision: 'rev-1',
        issuer: 'agent-safe',
        issuedAt: Date.now(),
        expiresAt: Date.now() + 60_000,
      };
    };
    const [x, y] = await Promise.all([a.attachTicket(created.id, issue), b.attachTicket(created.id, issue)]);
    expect(x).toEqual(y);
    await a.close();
    await b.close();
  });

  it('wakes waiters on another replica through pub/sub within milliseconds', async () => {
    const waiter = new ApprovalService({ store: await connect(), settings });
    const approver = new ApprovalService({
      store: await RedisApprovalStore.connect({ url: redis.url, keyPrefix: `test${prefix}:` }),
      settings,
    });
    const created = await Promise.all(
      Array.from({ length: 10 }, (_, index) =>
        waiter.request({ ...requestInput, paramsDigest: `${index}`.padStart(64, '0') }),
      ),
    );
    const waits = created.map(({ record: r }) => waiter.waitFor(r.id, { timeoutMs: 20_000 }));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = performance.now();
    for (const { record: r } of created) await approver.approve(r.id, { approver: alice });
    const finished = await Promise.all(waits);
    expect(finished.every((r) => r.status === 'approved')).toBe(true);
    expect(performance.now() - started).toBeLessThan(900);
    await waiter.close();
    await approver.close();
  });

  it('fails closed naming the store (without its password) when Redis is down', async () => {
    const store = await connect();
    await redis.kill();
    try {
      await expect(store.get(newApprovalId())).rejects.toThrow(
        /Redis approval store at redis:\/\/127\.0\.0\.1:\d+ could not be reached/,
      );
    } finally {
      await redis.restart();
      await store.close();
    }
    await expect(
      RedisApprovalStore.connect({ url: 'redis://user:hunter2@127.0.0.1:1', connectTimeoutMs: 200 }),
    ).rejects.toThrow(/cannot connect to Redis at redis:\/\/user:\*\*\*@127\.0\.0\.1:1/);
  });
});
