import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { verifyAuditLog } from '@agent-safe/audit';
import type { AuditEvent, AuditEventBody, AuditSink } from '@agent-safe/core';
import { type AgentSafe, findStateCapture, stateCoverage } from '../src/index.js';
import { readJsonl } from './helpers.js';
import { CALLER, openProject, scaleParams, writeExecutionProject } from './execution-project.js';

const opened: AgentSafe[] = [];
function open(dir: string, extra: Parameters<typeof openProject>[1] = {}): AgentSafe {
  const safe = openProject(dir, extra);
  opened.push(safe);
  return safe;
}
afterEach(async () => {
  for (const safe of opened.splice(0)) await safe.close();
});

async function allowScale(safe: AgentSafe, replicas = 5) {
  const decision = await safe.check({
    action: 'scale-deployment',
    target: 'dev/web',
    caller: CALLER,
    params: scaleParams(replicas),
  });
  expect(decision.result).toBe('ALLOW');
  return decision;
}

describe('recordBeforeState / recordAfterState / recordState (agents that execute themselves)', () => {
  it('writes state_capture events in the runner shape; the last capture wins', async () => {
    const dir = writeExecutionProject();
    const safe = open(dir);
    const decision = await allowScale(safe);
    const { eventId } = await safe.recordBeforeState(decision.auditId, {
      replicas: 2,
      available_replicas: 2,
    });
    expect(eventId).toMatch(/^evt/);
    const before = await safe.getStateCapture(decision.auditId);
    expect(before).toMatchObject({
      eventId,
      decisionAuditId: decision.auditId,
      beforeState: { replicas: 2, available_replicas: 2 },
      afterState: null,
      diff: null,
      recordedBy: 'sdk',
    });
    const capture = await safe.recordAfterState(decision.auditId, { replicas: 5, available_replicas: 3 });
    expect(capture).toMatchObject({
      decisionAuditId: decision.auditId,
      action: 'scale-deployment',
      target: 'dev/web',
      caller: CALLER,
      params: scaleParams(5),
      beforeState: { replicas: 2, available_replicas: 2 },
      afterState: { replicas: 5, available_replicas: 3 },
      diff: { replicas: { before: 2, after: 5 }, available_replicas: { before: 2, after: 3 } },
    });
    expect(await safe.getStateCapture(decision.auditId)).toEqual(capture);
    await safe.close();

    const events = await readJsonl(join(dir, 'audit.jsonl'));
    const captures = events.filter((event) => event.event_type === 'state_capture');
    expect(captures).toHaveLength(2);
    expect(captures[1]).toMatchObject({
      event_type: 'state_capture',
      action: 'scale-deployment',
      target: 'dev/web',
      caller: CALLER,
      decision_audit_id: decision.auditId,
      correlation_id: decision.auditId,
      params: scaleParams(5),
      before_state: { replicas: 2, available_replicas: 2 },
      after_state: { replicas: 5, available_replicas: 3 },
      diff: { replicas: { before: 2, after: 5 }, available_replicas: { before: 2, after: 3 } },
    });
    expect(captures[0]).toMatchObject({ after_state: null, diff: null });
    expect((await verifyAuditLog(join(dir, 'audit.jsonl'))).ok).toBe(true);
    // The standalone reader (the CLI's `audit show-state`, no project) sees the same capture.
    expect(await findStateCapture(join(dir, 'audit.jsonl'), decision.auditId)).toEqual(capture);
  });

  it('recordState writes before and after at once; sensitive params are masked', async () => {
    const dir = writeExecutionProject();
    const safe = open(dir);
    const decision = await safe.check({
      action: 'update-configmap',
      target: 'dev/settings',
      caller: CALLER,
      params: { namespace: 'dev', configmap: 'settings', key: 'db', value: 'postgres://user:hunter2@db' },
    });
    expect(decision.result).toBe('ALLOW');
    const capture = await safe.recordState(
      decision.auditId,
      { previous_value: 'postgres://old' },
      { previous_value: 'postgres://new' },
    );
    expect(capture.params).toEqual({ namespace: 'dev', configmap: 'settings', key: 'db', value: '***' });
    await safe.close();
    const events = await readJsonl(join(dir, 'audit.jsonl'));
    expect(JSON.stringify(events)).not.toContain('hunter2');
    // previous_value is a sensitive state field of the catalogue: masked too (sensitive-state.test.ts).
    expect(events.at(-1)).toMatchObject({
      masked_paths: [
        'params.value',
        'before_state.previous_value',
        'after_state.previous_value',
        'diff.previous_value',
      ],
      params: { value: '***' },
    });
  });

  it('refuses a missing, denied or pending decision, and after-state without a before-state', async () => {
    const dir = writeExecutionProject();
    const safe = open(dir);
    await expect(safe.recordBeforeState('evt_nope', { replicas: 1 })).rejects.toMatchObject({
      code: 'INPUT_INVALID',
      message: expect.stringMatching(/^no decision with audit id evt_nope in the audit log/),
    });
    const denied = await safe.check({
      action: 'restart-deployment',
      target: 'dev/web',
      caller: CALLER,
      params: { namespace: 'dev', deployment: 'web' },
    });
    await expect(safe.recordState(denied.auditId, { a: 1 }, { a: 2 })).rejects.toMatchObject({
      code: 'INPUT_INVALID',
      message: `decision ${denied.auditId} was DENY, not ALLOW: state is recorded only for allowed actions`,
    });
    const pending = await safe.check({
      action: 'scale-deployment',
      target: 'prod/web',
      caller: CALLER,
      params: scaleParams(1, 'prod'),
    });
    await expect(safe.recordBeforeState(pending.auditId, { replicas: 1 })).rejects.toMatchObject({
      message: expect.stringMatching(/was REQUIRE_APPROVAL, not ALLOW/),
    });
    const decision = await allowScale(safe);
    await expect(safe.recordAfterState(decision.auditId, { replicas: 5 })).rejects.toMatchObject({
      code: 'INPUT_INVALID',
      message: expect.stringMatching(/no before-state was recorded for decision/),
    });
    for (const bad of ['', 'evt\u0000x', 42]) {
      await expect(safe.recordBeforeState(bad as string, {})).rejects.toMatchObject({
        code: 'INPUT_INVALID',
        issues: [{ path: 'auditId' }],
      });
    }
    const captures = (await readJsonl(join(dir, 'audit.jsonl'))).filter(
      (event) => event.event_type === 'state_capture',
    );
    expect(captures).toHaveLength(0);
  });

  it('refuses state that is not bounded JSON: too much text, too deep, not plain', async () => {
    const dir = writeExecutionProject();
    const safe = open(dir);
    const decision = await allowScale(safe);
    await expect(
      safe.recordBeforeState(decision.auditId, { blob: 'x'.repeat(300 * 1024) }),
    ).rejects.toMatchObject({
      code: 'INPUT_INVALID',
      message: 'before_state hold more than 262144 characters of text in all',
    });
    let deep: Record<string, unknown> = { leaf: 1 };
    for (let index = 0; index < 40; index++) deep = { nested: deep };
    await expect(safe.recordBeforeState(decision.auditId, deep)).rejects.toMatchObject({
      message: expect.stringMatching(/nested more than 32 levels/),
    });
    await expect(safe.recordBeforeState(decision.auditId, { when: new Date() })).rejects.toMatchObject({
      issues: [{ path: 'before_state.when' }],
    });
    await expect(
      safe.recordState(decision.auditId, { replicas: 1 }, { ratio: Number.NaN }),
    ).rejects.toMatchObject({
      message: expect.stringMatching(/^after_state hold a number with no JSON form/),
    });
    await expect(safe.recordBeforeState(decision.auditId, [1, 2] as never)).rejects.toMatchObject({
      message: 'before_state must be a plain object of field: value',
    });
    const captures = (await readJsonl(join(dir, 'audit.jsonl'))).filter(
      (event) => event.event_type === 'state_capture',
    );
    expect(captures).toHaveLength(0);
  });

  it('finds an old decision behind more than the 1000 newest ones (the full read after the tail)', async () => {
    const dir = writeExecutionProject();
    const safe = open(dir);
    const old = await allowScale(safe, 2);
    for (let batch = 0; batch < 10; batch++) {
      await Promise.all(Array.from({ length: 100 }, (_, index) => allowScale(safe, (index % 90) + 1)));
    }
    const capture = await safe.recordState(old.auditId, { replicas: 1 }, { replicas: 2 });
    expect(capture.decisionAuditId).toBe(old.auditId);
    expect((await safe.getStateCapture(old.auditId))?.eventId).toBe(capture.eventId);
  }, 60_000);

  it('needs a file audit log to read decisions back', async () => {
    const dir = writeExecutionProject();
    const appended: AuditEventBody[] = [];
    const sink: AuditSink = {
      append: async (body) => {
        appended.push(body);
        return { ...body, sequence: appended.length, prev_hash: '', hash: '' } as AuditEvent;
      },
      close: async () => undefined,
    };
    const safe = open(dir, { auditLog: sink });
    const decision = await allowScale(safe);
    await expect(safe.recordBeforeState(decision.auditId, { replicas: 1 })).rejects.toMatchObject({
      code: 'USAGE',
      message: expect.stringMatching(/needs the audit log to be a file .*not a sink object/),
    });
  });
});

describe('state coverage', () => {
  it('counts ALLOW decisions with and without a capture, per action, from the facade and a log file', async () => {
    const dir = writeExecutionProject();
    const safe = open(dir);
    const first = await allowScale(safe, 3);
    const second = await allowScale(safe, 4);
    await allowScale(safe, 6);
    const config = await safe.check({
      action: 'update-configmap',
      target: 'dev/settings',
      caller: CALLER,
      params: { namespace: 'dev', configmap: 'settings', key: 'mode', value: 'green' },
    });
    await safe.check({
      action: 'restart-deployment',
      target: 'dev/web',
      caller: CALLER,
      params: { namespace: 'dev', deployment: 'web' },
    });
    await safe.recordState(first.auditId, { replicas: 2 }, { replicas: 3 });
    await safe.recordBeforeState(second.auditId, { replicas: 3 });
    await safe.recordState(config.auditId, { previous_value: 'blue' }, { previous_value: 'green' });
    // A runner run records its own capture (dry run: empty state, still a capture).
    const run = await allowScale(safe, 7);
    expect((await safe.execute(run)).status).toBe('succeeded');

    const report = await safe.stateCoverage();
    expect(report).toEqual({
      allowed: 5,
      captured: 4,
      complete: 3,
      coverage: 0.8,
      actions: [
        { action: 'scale-deployment', allowed: 4, captured: 3, complete: 2, coverage: 0.75 },
        { action: 'update-configmap', allowed: 1, captured: 1, complete: 1, coverage: 1 },
      ],
      unmatchedCaptures: 0,
    });
    await safe.close();
    expect(await stateCoverage(join(dir, 'audit.jsonl'))).toEqual(report);
  });

  it('an empty log has zero coverage, and a missing log file is a clear error', async () => {
    const dir = writeExecutionProject();
    const safe = open(dir);
    await safe.check({
      action: 'restart-deployment',
      target: 'dev/web',
      caller: CALLER,
      params: { namespace: 'dev', deployment: 'web' },
    });
    expect(await safe.stateCoverage()).toEqual({
      allowed: 0,
      captured: 0,
      complete: 0,
      coverage: 0,
      actions: [],
      unmatchedCaptures: 0,
    });
    await expect(stateCoverage(join(dir, 'missing.jsonl'))).rejects.toMatchObject({
      code: 'FILE_UNREADABLE',
    });
  });
});
