import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { verifyAuditLog } from '@agent-safe/audit';
import { ManualClock } from '@agent-safe/core';
import { AgentSafe, AgentSafeError, loadPolicyTests, runPolicyTests } from '../src/index.js';
import { copyProject, readJsonl } from './helpers.js';

function open(dir: string, extra: Record<string, unknown> = {}) {
  return new AgentSafe({
    registry: join(dir, 'actions'),
    policies: join(dir, 'policies'),
    inventory: join(dir, 'inventory.yaml'),
    auditLog: join(dir, 'audit.jsonl'),
    config: false,
    ...extra,
  });
}

describe('AgentSafe.check', () => {
  it('allows in dev, escalates in prod, and records both in a verifiable chain', async () => {
    const dir = copyProject();
    const safe = open(dir);
    const dev = await safe.check({
      action: 'restart-deployment',
      target: 'dev/app',
      caller: 'deploy-agent',
      params: { namespace: 'dev', deployment: 'app' },
      correlationId: 'corr-1',
    });
    expect(dev.result).toBe('ALLOW');
    expect(dev.matchedRule).toBe('dev-open');
    expect(dev.riskClass).toBe('medium');
    expect(dev.effectiveRisk).toBe('low');
    expect(dev.auditId).toMatch(/^evt-[0-9a-f]{32}$/);
    expect(dev.callerAuthenticated).toBe(false);

    const prod = await safe.check({
      action: 'restart-deployment',
      target: 'prod/app',
      caller: 'deploy-agent',
      params: { namespace: 'prod', deployment: 'app' },
      ticketId: 'JIRA-1234',
    });
    expect(prod.result).toBe('REQUIRE_APPROVAL');
    expect(prod.reason).toBe('Production needs approval');
    expect(prod.effectiveRisk).toBe('high');
    expect(prod.ticketId).toBe('JIRA-1234');
    await safe.close();

    const events = await readJsonl(join(dir, 'audit.jsonl'));
    expect(events).toHaveLength(2);
    expect(events[0]).toMatchObject({
      event_id: dev.auditId,
      event_type: 'decision',
      sequence: 1,
      action: 'restart-deployment',
      target: 'dev/app',
      caller: 'deploy-agent',
      caller_authenticated: false,
      params: { namespace: 'dev', deployment: 'app' },
      decision: 'ALLOW',
      matched_rule: 'dev-open',
      risk_class: 'medium',
      effective_risk: 'low',
      correlation_id: 'corr-1',
      ticket_id: null,
    });
    expect(events[1]).toMatchObject({ sequence: 2, decision: 'REQUIRE_APPROVAL', ticket_id: 'JIRA-1234' });
    expect(events[1]?.prev_hash).toBe(events[0]?.hash);
    const report = await verifyAuditLog(join(dir, 'audit.jsonl'));
    expect(report.ok).toBe(true);
    expect(report.events).toBe(2);
  });

  it('always validates params: none, missing, wrong type, out of range and unknown are DENY', async () => {
    const dir = copyProject();
    const safe = open(dir);
    const base = { action: 'scale-deployment', target: 'dev/app', caller: 'a' };
    const none = await safe.check(base);
    expect(none.result).toBe('DENY');
    expect(none.reason).toMatch(/namespace/);
    const empty = await safe.check({ ...base, params: {} });
    expect(empty.result).toBe('DENY');
    expect(empty.errors.map((error) => error.path)).toEqual(
      expect.arrayContaining(['params.namespace', 'params.deployment', 'params.replicas']),
    );
    const wrongType = await safe.check({
      ...base,
      params: { namespace: 'dev', deployment: 'app', replicas: '3' },
    });
    expect(wrongType.result).toBe('DENY');
    expect(wrongType.reason).toMatch(/replicas/);
    const tooMany = await safe.check({
      ...base,
      params: { namespace: 'dev', deployment: 'app', replicas: 51 },
    });
    expect(tooMany.result).toBe('DENY');
    expect(tooMany.reason).toMatch(/replicas/);
    const extra = await safe.check({
      ...base,
      params: { namespace: 'dev', deployment: 'app', replicas: 1, evil: 1 },
    });
    expect(extra.result).toBe('DENY');
    expect(extra.reason).toMatch(/evil/);
    await safe.close();
    const events = await readJsonl(join(dir, 'audit.jsonl'));
    expect(events.map((event) => event.decision)).toEqual(['DENY', 'DENY', 'DENY', 'DENY', 'DENY']);
    expect(events[4]?.params).toEqual({ namespace: 'dev', deployment: 'app', replicas: 1, evil: 1 });
  });

  it('denies and audits unknown actions, unknown targets and malformed requests without throwing', async () => {
    const dir = copyProject();
    const safe = open(dir);
    const unknownAction = await safe.check({ action: 'format-disk', target: 'dev/app', caller: 'a' });
    expect(unknownAction.result).toBe('DENY');
    expect(unknownAction.reason).toMatch(/format-disk/);
    const unknownTarget = await safe.check({
      action: 'restart-deployment',
      target: 'moon/base',
      params: { namespace: 'x', deployment: 'y' },
    });
    expect(unknownTarget.result).toBe('DENY');
    expect(unknownTarget.reason).toMatch(/moon\/base/);
    const malformed = [
      null,
      42,
      { action: 7 },
      { action: 'restart-deployment', target: ['x'] },
      { action: 'x', caller: {} },
    ];
    for (const request of malformed) {
      const decision = await safe.check(request as never);
      expect(decision.result).toBe('DENY');
      expect(decision.errors.length).toBeGreaterThan(0);
    }
    await safe.close();
    const events = await readJsonl(join(dir, 'audit.jsonl'));
    expect(events).toHaveLength(7);
    expect(events.every((event) => event.decision === 'DENY')).toBe(true);
    expect((await verifyAuditLog(join(dir, 'audit.jsonl'))).ok).toBe(true);
  });

  it('refuses params that are not JSON at the door, recording the DENY without them', async () => {
    const dir = copyProject();
    const safe = open(dir);
    const cyclic: Record<string, unknown> = { namespace: 'dev' };
    cyclic.self = cyclic;
    const decision = await safe.check({ action: 'restart-deployment', target: 'dev/app', params: cyclic });
    expect(decision.result).toBe('DENY');
    expect(decision.reason).toMatch(/params are nested more than 32 levels deep/);
    expect(decision.auditId).not.toBe('');
    await safe.close();
    const [event] = await readJsonl(join(dir, 'audit.jsonl'));
    expect(event).toMatchObject({ decision: 'DENY', params: {}, params_omitted: true, target: 'dev/app' });
  });

  it('masks sensitive params in the audit log and says which', async () => {
    const dir = copyProject();
    const safe = open(dir);
    const decision = await safe.check({
      action: 'update-configmap',
      target: 'dev/app',
      params: { namespace: 'dev', configmap: 'cfg', key: 'password', value: 'hunter2' },
    });
    expect(decision.result).toBe('ALLOW');
    expect(decision.params.value).toBe('hunter2');
    await safe.close();
    const [event] = await readJsonl(join(dir, 'audit.jsonl'));
    expect(event?.params).toEqual({ namespace: 'dev', configmap: 'cfg', key: 'password', value: '***' });
    expect(event?.masked_paths).toEqual(['params.value']);
  });

  it('fails closed when the audit log cannot be written', async () => {
    const dir = copyProject();
    const safe = open(dir, { auditLog: join(dir, 'missing-dir', 'audit.jsonl') });
    const decision = await safe.check({
      action: 'restart-deployment',
      target: 'dev/app',
      params: { namespace: 'dev', deployment: 'app' },
    });
    expect(decision.result).toBe('DENY');
    expect(decision.errors.map((error) => error.code)).toContain('AUDIT_WRITE_FAILED');
    expect(decision.reason).toMatch(/audit log/);
  });

  it('keeps one unbroken chain under 300 concurrent checks', async () => {
    const dir = copyProject();
    const safe = open(dir);
    const decisions = await Promise.all(
      Array.from({ length: 300 }, (_, index) =>
        safe.check({
          action: 'scale-deployment',
          target: 'dev/app',
          caller: `agent-${index % 7}`,
          params: { namespace: 'dev', deployment: 'app', replicas: index % 50 },
        }),
      ),
    );
    expect(new Set(decisions.map((decision) => decision.auditId)).size).toBe(300);
    await safe.close();
    const report = await verifyAuditLog(join(dir, 'audit.jsonl'));
    expect(report.ok).toBe(true);
    expect(report.events).toBe(300);
  });

  it('evaluates time windows against the injected clock', async () => {
    const dir = copyProject();
    const clock = new ManualClock(Date.parse('2026-03-03T23:30:00Z'));
    const safe = open(dir, { clock, auditLog: false });
    const request = {
      action: 'restart-deployment',
      target: 'staging/app',
      params: { namespace: 's', deployment: 'a' },
    };
    expect((await safe.check(request)).result).toBe('ALLOW');
    clock.set(Date.parse('2026-03-03T12:00:00Z'));
    expect((await safe.check(request)).result).toBe('DENY');
  });
});

describe('AgentSafe.checkPlan', () => {
  it('returns one decision per step, in order, tied by a correlation id', async () => {
    const dir = copyProject();
    const safe = open(dir);
    const decisions = await safe.checkPlan([
      {
        action: 'scale-deployment',
        target: 'dev/app',
        params: { namespace: 'dev', deployment: 'app', replicas: 3 },
      },
      {
        action: 'restart-deployment',
        target: 'prod/app',
        params: { namespace: 'prod', deployment: 'app' },
        ticketId: 'CHG-1',
      },
      { action: 'nope', target: 'dev/app' },
    ]);
    expect(decisions.map((decision) => decision.result)).toEqual(['ALLOW', 'REQUIRE_APPROVAL', 'DENY']);
    expect(decisions[1]?.ticketId).toBe('CHG-1');
    const correlation = decisions[0]?.correlationId;
    expect(correlation).toMatch(/^plan-/);
    expect(decisions.every((decision) => decision.correlationId === correlation)).toBe(true);
    await safe.close();
  });

  it('rejects a plan that is not an array', async () => {
    const safe = open(copyProject());
    await expect(safe.checkPlan('x' as never)).rejects.toThrow(AgentSafeError);
  });
});

describe('configuration', () => {
  it('reads agent-safe.yaml from the working directory; options win', async () => {
    const dir = copyProject();
    writeFileSync(
      join(dir, 'agent-safe.yaml'),
      'registry: ./actions\npolicies: ./policies\ninventory: ./inventory.yaml\naudit_log: ./from-config.jsonl\n',
    );
    const safe = new AgentSafe({ cwd: dir });
    await safe.check({
      action: 'restart-deployment',
      target: 'dev/app',
      params: { namespace: 'd', deployment: 'a' },
    });
    await safe.close();
    expect(await readJsonl(join(dir, 'from-config.jsonl'))).toHaveLength(1);
    const overridden = new AgentSafe({ cwd: dir, auditLog: join(dir, 'explicit.jsonl') });
    await overridden.check({
      action: 'restart-deployment',
      target: 'dev/app',
      params: { namespace: 'd', deployment: 'a' },
    });
    await overridden.close();
    expect(await readJsonl(join(dir, 'explicit.jsonl'))).toHaveLength(1);
  });

  it('enforces target types when agent-safe.yaml asks for it', async () => {
    const dir = copyProject();
    const request = { action: 'drain-node', target: 'dev/app', params: { node: 'n1' } };
    const lax = open(dir, { auditLog: false });
    expect((await lax.check(request)).result).toBe('ALLOW');
    writeFileSync(join(dir, 'agent-safe.yaml'), 'enforce_target_types: true\naudit_log: ./a.jsonl\n');
    const strict = new AgentSafe({
      cwd: dir,
      registry: join(dir, 'actions'),
      policies: join(dir, 'policies'),
      inventory: join(dir, 'inventory.yaml'),
    });
    const decision = await strict.check(request);
    expect(decision.result).toBe('DENY');
    expect(decision.reason).toMatch(/target types \[k8s-node\]/);
    await strict.close();
  });

  it('names the file and key of a bad setting', () => {
    const dir = copyProject();
    writeFileSync(
      join(dir, 'agent-safe.yaml'),
      'registry: ./actions\nregsitry: ./typo\ntime_zone: Mars/Olympus\nenforce_target_types: yes-please\n',
    );
    try {
      new AgentSafe({ cwd: dir });
      throw new Error('expected a CONFIG_INVALID error');
    } catch (error) {
      expect(error).toBeInstanceOf(AgentSafeError);
      const described = (error as AgentSafeError).describe();
      expect(described).toMatch(/agent-safe\.yaml/);
      expect(described).toMatch(/regsitry: unknown setting/);
      expect(described).toMatch(/Mars\/Olympus/);
      expect(described).toMatch(/enforce_target_types: expected true or false/);
    }
  });

  it('fails at construction with the path when the registry is missing', () => {
    const dir = copyProject();
    expect(() => open(dir, { registry: join(dir, 'nope') })).toThrow(/nope/);
  });
});

describe('policy tests', () => {
  it('runs suites that set roles, delegation and time', () => {
    const dir = copyProject();
    const safe = open(dir, { auditLog: false });
    const report = runPolicyTests(safe, loadPolicyTests(join(dir, 'tests')));
    expect(report.results.filter((result) => !result.passed).map((result) => result.failure)).toEqual([]);
    expect(report.passed).toBe(7);
  });

  it('reports a failing expectation with the actual decision', () => {
    const dir = copyProject();
    writeFileSync(
      join(dir, 'tests', 'wrong.yaml'),
      'tests:\n  - name: wrong\n    action: restart-deployment\n    target: dev/app\n    params: {namespace: d, deployment: a}\n    expect: deny\n',
    );
    const safe = open(dir, { auditLog: false });
    const report = runPolicyTests(safe, loadPolicyTests(join(dir, 'tests')));
    expect(report.failed).toBe(1);
    expect(report.results.find((result) => result.case.name === 'wrong')?.failure).toMatch(
      /expected DENY, got ALLOW/,
    );
  });

  it('links change tickets: require_ticket rules, plan steps, policy test cases and the audit field', async () => {
    const dir = copyProject();
    writeFileSync(
      join(dir, 'policies', 'tickets.yaml'),
      'rules:\n  - name: prod-restart-with-ticket\n    priority: 600\n    match:\n      actions: [restart-deployment]\n      targets: { environments: [prod] }\n      require_ticket: true\n    decision: allow\n    reason: Production restarts are allowed with a change ticket\n  - name: no-ticket-no-scale-in-prod\n    priority: 600\n    match:\n      actions: [scale-deployment]\n      targets: { environments: [prod] }\n      require_ticket: false\n    decision: deny\n    reason: Scaling production needs a change ticket\n',
    );
    writeFileSync(
      join(dir, 'tests', 'tickets.yaml'),
      'tests:\n  - name: with ticket\n    action: restart-deployment\n    target: prod/app\n    params: { namespace: p, deployment: a }\n    ticket_id: CHG-42\n    expect: allow\n    expect_rule: prod-restart-with-ticket\n  - name: without ticket\n    action: restart-deployment\n    target: prod/app\n    params: { namespace: p, deployment: a }\n    expect: require_approval\n    expect_rule: approve-prod\n',
    );
    const safe = open(dir);
    const report = runPolicyTests(safe, loadPolicyTests(join(dir, 'tests', 'tickets.yaml')));
    expect(report.results.map((result) => [result.case.name, result.passed, result.failure])).toEqual([
      ['with ticket', true, undefined],
      ['without ticket', true, undefined],
    ]);
    const [withTicket, scaleWithout, scaleWith] = await safe.checkPlan([
      {
        action: 'restart-deployment',
        target: 'prod/app',
        params: { namespace: 'p', deployment: 'a' },
        ticketId: 'CHG-42',
      },
      {
        action: 'scale-deployment',
        target: 'prod/app',
        params: { namespace: 'p', deployment: 'a', replicas: 2 },
      },
      {
        action: 'scale-deployment',
        target: 'prod/app',
        params: { namespace: 'p', deployment: 'a', replicas: 2 },
        ticketId: 'CHG-43',
      },
    ]);
    expect([withTicket?.result, scaleWithout?.result, scaleWith?.result]).toEqual([
      'ALLOW',
      'DENY',
      'REQUIRE_APPROVAL',
    ]);
    await safe.close();
    const events = await readJsonl(join(dir, 'audit.jsonl'));
    expect(events.map((event) => event.ticket_id).sort()).toEqual(['CHG-42', 'CHG-43', null].sort());
  });

  it('rejects malformed cases naming file and field', () => {
    const dir = copyProject();
    writeFileSync(
      join(dir, 'tests', 'bad.yaml'),
      'tests:\n  - name: x\n    expect: maybe\n    time: yesterday\n    colour: red\n',
    );
    expect(() => loadPolicyTests(join(dir, 'tests'))).toThrow(AgentSafeError);
    try {
      loadPolicyTests(join(dir, 'tests'));
    } catch (error) {
      const text = (error as AgentSafeError).describe();
      expect(text).toMatch(/bad\.yaml: tests\[0\]\.action: is required/);
      expect(text).toMatch(/tests\[0\]\.expect/);
      expect(text).toMatch(/tests\[0\]\.time/);
      expect(text).toMatch(/tests\[0\]\.colour: unknown field/);
    }
  });
});
