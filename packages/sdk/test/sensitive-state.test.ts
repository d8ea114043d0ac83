// Sensitive state fields (update-configmap's previous_value is `sensitive: true` in the catalogue):
// masked in the audit log by the SDK's record* methods exactly as by the runner; a rollback from the log
// is refused with the way out, and the ExecutionResult `execute` returned rolls the change back.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import type {
  ExecutionContext,
  ExecutionOutcome,
  ExecutionRequest,
  Executor,
  PrecheckOutcome,
} from '@agent-safe/core';
import type { AgentSafe } from '../src/index.js';
import { readJsonl } from './helpers.js';
import { CALLER, openProject, writeExecutionProject } from './execution-project.js';

const OLD = 'postgres://app:old-hunter2@db';
const NEW = 'postgres://app:new-hunter3@db';
const PARAMS = { namespace: 'dev', configmap: 'settings', key: 'dsn', value: NEW };

/** An in-memory ConfigMap behind the executor port (a stand-in for the port, not for a server). */
class ConfigMapExecutor implements Executor {
  readonly name = 'in-memory';
  data: Record<string, string> = { dsn: OLD };
  version = 7;
  plan(): [] {
    return [];
  }
  async execute(request: ExecutionRequest, _context: ExecutionContext): Promise<ExecutionOutcome> {
    this.data = { ...this.data, [String(request.params.key)]: String(request.params.value) };
    this.version++;
    return { ok: true };
  }
  async readState(request: ExecutionRequest): Promise<Record<string, unknown>> {
    const key = String(request.params.key);
    return {
      ...(Object.hasOwn(this.data, key) ? { previous_value: this.data[key] } : {}),
      resource_version: String(this.version),
    };
  }
  async precheck(): Promise<PrecheckOutcome> {
    return { status: 'pass', reason: 'in memory' };
  }
}

const opened: AgentSafe[] = [];
afterEach(async () => {
  for (const safe of opened.splice(0)) await safe.close();
});

function setup() {
  const dir = writeExecutionProject();
  const safe = openProject(dir);
  opened.push(safe);
  return { dir, safe, log: join(dir, 'audit.jsonl') };
}

async function allow(safe: AgentSafe, params: Record<string, unknown> = PARAMS) {
  const decision = await safe.check({
    action: 'update-configmap',
    target: 'dev/settings',
    caller: CALLER,
    params,
  });
  expect(decision.result).toBe('ALLOW');
  return decision;
}

const MASKED = {
  masked_paths: [
    'params.value',
    'before_state.previous_value',
    'after_state.previous_value',
    'diff.previous_value',
  ],
  before_state: { previous_value: '***', resource_version: '7' },
  after_state: { previous_value: '***', resource_version: '8' },
  diff: {
    previous_value: { before: '***', after: '***' },
    resource_version: { before: '7', after: '8' },
  },
};

describe('sensitive state fields in the SDK', () => {
  it('recordState masks them like the runner does (same event fields), and returns what the log holds', async () => {
    const { safe, log } = setup();
    const ran = await safe.execute(await allow(safe), { executor: new ConfigMapExecutor() });
    expect(ran.status).toBe('succeeded');
    const recorded = await allow(safe);
    const record = await safe.recordState(
      recorded.auditId,
      { previous_value: OLD, resource_version: '7' },
      { previous_value: NEW, resource_version: '8' },
    );
    expect(record).toMatchObject({
      beforeState: MASKED.before_state,
      afterState: MASKED.after_state,
      diff: MASKED.diff,
    });
    await safe.close();
    const captures = (await readJsonl(log)).filter((event) => event.event_type === 'state_capture');
    expect(captures).toHaveLength(2);
    for (const capture of captures) expect(capture).toMatchObject(MASKED);
    const text = JSON.stringify(await readJsonl(log));
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('hunter3');
  });

  it('recordBeforeState then recordAfterState: masked, and the field shows as changed', async () => {
    const { safe, log } = setup();
    const decision = await allow(safe);
    await safe.recordBeforeState(decision.auditId, { previous_value: OLD });
    const record = await safe.recordAfterState(decision.auditId, { previous_value: NEW });
    expect(record).toMatchObject({
      beforeState: { previous_value: '***' },
      afterState: { previous_value: '***' },
      diff: { previous_value: { before: '***', after: '***' } },
    });
    await safe.close();
    const events = await readJsonl(log);
    expect(events.filter((event) => event.event_type === 'state_capture')[0]).toMatchObject({
      masked_paths: ['params.value', 'before_state.previous_value'],
      after_state: null,
    });
    expect(JSON.stringify(events)).not.toContain('hunter');
  });

  it('generateRollback(auditId) refuses the masked value; generateRollback(result) restores it', async () => {
    const { safe } = setup();
    const executor = new ConfigMapExecutor();
    const decision = await allow(safe);
    const result = await safe.execute(decision, { executor });
    expect(result).toMatchObject({ status: 'succeeded', beforeState: { previous_value: OLD } });
    expect(executor.data.dsn).toBe(NEW);

    expect(await safe.generateRollback(decision.auditId)).toEqual({
      ok: false,
      reason:
        'rollback param "value": before_state.previous_value is sensitive and was masked in the audit log; restore it from the ExecutionResult the runner returned, with generateRollback(captureFromResult(result, params)) (SDK: safe.generateRollback(result))',
    });
    await expect(safe.checkRollback(decision.auditId)).rejects.toMatchObject({ code: 'INPUT_INVALID' });

    const plan = await safe.generateRollback(result);
    expect(plan).toEqual({
      ok: true,
      plan: {
        action: 'update-configmap',
        target: 'dev/settings',
        params: { ...PARAMS, value: OLD },
        correlationId: decision.auditId,
      },
    });
    if (!plan.ok) return;
    const undo = await safe.check({ ...plan.plan, params: { ...plan.plan.params }, caller: CALLER });
    expect(undo).toMatchObject({ result: 'ALLOW', correlationId: decision.auditId });
    expect((await safe.execute(undo, { executor })).status).toBe('succeeded');
    expect(executor.data.dsn).toBe(OLD);
  });

  it('generateRollback(result) refuses what is not a result of this log', async () => {
    const { safe } = setup();
    await expect(safe.generateRollback({} as never)).rejects.toMatchObject({
      code: 'INPUT_INVALID',
      message: expect.stringContaining('result.auditIds.decision must be the audit id of a decision'),
    });
    const decision = await allow(safe);
    const result = await safe.execute(decision, { executor: new ConfigMapExecutor() });
    expect(await safe.generateRollback({ ...result, target: 'dev/web' })).toEqual({
      ok: false,
      reason: expect.stringMatching(/^no state capture of update-configmap on dev\/web for decision/),
    });
    const { beforeState: _before, ...stateless } = result;
    expect(await safe.generateRollback(stateless)).toEqual({
      ok: false,
      reason: expect.stringContaining('captured no before-state'),
    });
  });
});
