import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type RedisServer, startRedisServer } from '../../store-redis/test/redis-server.js';
import { type AgentSafeServer, startServer } from '../src/index.js';
import { TEST_KEY, copyProject, post } from './helpers.js';

const DEV = {
  action: 'restart-deployment',
  target: 'dev/app',
  params: { namespace: 'dev', deployment: 'app' },
};
/** The documented propagation bound: refresh_interval_ms (1000 by default) plus one Redis round trip. */
const DOCUMENTED_BOUND_MS = 1000;

let redis: RedisServer;
const servers: AgentSafeServer[] = [];
beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(async () => {
  for (const server of servers) await server.close();
  await redis?.stop();
});

/** One replica: its own audit log, the shared Redis store, the default kill-switch settings. */
async function replica(cwd: string, name: string): Promise<AgentSafeServer> {
  const server = await startServer({
    port: 0,
    config: {
      cwd,
      config: false,
      auditLog: join(cwd, `audit-${name}.jsonl`),
      auditDurability: 'write',
      store: redis.url,
      security: { signingKey: TEST_KEY },
    },
    adminRoles: ['ops'],
  });
  servers.push(server);
  return server;
}

async function getJson(url: string, token?: string) {
  const response = await fetch(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  // biome-ignore lint/suspicious/noExplicitAny: tests read answer bodies loosely
  return { status: response.status, body: (await response.json()) as any };
}

describe('the kill switch across two replicas sharing Redis', () => {
  it('a suspension made through replica A reaches replica B (delegates included), tickets are refused, resume restores', async () => {
    const cwd = copyProject();
    const a = await replica(cwd, 'a');
    const b = await replica(cwd, 'b');
    const admin = await a.safe.identity.createToken({ agentId: 'sec-admin', roles: ['ops'] });
    const parent = await a.safe.identity.createToken({ agentId: 'orchestrator', roles: ['deployer'] });
    const child = await a.safe.delegate({
      parentToken: parent,
      childAgentId: 'worker-7',
      childRoles: ['deployer'],
    });
    if (!child.success) throw new Error(child.reason);
    const before = await post(`${b.url}/v1/check`, DEV, { token: child.token });
    expect(before.body).toMatchObject({ result: 'ALLOW' });
    const ticket = before.body.ticket.token as string;

    // Only admins may suspend.
    const refused = await post(
      `${a.url}/v1/admin/agents/orchestrator/suspend`,
      { reason: 'x' },
      { token: parent },
    );
    expect(refused.status).toBe(403);
    expect(refused.body.error.message).toContain('orchestrator may not suspend agents');

    const started = performance.now();
    const suspended = await post(
      `${a.url}/v1/admin/agents/orchestrator/suspend`,
      { reason: 'leaked token' },
      { token: admin },
    );
    expect(suspended.status).toBe(200);
    expect(suspended.body).toMatchObject({
      suspension: { agentId: 'orchestrator', by: 'sec-admin', reason: 'leaked token' },
      shared: true,
      deniedApprovals: [],
    });
    // Replica B learns of it from Redis: poll until it denies (the figure is reported, not asserted tight).
    let decision = await post(`${b.url}/v1/check`, DEV, { token: child.token });
    while (decision.body.result !== 'DENY' && performance.now() - started < 10 * DOCUMENTED_BOUND_MS + 5000) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      decision = await post(`${b.url}/v1/check`, DEV, { token: child.token });
    }
    const propagationMs = performance.now() - started;
    process.stdout.write(`kill switch propagation A -> B: ${propagationMs.toFixed(0)} ms\n`);
    expect(decision.body.result).toBe('DENY');
    expect(decision.body.reason).toContain(
      'agent worker-7 acts by delegation from orchestrator, which is suspended (kill switch: by sec-admin at',
    );
    expect(propagationMs).toBeLessThan(10 * DOCUMENTED_BOUND_MS + 5000);

    // The delegate's ticket (issued before) fails validation on B.
    const validation = await post(`${b.url}/v1/tickets/validate`, { token: ticket, ...DEV });
    expect(validation.body).toMatchObject({ valid: false, code: 'SUSPENDED' });

    const listed = await getJson(`${b.url}/v1/admin/agents/suspended`, admin);
    expect(listed.body.suspensions).toEqual([
      expect.objectContaining({ agentId: 'orchestrator', by: 'sec-admin' }),
    ]);

    const resumed = await post(
      `${b.url}/v1/admin/agents/orchestrator/resume`,
      { reason: 'rotated' },
      { token: admin },
    );
    expect(resumed.body).toMatchObject({ agentId: 'orchestrator', resumed: true });
    let after = await post(`${a.url}/v1/check`, DEV, { token: child.token });
    const resumeStarted = performance.now();
    while (
      after.body.result !== 'ALLOW' &&
      performance.now() - resumeStarted < 10 * DOCUMENTED_BOUND_MS + 5000
    ) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      after = await post(`${a.url}/v1/check`, DEV, { token: child.token });
    }
    expect(after.body.result).toBe('ALLOW');
  });

  it('refuses a malformed body and an unauthenticated call, with JSON errors', async () => {
    const cwd = copyProject();
    const a = await replica(cwd, 'c');
    const admin = await a.safe.identity.createToken({ agentId: 'sec-admin', roles: ['ops'] });
    const extra = await post(
      `${a.url}/v1/admin/agents/x/suspend`,
      { reason: 'x', by: 'someone' },
      { token: admin },
    );
    expect(extra.status).toBe(400);
    const long = await post(
      `${a.url}/v1/admin/agents/x/suspend`,
      { reason: 'x'.repeat(1001) },
      { token: admin },
    );
    expect(long.status).toBe(400);
    const anonymous = await post(`${a.url}/v1/admin/agents/x/suspend`, {});
    expect(anonymous.status).toBe(401);
    expect((await getJson(`${a.url}/v1/admin/agents/suspended`)).status).toBe(401);
  });
});

describe('the kill switch with the default memory store', () => {
  it('holds in the server process across a reload', async () => {
    const cwd = copyProject();
    const server = await startServer({
      port: 0,
      config: { cwd, config: false, auditDurability: 'write', security: { signingKey: TEST_KEY } },
      adminRoles: ['ops'],
    });
    servers.push(server);
    const admin = await server.safe.identity.createToken({ agentId: 'sec-admin', roles: ['ops'] });
    const agent = await server.safe.identity.createToken({ agentId: 'deploy-bot' });
    const suspended = await post(
      `${server.url}/v1/admin/agents/deploy-bot/suspend`,
      { reason: 'drill' },
      { token: admin },
    );
    expect(suspended.body).toMatchObject({ shared: false, store: 'the in-process suspension list' });
    expect((await post(`${server.url}/v1/check`, DEV, { token: agent })).body.result).toBe('DENY');
    expect(await server.reload()).toMatchObject({ ok: true });
    const after = await post(`${server.url}/v1/check`, DEV, { token: agent });
    expect(after.body).toMatchObject({ result: 'DENY' });
    expect(after.body.reason).toContain('agent deploy-bot is suspended (kill switch: by sec-admin');
  });
});
