import { describe, expect, test } from '@jest/globals';
import { Runner } from '../src/index.js';
import { MemorySink, RecordingExecutor, catalogue, newClock, tickets } from './helpers.js';

const SCALE = { namespace: 'prod', deployment: 'web', replicas: 5 };

describe('Runner credentials', () => {
  test('the executor gets the credential value; only its id is audited', async () => {
    const clock = newClock();
    const { validator, issue } = tickets(clock);
    const sink = new MemorySink();
    const executor = new RecordingExecutor();
    let seen: unknown;
    executor.executeImpl = async (_request, context) => {
      seen = context.credentials;
      return { ok: true };
    };
    const runner = new Runner({
      actions: catalogue(),
      validator,
      auditSink: sink,
      clock,
      credentials: async () => ({
        value: 'token-s3cr3t',
        id: 'sa-agent-safe-1',
        revoke: async () => undefined,
      }),
    });
    const result = await runner.execute(await issue('scale-deployment', SCALE), { params: SCALE, executor });
    expect(result.status).toBe('succeeded');
    expect(seen).toBe('token-s3cr3t');
    const text = JSON.stringify(sink.events) + JSON.stringify(result);
    expect(text).not.toContain('token-s3cr3t');
    expect(text).toContain('sa-agent-safe-1');
  });

  test('a credential that fails to resolve refuses the run before any precheck', async () => {
    const clock = newClock();
    const { validator, issue } = tickets(clock);
    const executor = new RecordingExecutor();
    const runner = new Runner({
      actions: catalogue(),
      validator,
      auditSink: new MemorySink(),
      clock,
      credentials: async () => {
        throw new Error('TokenRequest forbidden');
      },
    });
    const result = await runner.execute(await issue('scale-deployment', SCALE), { params: SCALE, executor });
    expect(result).toMatchObject({ status: 'refused', error: { code: 'CREDENTIALS' } });
    expect(executor.calls).toEqual([]);
  });

  test('a credential that arrives after the run timed out is revoked when it arrives', async () => {
    const clock = newClock();
    const { validator, issue } = tickets(clock);
    const revoked: string[] = [];
    let deliver: (() => void) | undefined;
    const runner = new Runner({
      actions: catalogue(),
      validator,
      auditSink: new MemorySink(),
      clock,
      credentials: () =>
        new Promise((resolve) => {
          deliver = () =>
            resolve({ value: 'late', id: 'late-1', revoke: async () => void revoked.push('late-1') });
        }),
    });
    const executor = new RecordingExecutor();
    const result = await runner.execute(await issue('scale-deployment', SCALE), {
      params: SCALE,
      executor,
      timeoutMs: 20,
    });
    expect(result.status).toBe('timed_out');
    expect(executor.calls).toEqual([]);
    deliver?.();
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(revoked).toEqual(['late-1']);
  });

  test('a revoke that fails is reported in the result and the execution event', async () => {
    const clock = newClock();
    const { validator, issue } = tickets(clock);
    const sink = new MemorySink();
    const runner = new Runner({
      actions: catalogue(),
      validator,
      auditSink: sink,
      clock,
      credentials: async () => ({
        value: 'v',
        id: 'c-1',
        revoke: async () => {
          throw new Error('API server unreachable');
        },
      }),
    });
    const result = await runner.execute(await issue('scale-deployment', SCALE), {
      params: SCALE,
      executor: new RecordingExecutor(),
    });
    expect(result.status).toBe('succeeded');
    expect(result.error).toEqual({
      code: 'REVOKE_FAILED',
      message: 'credentials were not revoked: API server unreachable',
    });
    expect(sink.ofType('execution')[0]).toMatchObject({ errors: [{ code: 'REVOKE_FAILED' }] });
  });

  test('sensitive params are masked in the state capture', async () => {
    const clock = newClock();
    const { validator, issue } = tickets(clock);
    const sink = new MemorySink();
    const actions = catalogue((definition) => {
      if (definition.name !== 'update-configmap') return;
      for (const parameter of definition.parameters as Record<string, unknown>[]) {
        if (parameter.name === 'value') parameter.sensitive = true;
      }
    });
    const runner = new Runner({ actions, validator, auditSink: sink, clock });
    const executor = new RecordingExecutor();
    executor.state = { previous_value: 'old', resource_version: '7' };
    const params = { namespace: 'prod', configmap: 'settings', key: 'password', value: 'hunter2' };
    const result = await runner.execute(await issue('update-configmap', params), { params, executor });
    expect(result.status).toBe('succeeded');
    expect(sink.ofType('state_capture')[0]?.params).toEqual({ ...params, value: '***' });
    expect(JSON.stringify(sink.events)).not.toContain('hunter2');
  });
});
