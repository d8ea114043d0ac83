import { describe, expect, test } from '@jest/globals';
import { Runner } from '../src/index.js';
import { MemorySink, RecordingExecutor, catalogue, newClock, tickets } from './helpers.js';

const SCALE = { namespace: 'prod', deployment: 'web', replicas: 5 };

function setup(options: { edit?: (definition: Record<string, unknown>) => void } = {}) {
  const clock = newClock();
  const { validator, issue } = tickets(clock);
  const sink = new MemorySink();
  const revoked: string[] = [];
  const resolved: string[] = [];
  const runner = new Runner({
    actions: catalogue(options.edit),
    validator,
    auditSink: sink,
    clock,
    credentials: async () => {
      resolved.push('cred-1');
      return {
        value: { token: 'not-logged' },
        id: 'cred-1',
        revoke: async () => void revoked.push('cred-1'),
      };
    },
  });
  return { clock, issue, sink, runner, revoked, resolved, executor: new RecordingExecutor() };
}

describe('Runner pipeline', () => {
  test('runs the steps in order and audits started, steps, execution and state capture', async () => {
    const { issue, sink, runner, executor, revoked } = setup();
    const result = await runner.execute(await issue('scale-deployment', SCALE), { params: SCALE, executor });
    expect(result.status).toBe('succeeded');
    expect(executor.calls).toEqual([
      'precheck:deployment-exists',
      'precheck:hpa-not-managing',
      'precheck:quota-allows',
      'readState',
      'execute',
      'readState',
    ]);
    expect(result.steps.map((step) => step.name)).toEqual([
      'ticket',
      'credentials',
      'precheck:deployment-exists',
      'precheck:hpa-not-managing',
      'precheck:quota-allows',
      'before_state',
      'execute',
      'after_state',
      'revoke',
    ]);
    expect(revoked).toEqual(['cred-1']);
    expect(result.beforeState).toEqual({ replicas: 2, ready_replicas: 2 });
    expect(result.afterState).toEqual({ replicas: 5, ready_replicas: 2 });
    expect(result.diff).toEqual({ replicas: { before: 2, after: 5 } });
    expect(sink.types()).toEqual([
      'execution_started',
      'execution_step',
      'execution_step',
      'execution_step',
      'execution_step',
      'execution_step',
      'execution_step',
      'execution',
      'state_capture',
    ]);
    const [execution] = sink.ofType('execution');
    expect(execution).toMatchObject({
      status: 'succeeded',
      action: 'scale-deployment',
      target: 'prod/web',
      caller: 'deploy-bot',
      decision_audit_id: 'evt_decision1',
      correlation_id: 'evt_decision1',
    });
    expect(typeof execution?.duration_ms).toBe('number');
    const [capture] = sink.ofType('state_capture');
    expect(capture).toMatchObject({
      decision_audit_id: 'evt_decision1',
      before_state: { replicas: 2, ready_replicas: 2 },
      after_state: { replicas: 5, ready_replicas: 2 },
      diff: { replicas: { before: 2, after: 5 } },
      params: SCALE,
      execution_id: execution?.event_id,
    });
    expect(result.auditIds).toEqual({
      decision: 'evt_decision1',
      started: sink.events[0]?.event_id,
      execution: execution?.event_id,
      stateCapture: capture?.event_id,
    });
    expect(JSON.stringify(sink.events)).not.toContain('not-logged');
  });

  test('a replayed ticket is refused and nothing runs', async () => {
    const { issue, runner, executor, sink } = setup();
    const token = await issue('scale-deployment', SCALE);
    expect((await runner.execute(token, { params: SCALE, executor })).status).toBe('succeeded');
    executor.calls.length = 0;
    const again = await runner.execute(token, { params: SCALE, executor });
    expect(again.status).toBe('refused');
    expect(again.error?.code).toBe('TICKET_REPLAYED');
    expect(executor.calls).toEqual([]);
    expect(sink.ofType('execution').at(-1)).toMatchObject({ status: 'refused' });
  });

  test('a ticket for other params is refused: the runner acts on exactly what was approved', async () => {
    const { issue, runner, executor, resolved } = setup();
    const token = await issue('scale-deployment', SCALE);
    const result = await runner.execute(token, { params: { ...SCALE, replicas: 50 }, executor });
    expect(result).toMatchObject({ status: 'refused', error: { code: 'TICKET_PARAMS_MISMATCH' } });
    expect(executor.calls).toEqual([]);
    expect(resolved).toEqual([]);
  });

  test('params the action refuses (a shell payload as a name) never reach the validator or executor', async () => {
    const { issue, runner, executor } = setup();
    const bad = { ...SCALE, deployment: 'x; rm -rf /' };
    const result = await runner.execute(await issue('scale-deployment', bad), { params: bad, executor });
    expect(result).toMatchObject({ status: 'refused', error: { code: 'PARAMS_INVALID' } });
    expect(executor.calls).toEqual([]);
  });

  test('an expired ticket is refused', async () => {
    const { issue, runner, executor, clock } = setup();
    const token = await issue('scale-deployment', SCALE);
    clock.advance(61_000);
    const result = await runner.execute(token, { params: SCALE, executor });
    expect(result).toMatchObject({ status: 'refused', error: { code: 'TICKET_EXPIRED' } });
    expect(executor.calls).toEqual([]);
  });

  test('a failing precheck stops the run before execute, and is audited with its reason', async () => {
    const { issue, runner, executor, sink, revoked } = setup();
    executor.prechecks['deployment-exists'] = { status: 'fail', reason: 'deployments.apps "web" not found' };
    const result = await runner.execute(await issue('scale-deployment', SCALE), { params: SCALE, executor });
    expect(result).toMatchObject({ status: 'refused', error: { code: 'PRECHECK_FAILED' } });
    expect(result.error?.message).toContain('not found');
    expect(executor.calls).toEqual(['precheck:deployment-exists']);
    expect(revoked).toEqual(['cred-1']);
    const step = sink.ofType('execution_step').at(-1);
    expect(step?.step).toMatchObject({ name: 'precheck:deployment-exists', status: 'failed' });
  });

  test('a warning precheck does not stop the run', async () => {
    const { issue, runner, executor } = setup();
    executor.prechecks['hpa-not-managing'] = { status: 'warn', reason: 'an HPA targets web' };
    const result = await runner.execute(await issue('scale-deployment', SCALE), { params: SCALE, executor });
    expect(result.status).toBe('succeeded');
    expect(result.steps.find((step) => step.name === 'precheck:hpa-not-managing')?.status).toBe('warned');
  });

  test('force is refused where the definition allows none', async () => {
    const { issue, runner, executor, sink } = setup();
    executor.prechecks['quota-allows'] = { status: 'fail', reason: 'quota exhausted' };
    const result = await runner.execute(await issue('scale-deployment', SCALE), {
      params: SCALE,
      executor,
      force: true,
    });
    expect(result).toMatchObject({ status: 'refused', error: { code: 'FORCE_NOT_ALLOWED' }, forced: false });
    expect(executor.calls).not.toContain('execute');
    expect(sink.ofType('execution_started')[0]).toMatchObject({ force: true });
  });

  test('force overrides only prechecks marked force_allowed, and is audited', async () => {
    const { issue, runner, executor, sink } = setup({
      edit: (definition) => {
        if (definition.name !== 'scale-deployment') return;
        for (const check of definition.prechecks as Record<string, unknown>[]) {
          if (check.name === 'quota-allows') check.force_allowed = true;
        }
      },
    });
    executor.prechecks['quota-allows'] = { status: 'fail', reason: 'quota exhausted' };
    const withoutForce = await runner.execute(await issue('scale-deployment', SCALE), {
      params: SCALE,
      executor,
    });
    expect(withoutForce.status).toBe('refused');
    const forced = await runner.execute(await issue('scale-deployment', SCALE), {
      params: SCALE,
      executor,
      force: true,
    });
    expect(forced).toMatchObject({ status: 'succeeded', forced: true });
    expect(sink.ofType('execution').at(-1)).toMatchObject({ status: 'succeeded', forced: true });
    // A blocking precheck still stops a forced run.
    executor.prechecks['deployment-exists'] = { status: 'fail', reason: 'gone' };
    const blocked = await runner.execute(await issue('scale-deployment', SCALE), {
      params: SCALE,
      executor,
      force: true,
    });
    expect(blocked).toMatchObject({ status: 'refused', error: { code: 'FORCE_NOT_ALLOWED' } });
  });

  test('a timeout ends a hung execute as timed_out, captures the after-state and revokes', async () => {
    const { issue, runner, executor, revoked, sink } = setup();
    executor.executeImpl = () => new Promise(() => undefined);
    const result = await runner.execute(await issue('scale-deployment', SCALE), {
      params: SCALE,
      executor,
      timeoutMs: 50,
    });
    expect(result).toMatchObject({ status: 'timed_out', error: { code: 'TIMEOUT' } });
    // Nothing changed (execute never finished): the after-state read back equals the before-state.
    expect(Object.keys(result.beforeState ?? {}).length).toBeGreaterThan(0);
    expect(result.afterState).toEqual(result.beforeState);
    expect(revoked).toEqual(['cred-1']);
    expect(sink.ofType('execution')[0]).toMatchObject({ status: 'timed_out' });
  });

  test('cancellation through an AbortSignal reaches the executor and ends the run as cancelled', async () => {
    const { issue, runner, executor } = setup();
    const controller = new AbortController();
    let sawAbort = false;
    executor.executeImpl = (_request, context) =>
      new Promise((_resolve, reject) => {
        context.signal.addEventListener('abort', () => {
          sawAbort = true;
          reject(new Error('aborted'));
        });
        setTimeout(() => controller.abort(), 5);
      });
    const result = await runner.execute(await issue('scale-deployment', SCALE), {
      params: SCALE,
      executor,
      signal: controller.signal,
    });
    expect(result).toMatchObject({ status: 'cancelled', error: { code: 'CANCELLED' } });
    expect(sawAbort).toBe(true);
  });

  test('credentials are revoked when the executor fails, and the failure is audited', async () => {
    const { issue, runner, executor, revoked, sink } = setup();
    executor.executeImpl = async () => ({ ok: false, error: 'the server said 409 Conflict' });
    const result = await runner.execute(await issue('scale-deployment', SCALE), { params: SCALE, executor });
    expect(result).toMatchObject({ status: 'failed', error: { code: 'EXECUTION_FAILED' } });
    expect(revoked).toEqual(['cred-1']);
    expect(result.steps.at(-1)).toMatchObject({ name: 'revoke', status: 'ok' });
    expect(sink.ofType('execution')[0]).toMatchObject({
      status: 'failed',
      reason: 'the server said 409 Conflict',
    });
  });

  test('credentials are revoked when the executor throws', async () => {
    const { issue, runner, executor, revoked } = setup();
    executor.executeImpl = async () => {
      throw new Error('socket hang up');
    };
    const result = await runner.execute(await issue('scale-deployment', SCALE), { params: SCALE, executor });
    expect(result).toMatchObject({ status: 'failed', error: { message: 'socket hang up' } });
    expect(revoked).toEqual(['cred-1']);
  });

  test('an audit log that refuses execution_started stops the run before anything acts', async () => {
    const { issue, runner, executor, sink, resolved } = setup();
    sink.failOn = 'execution_started';
    const result = await runner.execute(await issue('scale-deployment', SCALE), { params: SCALE, executor });
    expect(result).toMatchObject({ status: 'refused', error: { code: 'AUDIT' } });
    expect(executor.calls).toEqual([]);
    expect(resolved).toEqual([]);
  });

  test('a crash mid-run leaves started and step events showing how far it got', async () => {
    const { issue, runner, executor, sink } = setup();
    executor.readState = async () => {
      throw new Error('connection refused');
    };
    const result = await runner.execute(await issue('scale-deployment', SCALE), { params: SCALE, executor });
    expect(result).toMatchObject({ status: 'refused', error: { code: 'STATE_CAPTURE' } });
    expect(executor.calls).not.toContain('execute');
    const steps = sink.ofType('execution_step').map((event) => (event.step as { name: string }).name);
    expect(steps).toEqual([
      'credentials',
      'precheck:deployment-exists',
      'precheck:hpa-not-managing',
      'precheck:quota-allows',
    ]);
  });
});
