import { describe, expect, test } from '@jest/globals';
import { Runner, generateRollback } from '../src/index.js';
import { MemorySink, RecordingExecutor, catalogue, newClock, tickets } from './helpers.js';

const registry = catalogue();

describe('generateRollback', () => {
  test('scale-deployment: replicas come from the state the runner captured', async () => {
    const clock = newClock();
    const { validator, issue } = tickets(clock);
    const sink = new MemorySink();
    const runner = new Runner({ actions: registry, validator, auditSink: sink, clock });
    const executor = new RecordingExecutor();
    executor.state = { replicas: 4, ready_replicas: 4 };
    const params = { namespace: 'prod', deployment: 'web', replicas: 1 };
    const result = await runner.execute(await issue('scale-deployment', params), { params, executor });
    expect(result.status).toBe('succeeded');
    expect(generateRollback(sink.events, registry)).toEqual({
      ok: true,
      plan: {
        action: 'scale-deployment',
        target: 'prod/web',
        params: { namespace: 'prod', deployment: 'web', replicas: 4 },
        correlationId: 'evt_decision1',
      },
    });
  });

  test('update-image restores the captured image; nested paths are read', () => {
    const base = {
      action: 'update-image',
      target: 'prod/web',
      params: { namespace: 'prod', deployment: 'web', container: 'app', image: 'nginx:1.27' },
      beforeState: { image: 'nginx:1.25', generation: 3, revision: 2 },
    };
    expect(generateRollback(base, registry)).toMatchObject({
      ok: true,
      plan: { action: 'update-image', params: { image: 'nginx:1.25', container: 'app' } },
    });
  });

  test('cordon-node rolls back to uncordon-node with the same node', () => {
    expect(
      generateRollback(
        {
          action: 'cordon-node',
          target: 'node-1',
          params: { node: 'node-1' },
          beforeState: { unschedulable: false },
        },
        registry,
      ),
    ).toEqual({ ok: true, plan: { action: 'uncordon-node', target: 'node-1', params: { node: 'node-1' } } });
  });

  test('scale-hpa and update-hpa-limits read every limit from the before-state', () => {
    expect(
      generateRollback(
        {
          action: 'scale-hpa',
          target: 'prod/web',
          params: { namespace: 'prod', hpa: 'web', min_replicas: 5, max_replicas: 9 },
          beforeState: { min_replicas: 2, max_replicas: 6, current_replicas: 3 },
        },
        registry,
      ),
    ).toMatchObject({
      ok: true,
      plan: { params: { namespace: 'prod', hpa: 'web', min_replicas: 2, max_replicas: 6 } },
    });
  });

  test('a before-state without the field is a clear failure, not a guess', () => {
    const result = generateRollback(
      {
        action: 'scale-deployment',
        target: 'prod/web',
        params: { namespace: 'prod', deployment: 'web', replicas: 1 },
        beforeState: {},
      },
      registry,
    );
    expect(result).toEqual({
      ok: false,
      reason:
        'rollback param "replicas": before_state.replicas was not captured (the before-state has no such field)',
    });
  });

  test('a captured value the rollback action refuses is reported', () => {
    const result = generateRollback(
      {
        action: 'scale-deployment',
        target: 'prod/web',
        params: { namespace: 'prod', deployment: 'web', replicas: 1 },
        beforeState: { replicas: 1000 },
      },
      registry,
    );
    expect(result.ok).toBe(false);
    expect(!result.ok && result.reason).toMatch(/not valid for scale-deployment/);
  });

  test('actions without rollback_action, and logs without a state capture, say so', () => {
    expect(
      generateRollback(
        {
          action: 'restart-deployment',
          target: 'prod/web',
          params: { namespace: 'prod', deployment: 'web' },
          beforeState: {},
        },
        registry,
      ),
    ).toEqual({ ok: false, reason: 'action "restart-deployment" declares no rollback_action' });
    expect(
      generateRollback([{ event_id: 'e', timestamp: '', event_type: 'decision' }], registry),
    ).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/no state_capture event/),
    });
  });
});
