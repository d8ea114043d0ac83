import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { ActionRegistry, type AgentSafe, rollbackPlanFromLog } from '../src/index.js';
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

async function scaled(safe: AgentSafe, before: number, after: number) {
  const decision = await safe.check({
    action: 'scale-deployment',
    target: 'dev/web',
    caller: CALLER,
    params: scaleParams(after),
  });
  expect(decision.result).toBe('ALLOW');
  await safe.recordState(decision.auditId, { replicas: before }, { replicas: after });
  return decision;
}

describe('generateRollback / checkRollback / executeRollback', () => {
  it('plans from the last capture, decides through check() with the correlation id, and runs it', async () => {
    const dir = writeExecutionProject();
    const safe = open(dir);
    const decision = await scaled(safe, 2, 5);
    // A later capture of the same decision wins (e.g. re-recorded after a retry).
    await safe.recordState(decision.auditId, { replicas: 3 }, { replicas: 5 });
    const plan = await safe.generateRollback(decision.auditId);
    expect(plan).toEqual({
      ok: true,
      plan: {
        action: 'scale-deployment',
        target: 'dev/web',
        params: scaleParams(3),
        correlationId: decision.auditId,
      },
    });

    const checked = await safe.checkRollback(decision.auditId);
    expect(checked.plan).toEqual(plan.ok && plan.plan);
    expect(checked.decision).toMatchObject({
      result: 'ALLOW',
      action: 'scale-deployment',
      target: 'dev/web',
      caller: CALLER,
      correlationId: decision.auditId,
      params: scaleParams(3),
    });

    const executed = await safe.executeRollback(decision.auditId);
    expect(executed.decision.result).toBe('ALLOW');
    expect(executed.decision.auditId).not.toBe(checked.decision.auditId);
    expect(executed.result).toMatchObject({
      status: 'succeeded',
      executor: 'dry-run',
      auditIds: { decision: executed.decision.auditId },
    });
    expect(executed.result?.output).toMatchObject({
      calls: [expect.objectContaining({ body: { spec: { replicas: 3 } } })],
    });
    await safe.close();
    const events = await readJsonl(join(dir, 'audit.jsonl'));
    const rollbacks = events.filter(
      (event) => event.event_type === 'decision' && event.correlation_id === decision.auditId,
    );
    expect(rollbacks).toHaveLength(2);
    expect(
      events.find(
        (event) => event.event_type === 'execution' && event.decision_audit_id === executed.decision.auditId,
      ),
    ).toMatchObject({ status: 'succeeded' });
    // The CLI's `rollback show` reads the same plan from the log file, without a project.
    const registry = await ActionRegistry.load(join(dir, 'actions'));
    expect(await rollbackPlanFromLog(join(dir, 'audit.jsonl'), decision.auditId, registry)).toEqual(plan);
  });

  it('the rollback is asked for by the original caller unless another is given', async () => {
    const dir = writeExecutionProject();
    const safe = open(dir);
    const decision = await scaled(safe, 2, 5);
    expect((await safe.checkRollback(decision.auditId)).decision.caller).toBe(CALLER);
    const other = await safe.checkRollback(decision.auditId, { caller: 'ops-bot' });
    expect(other.decision).toMatchObject({
      result: 'ALLOW',
      caller: 'ops-bot',
      correlationId: decision.auditId,
    });
  });

  it('says why there is no plan: no capture, not reversible, a missing field, a masked value', async () => {
    const dir = writeExecutionProject();
    const safe = open(dir);
    const uncaptured = await safe.check({
      action: 'scale-deployment',
      target: 'dev/web',
      caller: CALLER,
      params: scaleParams(4),
    });
    expect(await safe.generateRollback(uncaptured.auditId)).toEqual({
      ok: false,
      reason: expect.stringMatching(/^no state capture for decision .* record its before-state/),
    });

    const drain = await safe.check({
      action: 'drain-node',
      target: 'dev/node-1',
      caller: CALLER,
      params: { node: 'node-1' },
    });
    expect(drain.result).toBe('ALLOW');
    await safe.recordState(drain.auditId, { unschedulable: false }, { unschedulable: true });
    expect(await safe.generateRollback(drain.auditId)).toEqual({
      ok: false,
      reason: expect.stringMatching(/^action "drain-node" is not reversible/),
    });

    const missing = await safe.check({
      action: 'scale-deployment',
      target: 'dev/web',
      caller: CALLER,
      params: scaleParams(6),
    });
    await safe.recordBeforeState(missing.auditId, { ready_replicas: 2 });
    expect(await safe.generateRollback(missing.auditId)).toEqual({
      ok: false,
      reason:
        'rollback param "replicas": before_state.replicas was not captured (the before-state has no such field)',
    });

    const token = await safe.check({
      action: 'rotate-token',
      target: 'dev/billing',
      caller: CALLER,
      params: { service: 'billing', token: 'tok-new-secret' },
    });
    expect(token.result).toBe('ALLOW');
    await safe.recordState(token.auditId, { version: 1 }, { version: 2 });
    expect(await safe.generateRollback(token.auditId)).toEqual({
      ok: false,
      reason: 'rollback param "token": params.token is sensitive and was masked in the audit log',
    });

    // checkRollback without a plan throws with the reason, and decides nothing.
    const before = (await readJsonl(join(dir, 'audit.jsonl'))).length;
    await expect(safe.checkRollback(drain.auditId)).rejects.toMatchObject({
      code: 'INPUT_INVALID',
      message: expect.stringMatching(/^no rollback for decision .*: action "drain-node" is not reversible/),
    });
    await expect(safe.executeRollback(uncaptured.auditId)).rejects.toMatchObject({ code: 'INPUT_INVALID' });
    await expect(safe.executeRollback(uncaptured.auditId, { params: scaleParams(50) })).rejects.toMatchObject(
      { code: 'USAGE', issues: [{ path: 'params' }] },
    );
    expect((await readJsonl(join(dir, 'audit.jsonl'))).length).toBe(before);
    await expect(safe.generateRollback('bad\nid')).rejects.toMatchObject({ code: 'INPUT_INVALID' });
  });

  it('a denied rollback is returned with its decision and nothing runs', async () => {
    const dir = writeExecutionProject();
    const safe = open(dir);
    const decision = await scaled(safe, 2, 5);
    await safe.close();
    opened.splice(opened.indexOf(safe), 1);
    // The same log, a stricter policy: scale-deployment is now denied.
    const { writeFileSync } = await import('node:fs');
    writeFileSync(
      join(dir, 'policies', 'rules.yaml'),
      'rules:\n  - { name: frozen, priority: 10, match: { actions: [scale-deployment] }, decision: deny, reason: Change freeze }\n',
    );
    const strict = open(dir);
    const outcome = await strict.executeRollback(decision.auditId);
    expect(outcome.decision).toMatchObject({
      result: 'DENY',
      reason: 'Change freeze',
      correlationId: decision.auditId,
    });
    expect(outcome.result).toBeUndefined();
    await strict.close();
    const events = await readJsonl(join(dir, 'audit.jsonl'));
    expect(events.some((event) => event.event_type === 'execution_started')).toBe(false);
  });
});
