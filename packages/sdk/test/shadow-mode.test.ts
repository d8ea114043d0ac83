import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { verifyAuditLog } from '@agent-safe/audit';
import type { AuditEventBody, AuditSink, Caller } from '@agent-safe/core';
import type { Evaluation } from '@agent-safe/pdp';
import { AgentSafe, AgentSafeError, loadProjectConfig } from '../src/index.js';
import { ShadowMode } from '../src/shadow-mode.js';
import { copyProject, readJsonl } from './helpers.js';

/** The fixture's rules with dev closed (DENY) and staging open to everyone (ALLOW). */
const CANDIDATE = `rules:
  - name: approve-critical
    priority: 1000
    match:
      risk_classes: [critical]
    decision: require_approval
  - name: approve-prod
    priority: 500
    match:
      targets:
        environments: [prod]
    decision: require_approval
  - name: dev-closed
    priority: 10
    match:
      targets:
        environments: [dev]
    decision: deny
    reason: Dev is frozen
  - name: staging-open
    priority: 10
    match:
      targets:
        environments: [staging]
    decision: allow
`;

function project(candidate = CANDIDATE): string {
  const dir = copyProject();
  mkdirSync(join(dir, 'candidate'));
  writeFileSync(join(dir, 'candidate', 'rules.yaml'), candidate);
  return dir;
}

function open(dir: string, extra: Record<string, unknown> = {}) {
  return new AgentSafe({
    registry: join(dir, 'actions'),
    policies: join(dir, 'policies'),
    inventory: join(dir, 'inventory.yaml'),
    auditLog: join(dir, 'audit.jsonl'),
    config: false,
    shadow: { policies: join(dir, 'candidate') },
    ...extra,
  });
}

const devRestart = {
  action: 'restart-deployment',
  target: 'dev/app',
  caller: 'deploy-agent',
  params: { namespace: 'dev', deployment: 'app' },
  correlationId: 'corr-1',
};
/** No enforced rule lets a caller without the deployer role scale staging: DENY by default. */
const stagingScale = {
  action: 'scale-deployment',
  target: 'staging/app',
  caller: 'deploy-agent',
  params: { namespace: 'staging', deployment: 'app', replicas: 2 },
};

describe('shadow mode', () => {
  it('records an enforced ALLOW the candidate would DENY, and answers ALLOW', async () => {
    const dir = project();
    const safe = open(dir);
    const decision = await safe.check(devRestart);
    expect(decision.result).toBe('ALLOW');
    expect(decision.matchedRule).toBe('dev-open');
    expect(decision.policyRevision).toBe(safe.pdp.revision);
    const stats = safe.shadowStats();
    expect(stats?.evaluations).toBe(1);
    expect(stats?.differences).toEqual([{ enforced: 'ALLOW', shadow: 'DENY', count: 1 }]);
    expect(stats?.errors).toBe(0);
    await safe.close();

    const events = await readJsonl(join(dir, 'audit.jsonl'));
    expect(events.map((event) => event.event_type)).toEqual(['decision', 'shadow_difference']);
    const [recorded, shadow] = events as [Record<string, unknown>, Record<string, unknown>];
    expect(recorded.decision).toBe('ALLOW');
    expect(recorded.policy_revision).toBe(safe.pdp.revision);
    expect(shadow.decision_event_id).toBe(decision.auditId);
    expect(shadow).toMatchObject({
      action: 'restart-deployment',
      target: 'dev/app',
      caller: 'deploy-agent',
      caller_authenticated: false,
      correlation_id: 'corr-1',
      differences: ['decision', 'matched_rule'],
      effective_risk: 'low',
      enforced_decision: 'ALLOW',
      enforced_matched_rule: 'dev-open',
      enforced_policy_revision: safe.pdp.revision,
      shadow_decision: 'DENY',
      shadow_matched_rule: 'dev-closed',
      shadow_policy_revision: stats?.policyRevision,
    });
    expect(stats?.policyRevision).toMatch(/\S/);
    expect(stats?.policyRevision).not.toBe(safe.pdp.revision);
    expect(shadow).not.toHaveProperty('params');
    expect(shadow).not.toHaveProperty('reason');
    expect((await verifyAuditLog(join(dir, 'audit.jsonl'))).ok).toBe(true);
  });

  it('records an enforced DENY the candidate would ALLOW, and answers DENY without a ticket', async () => {
    const dir = project();
    const safe = open(dir, {
      security: { signingKey: 'k'.repeat(48), allowPlainCallers: true },
    });
    const decision = await safe.check(stagingScale);
    expect(decision.result).toBe('DENY');
    expect(decision.matchedRule).toBeNull();
    expect(decision.ticket).toBeNull();
    expect(safe.shadowStats()?.differences).toEqual([{ enforced: 'DENY', shadow: 'ALLOW', count: 1 }]);
    await safe.close();
    const shadow = (await readJsonl(join(dir, 'audit.jsonl'))).find(
      (event) => event.event_type === 'shadow_difference',
    );
    expect(shadow).toMatchObject({
      decision_event_id: decision.auditId,
      enforced_decision: 'DENY',
      enforced_matched_rule: null,
      shadow_decision: 'ALLOW',
      shadow_matched_rule: 'staging-open',
    });
  });

  it('records nothing when the candidate agrees, and counts the evaluation', async () => {
    const dir = project(readFileSync(join(copyProject(), 'policies', 'rules.yaml'), 'utf8'));
    const safe = open(dir);
    const decision = await safe.check(devRestart);
    expect(decision.result).toBe('ALLOW');
    expect(safe.shadowStats()).toEqual({
      policyRevision: safe.pdp.revision,
      evaluations: 1,
      differences: [],
      errors: 0,
    });
    await safe.close();
    expect((await readJsonl(join(dir, 'audit.jsonl'))).map((event) => event.event_type)).toEqual([
      'decision',
    ]);
  });

  it('counts the same answer from another rule as a difference of the matched rule', async () => {
    const renamed = readFileSync(join(copyProject(), 'policies', 'rules.yaml'), 'utf8').replace(
      'name: dev-open',
      'name: dev-open-v2',
    );
    const dir = project(renamed);
    const safe = open(dir);
    expect((await safe.check(devRestart)).result).toBe('ALLOW');
    expect(safe.shadowStats()?.differences).toEqual([{ enforced: 'ALLOW', shadow: 'ALLOW', count: 1 }]);
    await safe.close();
    const shadow = (await readJsonl(join(dir, 'audit.jsonl')))[1];
    expect(shadow).toMatchObject({
      event_type: 'shadow_difference',
      differences: ['matched_rule'],
      enforced_matched_rule: 'dev-open',
      shadow_matched_rule: 'dev-open-v2',
    });
  });

  it('never records a sensitive value: the shadow event carries no params', async () => {
    const dir = project();
    const safe = open(dir);
    const decision = await safe.check({
      action: 'update-configmap',
      target: 'dev/app',
      caller: 'deploy-agent',
      params: { namespace: 'dev', configmap: 'cfg', key: 'password', value: 'hunter2' },
    });
    expect(decision.result).toBe('ALLOW');
    await safe.close();
    const text = readFileSync(join(dir, 'audit.jsonl'), 'utf8');
    expect(text).not.toContain('hunter2');
    expect(text).toContain('"event_type":"shadow_difference"');
  });

  it('does not evaluate a malformed request', async () => {
    const dir = project();
    const safe = open(dir);
    const decision = await safe.check({
      action: 'restart-deployment',
      target: 'dev/app',
      caller: 'deploy-agent',
      params: 'namespace=dev' as never,
    });
    expect(decision.result).toBe('DENY');
    expect(safe.shadowStats()?.evaluations).toBe(0);
    await safe.close();
  });

  it('counts a difference without an event when auditing is off', async () => {
    const dir = project();
    const safe = open(dir, { auditLog: false });
    expect((await safe.check(devRestart)).result).toBe('ALLOW');
    expect(safe.shadowStats()?.differences).toEqual([{ enforced: 'ALLOW', shadow: 'DENY', count: 1 }]);
    await safe.close();
  });

  it('keeps the answer when the log refuses the shadow event, and counts an error', async () => {
    const dir = project();
    const written: AuditEventBody[] = [];
    const sink: AuditSink = {
      append: async (body) => {
        if (body.event_type === 'shadow_difference') throw new Error('disk full');
        written.push(body);
        return undefined as never;
      },
      close: async () => undefined,
    };
    const safe = open(dir, { auditLog: sink });
    const decision = await safe.check(devRestart);
    expect(decision.result).toBe('ALLOW');
    expect(decision.auditId).not.toBe('');
    await new Promise((resolve) => setImmediate(resolve));
    expect(safe.shadowStats()?.errors).toBe(1);
    expect(written.map((body) => body.event_type)).toEqual(['decision']);
    await safe.close();
  });

  it('has no shadow mode unless configured', async () => {
    const dir = project();
    const safe = open(dir, { shadow: undefined });
    expect(safe.shadowStats()).toBeUndefined();
    await safe.check(devRestart);
    await safe.close();
    expect((await readJsonl(join(dir, 'audit.jsonl'))).map((event) => event.event_type)).toEqual([
      'decision',
    ]);
  });
});

describe('shadow mode configuration', () => {
  it('reads shadow.policies from agent-safe.yaml, relative to the file', async () => {
    const dir = project();
    writeFileSync(
      join(dir, 'agent-safe.yaml'),
      'audit_log: ./audit.jsonl\nshadow:\n  policies: ./candidate\n',
    );
    expect(loadProjectConfig({ cwd: dir }).shadow).toEqual({ policies: join(dir, 'candidate') });
    const safe = new AgentSafe({ cwd: dir });
    expect((await safe.check(devRestart)).result).toBe('ALLOW');
    expect(safe.shadowStats()?.differences).toHaveLength(1);
    await safe.close();
  });

  it.each([
    ['shadow: ./candidate\n', 'shadow', 'expected a mapping'],
    ['shadow:\n  policy: ./candidate\n', 'shadow.policy', 'unknown setting; expected policies'],
    ['shadow:\n  policies: 3\n', 'shadow.policies', 'expected the path'],
    ['shadow: {}\n', 'shadow.policies', 'is required'],
  ])('refuses %j naming the file and the setting', (yaml, path, message) => {
    const dir = project();
    writeFileSync(join(dir, 'agent-safe.yaml'), yaml);
    let error: unknown;
    try {
      loadProjectConfig({ cwd: dir });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(AgentSafeError);
    const issues = (error as AgentSafeError).issues;
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ file: join(dir, 'agent-safe.yaml'), path });
    expect(issues[0]?.message).toContain(message);
  });

  it('fails construction naming the candidate file when it does not load', () => {
    const dir = project('rules:\n  - name: broken\n    decision: perhaps\n');
    writeFileSync(join(dir, 'agent-safe.yaml'), 'shadow:\n  policies: ./candidate\n');
    let error: unknown;
    try {
      new AgentSafe({ cwd: dir, auditLog: false });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(AgentSafeError);
    expect((error as AgentSafeError).code).toBe('CONFIG_INVALID');
    expect((error as AgentSafeError).message).toContain(join(dir, 'agent-safe.yaml'));
    expect((error as AgentSafeError).message).toContain('shadow policies');
    expect(JSON.stringify((error as AgentSafeError).issues)).toContain(join(dir, 'candidate', 'rules.yaml'));
  });

  it('fails construction when the candidate path does not exist', () => {
    const dir = project();
    expect(() => open(dir, { shadow: { policies: join(dir, 'missing') } })).toThrow(
      /options: the shadow policies cannot be loaded: .*missing/,
    );
  });
});

describe('ShadowMode', () => {
  const caller: Caller = {
    agentId: 'a',
    roles: [],
    groups: [],
    authenticated: false,
    delegationChain: [],
  };
  const enforced = {
    result: 'ALLOW',
    matchedRule: 'r',
    errors: [],
    policyRevision: 'rev-1',
  } as unknown as Evaluation;

  it('counts an evaluator that throws as an error, not a difference', () => {
    const shadow = new ShadowMode({
      revision: 'rev-2',
      evaluate: () => {
        throw new Error('boom');
      },
    });
    expect(shadow.compare(enforced, 'x', 't', caller, {}, null, 0)).toBeUndefined();
    expect(shadow.stats()).toEqual({ policyRevision: 'rev-2', evaluations: 1, differences: [], errors: 1 });
  });

  it('counts a candidate that failed closed (INTERNAL) as an error and a difference', () => {
    const failed = {
      result: 'DENY',
      matchedRule: null,
      errors: [{ code: 'INTERNAL', message: 'internal error' }],
      policyRevision: 'rev-2',
    } as unknown as Evaluation;
    const shadow = new ShadowMode({ revision: 'rev-2', evaluate: () => failed });
    expect(shadow.compare(enforced, 'x', 't', caller, {}, null, 0)).toEqual({ enforced, shadow: failed });
    expect(shadow.stats()).toEqual({
      policyRevision: 'rev-2',
      evaluations: 1,
      differences: [{ enforced: 'ALLOW', shadow: 'DENY', count: 1 }],
      errors: 1,
    });
  });
});
