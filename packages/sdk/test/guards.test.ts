import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ManualClock } from '@agent-safe/core';
import { type RedisServer, startRedisServer } from '../../store-redis/test/redis-server.js';
import { AgentSafe, AgentSafeError } from '../src/index.js';
import { copyProject, readJsonl } from './helpers.js';

const START = Date.parse('2026-03-03T12:00:00Z');
const restart = {
  action: 'restart-deployment',
  target: 'dev/app',
  params: { namespace: 'd', deployment: 'a' },
};

function open(dir: string, extra: Record<string, unknown>, clock = new ManualClock(START)) {
  return new AgentSafe({
    registry: join(dir, 'actions'),
    policies: join(dir, 'policies'),
    inventory: join(dir, 'inventory.yaml'),
    auditLog: join(dir, 'audit.jsonl'),
    config: false,
    clock,
    ...extra,
  });
}

describe('rate limit and circuit breaker', () => {
  it('denies over the limit with the reason, audits it, and lets the window slide', async () => {
    const dir = copyProject();
    const clock = new ManualClock(START);
    const safe = open(dir, { rateLimit: { maxRequests: 3, windowSeconds: 60 } }, clock);
    const results = [];
    for (let i = 0; i < 4; i++) results.push(await safe.check({ ...restart, caller: 'agent-01' }));
    expect(results.map((decision) => decision.result)).toEqual(['ALLOW', 'ALLOW', 'ALLOW', 'DENY']);
    expect(results[3]?.reason).toBe("Rate limit exceeded for caller 'agent-01': 3 requests per 60s window.");
    expect((await safe.check({ ...restart, caller: 'agent-02' })).result).toBe('ALLOW');
    clock.advance(60_001);
    expect((await safe.check({ ...restart, caller: 'agent-01' })).result).toBe('ALLOW');
    await safe.close();
    const events = await readJsonl(join(dir, 'audit.jsonl'));
    expect(events[3]).toMatchObject({
      decision: 'DENY',
      errors: [expect.objectContaining({ code: 'RATE_LIMITED' })],
    });
  });

  it('opens the breaker after repeated denials, then half-opens after the cooldown', async () => {
    const dir = copyProject();
    const clock = new ManualClock(START);
    const safe = open(
      dir,
      {
        rateLimit: {
          maxRequests: 100,
          windowSeconds: 60,
          circuitBreakerThreshold: 2,
          circuitBreakerCooldownSeconds: 300,
        },
      },
      clock,
    );
    await safe.check({ action: 'format-disk', target: 'dev/app', caller: 'bad-bot' });
    await safe.check({ action: 'format-disk', target: 'dev/app', caller: 'bad-bot' });
    const paused = await safe.check({ ...restart, caller: 'bad-bot' });
    expect(paused.result).toBe('DENY');
    expect(paused.reason).toMatch(/^Circuit breaker open for caller 'bad-bot'/);
    expect((await safe.check({ ...restart, caller: 'good-bot' })).result).toBe('ALLOW');
    clock.advance(300_001);
    expect((await safe.check({ ...restart, caller: 'bad-bot' })).result).toBe('ALLOW');
    expect((await safe.check({ ...restart, caller: 'bad-bot' })).result).toBe('ALLOW');
    await safe.close();
  });

  it('rejects bad settings at construction', () => {
    const dir = copyProject();
    expect(() => open(dir, { rateLimit: { maxRequests: 0, windowSeconds: 60 } })).toThrow(AgentSafeError);
  });
});

describe('cumulative risk', () => {
  const cumulativeRisk = { windowSeconds: 3600, escalationThreshold: 30, denyThreshold: 75 };

  it('escalates ALLOW to REQUIRE_APPROVAL, then denies, and DENY adds no points', async () => {
    const dir = copyProject();
    const clock = new ManualClock(START);
    const safe = open(dir, { cumulativeRisk }, clock);
    const drain = { action: 'drain-node', target: 'prod/node-1', params: { node: 'n1' } };
    const scores: unknown[] = [];
    // scale-deployment in dev: medium x public = low (1 point); drain-node on a critical node: critical (50)
    const first = await safe.check({
      action: 'scale-deployment',
      target: 'dev/app',
      caller: 'a',
      params: { namespace: 'd', deployment: 'a', replicas: 1 },
    });
    scores.push([first.result, first.cumulativeRiskScore, first.escalatedFrom]);
    const second = await safe.check({ ...drain, caller: 'a' });
    scores.push([second.result, second.cumulativeRiskScore, second.escalatedFrom]);
    const third = await safe.check({
      action: 'scale-deployment',
      target: 'dev/app',
      caller: 'a',
      params: { namespace: 'd', deployment: 'a', replicas: 2 },
    });
    scores.push([third.result, third.cumulativeRiskScore, third.escalatedFrom]);
    const fourth = await safe.check({ ...drain, caller: 'a' });
    scores.push([fourth.result, fourth.cumulativeRiskScore, fourth.escalatedFrom]);
    expect(scores).toEqual([
      ['ALLOW', 1, null],
      ['REQUIRE_APPROVAL', 51, null],
      ['REQUIRE_APPROVAL', 52, 'ALLOW'],
      ['DENY', 52, 'REQUIRE_APPROVAL'],
    ]);
    expect(third.cumulativeRiskClass).toBe('high');
    clock.advance(3_600_001);
    const later = await safe.check({
      action: 'scale-deployment',
      target: 'dev/app',
      caller: 'a',
      params: { namespace: 'd', deployment: 'a', replicas: 1 },
    });
    expect([later.result, later.cumulativeRiskScore]).toEqual(['ALLOW', 1]);
    await safe.close();
    const events = await readJsonl(join(dir, 'audit.jsonl'));
    expect(events[2]).toMatchObject({
      decision: 'REQUIRE_APPROVAL',
      cumulative_risk_score: 52,
      escalated_from: 'ALLOW',
    });
  });

  it('charges the delegation root when chargeRoot is on', async () => {
    const dir = copyProject();
    const safe = open(dir, {
      cumulativeRisk: { ...cumulativeRisk, chargeRoot: true },
      auditLog: false,
      // The chain is asserted by this test, standing in for a host that authenticated the workers.
      trustCallerObjects: true,
    });
    const worker = (agentId: string) => ({
      agentId,
      roles: [],
      groups: [],
      authenticated: false,
      delegationChain: [{ agentId: 'orchestrator', roles: [], groups: [], delegatedAt: 0 }],
    });
    const drain = { action: 'drain-node', target: 'prod/node-1', params: { node: 'n1' } };
    expect((await safe.check({ ...drain, caller: worker('w1') })).cumulativeRiskScore).toBe(50);
    const second = await safe.check({ ...drain, caller: worker('w2') });
    expect([second.result, second.escalatedFrom]).toEqual(['DENY', 'REQUIRE_APPROVAL']);
  });
});

describe('guards on a shared Redis store', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(async () => {
    await redis.stop();
  });

  it('enforces one limit across replicas, fails closed naming the store when Redis is down, and recovers', async () => {
    const dir = copyProject();
    const options = { rateLimit: { maxRequests: 10, windowSeconds: 60 }, store: redis.url, auditLog: false };
    const replicas = [open(dir, options), open(dir, options), open(dir, options)];
    const decisions = await Promise.all(
      Array.from({ length: 30 }, (_, index) =>
        replicas[index % 3]!.check({ ...restart, caller: 'shared-bot' }),
      ),
    );
    expect(decisions.filter((decision) => decision.result === 'ALLOW')).toHaveLength(10);
    await redis.kill();
    const down = await replicas[0]!.check({ ...restart, caller: 'other-bot' });
    expect(down.result).toBe('DENY');
    expect(down.reason).toMatch(new RegExp(`Redis store at 127\\.0\\.0\\.1:${redis.port}`));
    await redis.restart();
    let recovered = await replicas[0]!.check({ ...restart, caller: 'other-bot' });
    for (let attempt = 0; attempt < 20 && recovered.result !== 'ALLOW'; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      recovered = await replicas[0]!.check({ ...restart, caller: 'other-bot' });
    }
    expect(recovered.result).toBe('ALLOW');
    await Promise.all(replicas.map((replica) => replica.close()));
  });

  it('reads rate_limit, cumulative_risk and store from agent-safe.yaml', async () => {
    const dir = copyProject();
    writeFileSync(
      join(dir, 'agent-safe.yaml'),
      `store: ${redis.url}\nrate_limit:\n  max_requests: 2\n  window_seconds: 30\ncumulative_risk:\n  window_seconds: 600\n  escalation_threshold: 30\n  deny_threshold: 75\naudit_log: ./a.jsonl\n`,
    );
    const safe = new AgentSafe({ cwd: dir, clock: new ManualClock(START) });
    const results = [];
    for (let i = 0; i < 3; i++) results.push((await safe.check({ ...restart, caller: 'yaml-bot' })).result);
    expect(results).toEqual(['ALLOW', 'ALLOW', 'DENY']);
    await safe.close();
    writeFileSync(join(dir, 'agent-safe.yaml'), 'rate_limit:\n  max_requests: many\n');
    expect(() => new AgentSafe({ cwd: dir })).toThrow(/rate_limit/);
  });
});
