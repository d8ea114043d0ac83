// State fields marked `sensitive` (update-configmap's previous_value) are masked in the audit log's
// state capture, like sensitive params; the ExecutionResult keeps the real values, and a rollback is
// built from it (the log's mask is refused, never written back).
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from '@jest/globals';
import { ActionRegistry } from '@agent-safe/registry';
import {
  MASKED_VALUE,
  Runner,
  captureFromResult,
  generateRollback,
  maskCapturedState,
} from '../src/index.js';
import { MemorySink, RecordingExecutor, newClock, tickets } from './helpers.js';

const CATALOG = join(import.meta.dirname, '..', '..', '..', 'catalog', 'kubernetes');
const OLD = 'postgres://app:old-hunter2@db';
const NEW = 'postgres://app:new-hunter3@db';
const PARAMS = { namespace: 'prod', configmap: 'settings', key: 'dsn', value: NEW };

let registry: ActionRegistry;
beforeAll(async () => {
  registry = await ActionRegistry.load(CATALOG);
});

/** Runs update-configmap through the runner; the executor's object changes from OLD to NEW. */
async function runUpdate() {
  const clock = newClock();
  const { validator, issue } = tickets(clock);
  const sink = new MemorySink();
  const runner = new Runner({ actions: registry, validator, auditSink: sink, clock });
  const executor = new RecordingExecutor();
  executor.state = { previous_value: OLD, resource_version: '7' };
  executor.executeImpl = async () => {
    executor.state = { previous_value: NEW, resource_version: '8' };
    return { ok: true };
  };
  const result = await runner.execute(await issue('update-configmap', PARAMS, 'prod/settings'), {
    params: PARAMS,
    executor,
  });
  return { result, sink };
}

describe('sensitive state fields', () => {
  test('the catalogue marks update-configmap previous_value sensitive', () => {
    const fields = registry.get('update-configmap')?.stateFields;
    expect(fields?.find((field) => field.name === 'previous_value')?.sensitive).toBe(true);
    expect(fields?.find((field) => field.name === 'resource_version')?.sensitive).toBeUndefined();
  });

  test('the runner masks them in before_state, after_state and diff; the result keeps the values', async () => {
    const { result, sink } = await runUpdate();
    expect(result.status).toBe('succeeded');
    expect(result.beforeState).toEqual({ previous_value: OLD, resource_version: '7' });
    expect(result.afterState).toEqual({ previous_value: NEW, resource_version: '8' });
    expect(result.diff?.previous_value).toEqual({ before: OLD, after: NEW });
    const [capture] = sink.ofType('state_capture');
    expect(capture).toMatchObject({
      params: { ...PARAMS, value: MASKED_VALUE },
      masked_paths: [
        'params.value',
        'before_state.previous_value',
        'after_state.previous_value',
        'diff.previous_value',
      ],
      before_state: { previous_value: MASKED_VALUE, resource_version: '7' },
      after_state: { previous_value: MASKED_VALUE, resource_version: '8' },
      diff: {
        previous_value: { before: MASKED_VALUE, after: MASKED_VALUE },
        resource_version: { before: '7', after: '8' },
      },
    });
    const logged = JSON.stringify(sink.events);
    expect(logged).not.toContain('hunter2');
    expect(logged).not.toContain('hunter3');
  });

  test('generateRollback refuses the masked before-state of the log, with the way out', async () => {
    const { sink } = await runUpdate();
    expect(generateRollback(sink.events, registry)).toEqual({
      ok: false,
      reason:
        'rollback param "value": before_state.previous_value is sensitive and was masked in the audit log; restore it from the ExecutionResult the runner returned, with generateRollback(captureFromResult(result, params)) (SDK: safe.generateRollback(result))',
    });
  });

  test('the rollback from the in-memory result restores the real previous value', async () => {
    const { result } = await runUpdate();
    expect(generateRollback(captureFromResult(result, PARAMS), registry)).toEqual({
      ok: true,
      plan: {
        action: 'update-configmap',
        target: 'prod/settings',
        params: { ...PARAMS, value: OLD },
        correlationId: 'evt_decision1',
      },
    });
  });

  test('captureFromResult refuses what is not a result, and a run that captured no state', async () => {
    expect(() => captureFromResult(undefined as never, PARAMS)).toThrow(
      'captureFromResult needs the ExecutionResult that Runner.execute (or safe.execute) returned',
    );
    const { result } = await runUpdate();
    expect(() => captureFromResult(result, 'x' as never)).toThrow('needs the params of the run');
    const { beforeState: _before, ...refused } = { ...result, status: 'refused' as const };
    expect(() => captureFromResult(refused, PARAMS)).toThrow(
      'the run of update-configmap captured no before-state (status refused: it stopped before acting), so there is nothing to roll back',
    );
  });

  test('a key that was absent stays absent in the masked diff; nothing sensitive leaves objects as they are', () => {
    const definition = registry.get('update-configmap');
    const masked = maskCapturedState(
      definition,
      { resource_version: '7' },
      { previous_value: NEW, resource_version: '8' },
      { previous_value: { before: undefined, after: NEW }, resource_version: { before: '7', after: '8' } },
    );
    expect(masked.diff?.previous_value).toEqual({ before: undefined, after: MASKED_VALUE });
    expect(masked.maskedPaths).toEqual(['after_state.previous_value', 'diff.previous_value']);
    const before = { replicas: 2 };
    const plain = maskCapturedState(registry.get('scale-deployment'), before, null, null);
    expect(plain).toEqual({ beforeState: before, afterState: null, diff: null, maskedPaths: [] });
    expect(plain.beforeState).toBe(before);
  });
});
