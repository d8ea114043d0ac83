import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { ManualClock, type SuspensionRecord, type SuspensionStore } from '@agent-safe/core';
import { AgentSafe, type AgentSafeOptions, MemorySuspensionStore } from '../src/index.js';
import { copyProject, readJsonl } from './helpers.js';

const SECRET = 'k'.repeat(48);
const START = Date.parse('2026-03-03T12:00:00Z');
const devRestart = {
  action: 'restart-deployment',
  target: 'dev/app',
  params: { namespace: 'dev', deployment: 'app' },
};
const prodRestart = {
  action: 'restart-deployment',
  target: 'prod/app',
  params: { namespace: 'prod', deployment: 'app' },
};

function open(dir: string, options: Partial<AgentSafeOptions> = {}): AgentSafe {
  return new AgentSafe({
    registry: join(dir, 'actions'),
    policies: join(dir, 'policies'),
    inventory: join(dir, 'inventory.yaml'),
    auditLog: join(dir, 'audit.jsonl'),
    auditDurability: 'write',
    config: false,
    cwd: dir,
    clock: new ManualClock(START),
    security: { signingKey: SECRET },
    approvals: { approverRoles: ['approver'] },
    ...options,
  });
}

async function agents(safe: AgentSafe) {
  const orchestrator = await safe.identity.createToken({ agentId: 'orchestrator', roles: ['deployer'] });
  const worker = await safe.delegate({
    parentToken: orchestrator,
    childAgentId: 'worker-7',
    childRoles: ['deployer'],
  });
  if (!worker.success) throw new Error(worker.reason);
  const other = await safe.identity.createToken({ agentId: 'other-bot', roles: ['deployer'] });
  const alice = await safe.identity.createToken({ agentId: 'alice', roles: ['approver'] });
  return { orchestrator, worker: worker.token, other, alice };
}

describe('the kill switch in the SDK', () => {
  it('denies the suspended agent and its delegates (naming who and when), refuses their tickets, denies their approvals; resume restores', async () => {
    const dir = copyProject();
    const safe = open(dir);
    const t = await agents(safe);
    // Before: tickets issued to the agent and to its delegate, and a pending approval of the delegate.
    const own = await safe.check({ ...devRestart, caller: t.orchestrator });
    const delegated = await safe.check({ ...devRestart, caller: t.worker });
    const bystander = await safe.check({ ...devRestart, caller: t.other });
    expect([own.result, delegated.result, bystander.result]).toEqual(['ALLOW', 'ALLOW', 'ALLOW']);
    const pending = await safe.check({ ...prodRestart, caller: t.worker });
    expect(pending.result).toBe('REQUIRE_APPROVAL');

    const outcome = await safe.agents.suspend('orchestrator', { by: 'sec-admin', reason: 'leaked token' });
    expect(outcome.suspension).toEqual({
      agentId: 'orchestrator',
      by: 'sec-admin',
      reason: 'leaked token',
      at: START,
    });
    expect(outcome.deniedApprovals).toEqual([pending.approvalId]);
    expect((await safe.approvals.get(pending.approvalId!)).status).toBe('denied');

    const denied = await safe.check({ ...devRestart, caller: t.orchestrator });
    expect(denied.result).toBe('DENY');
    expect(denied.reason).toBe(
      'Denied because agent orchestrator is suspended (kill switch: by sec-admin at 2026-03-03T12:00:00.000Z: leaked token)',
    );
    expect(denied.ticket).toBeNull();
    expect(denied.errors).toContainEqual(expect.objectContaining({ code: 'AGENT_SUSPENDED' }));
    const viaChain = await safe.check({ ...devRestart, caller: t.worker });
    expect(viaChain.result).toBe('DENY');
    expect(viaChain.reason).toContain(
      'agent worker-7 acts by delegation from orchestrator, which is suspended',
    );
    expect((await safe.check({ ...devRestart, caller: t.other })).result).toBe('ALLOW');

    const validator = await safe.createTicketValidator();
    const ownTicket = await validator.validate(own.ticket!.token, devRestart);
    expect(ownTicket).toMatchObject({ valid: false, code: 'SUSPENDED' });
    expect(ownTicket.reason).toContain('Refused because agent orchestrator is suspended');
    // The delegate's ticket carries its chain (claim dch), so it is refused too.
    expect(delegated.ticket!.delegationChain).toEqual(['orchestrator']);
    expect(await validator.validate(delegated.ticket!.token, devRestart)).toMatchObject({
      valid: false,
      code: 'SUSPENDED',
    });
    expect(await validator.validate(bystander.ticket!.token, devRestart)).toMatchObject({ valid: true });
    expect(await safe.agents.isSuspended('orchestrator')).toMatchObject({ by: 'sec-admin' });
    expect((await safe.agents.list()).map((record) => record.agentId)).toEqual(['orchestrator']);

    // Resume: checks are allowed again, and the refused tickets were not spent.
    expect(await safe.agents.resume('orchestrator', { by: 'sec-admin', reason: 'rotated' })).toMatchObject({
      agentId: 'orchestrator',
    });
    expect((await safe.check({ ...devRestart, caller: t.worker })).result).toBe('ALLOW');
    expect(await validator.validate(own.ticket!.token, devRestart)).toMatchObject({ valid: true });
    expect(await safe.agents.list()).toEqual([]);
    await safe.close();

    const events = await readJsonl(join(dir, 'audit.jsonl'));
    expect(events.find((event) => event.event_type === 'agent_suspended')).toMatchObject({
      agent_id: 'orchestrator',
      by: 'sec-admin',
      reason: 'leaked token',
    });
    expect(events.find((event) => event.event_type === 'agent_resumed')).toMatchObject({
      agent_id: 'orchestrator',
      by: 'sec-admin',
      reason: 'rotated',
      suspended_by: 'sec-admin',
    });
    expect(
      events.find(
        (event) => event.event_type === 'approval_denied' && event.approval_id === pending.approvalId,
      ),
    ).toMatchObject({ approver: 'sec-admin', kill_switch: 'orchestrator' });
  });

  it('reaches another facade sharing a file store within its refresh interval', async () => {
    const dir = copyProject();
    const state = mkdtempSync(join(tmpdir(), 'agent-safe-kill-'));
    const options = { store: `file:${state}`, suspensions: { refreshIntervalMs: 100, maxStaleMs: 1000 } };
    const admin = open(dir, options);
    const replica = open(dir, { ...options, auditLog: join(dir, 'audit-2.jsonl') });
    const t = await agents(admin);
    expect((await replica.check({ ...devRestart, caller: t.worker })).result).toBe('ALLOW');
    await admin.agents.suspend('orchestrator', { by: 'sec-admin', reason: 'drill' });
    let decision = await replica.check({ ...devRestart, caller: t.worker });
    const deadline = Date.now() + 10_000;
    while (decision.result !== 'DENY' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      decision = await replica.check({ ...devRestart, caller: t.worker });
    }
    expect(decision.reason).toContain('which is suspended (kill switch: by sec-admin');
    expect(replica.agents.shared).toBe(true);
    await admin.close();
    await replica.close();
  });

  it('fails closed naming the store when the list cannot be read, and when it goes stale', async () => {
    const dir = copyProject();
    let failing = false;
    const inner = new MemorySuspensionStore();
    const flaky: SuspensionStore = {
      name: 'the flaky test store',
      suspend: (record: SuspensionRecord) => inner.suspend(record),
      resume: (agentId: string) => inner.resume(agentId),
      version: () => (failing ? Promise.reject(new Error('connection refused')) : inner.version()),
      snapshot: () => (failing ? Promise.reject(new Error('connection refused')) : inner.snapshot()),
      close: async () => undefined,
    };
    failing = true;
    const safe = open(dir, { suspensions: { store: flaky, refreshIntervalMs: 100, maxStaleMs: 200 } });
    const t = await agents(safe);
    const first = await safe.check({ ...devRestart, caller: t.other });
    expect(first.result).toBe('DENY');
    expect(first.reason).toBe(
      'Denied because the suspension list (kill switch) could not be read from the flaky test store: connection refused',
    );
    failing = false;
    let decision = first;
    const deadline = Date.now() + 10_000;
    while (decision.result !== 'ALLOW' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      decision = await safe.check({ ...devRestart, caller: t.other });
    }
    expect(decision.result).toBe('ALLOW');
    failing = true;
    while (decision.result !== 'DENY' && Date.now() < deadline + 10_000) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      decision = await safe.check({ ...devRestart, caller: t.other });
    }
    expect(decision.reason).toMatch(
      /^Denied because the suspension list \(kill switch\) could not be refreshed from the flaky test store for \d+ s \(more than 200 ms\): connection refused/,
    );
    await safe.close();
  });

  it('refuses bad settings and bad input, naming them', async () => {
    const dir = copyProject();
    expect(() => open(dir, { suspensions: { refreshIntervalMs: 10 } })).toThrow(
      /options: suspensions\.refresh_interval_ms: expected an integer between 100 and 60000/,
    );
    expect(() => open(dir, { suspensions: { refreshIntervalMs: 1000, maxStaleMs: 1500 } })).toThrow(
      /suspensions\.max_stale_ms: expected an integer between twice refresh_interval_ms \(2000\)/,
    );
    writeFileSync(join(dir, 'agent-safe.yaml'), 'suspensions:\n  refresh_ms: 500\n');
    expect(() => open(dir, { config: join(dir, 'agent-safe.yaml') })).toThrow(
      /agent-safe\.yaml: suspensions\.refresh_ms: unknown setting; expected refresh_interval_ms or max_stale_ms/,
    );
    writeFileSync(
      join(dir, 'agent-safe.yaml'),
      'suspensions:\n  refresh_interval_ms: 250\n  max_stale_ms: 1000\n',
    );
    const configured = open(dir, { config: join(dir, 'agent-safe.yaml') });
    await configured.close();
    const safe = open(dir);
    await expect(safe.agents.suspend('bad\nid', { by: 'admin' })).rejects.toMatchObject({
      code: 'INPUT_INVALID',
    });
    await expect(safe.agents.suspend('agent', { by: 'admin', reason: 'x'.repeat(1001) })).rejects.toThrow(
      /suspension reason: longer than 1000 characters/,
    );
    expect(safe.agents.shared).toBe(false);
    await safe.close();
  });
});
