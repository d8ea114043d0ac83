import { describe, expect, test } from '@jest/globals';
import { generateRollback } from '../src/index.js';
import { catalogue } from './helpers.js';

const registry = catalogue();
const base = {
  action: 'update-hpa-limits',
  target: 'prod/web',
  params: { namespace: 'prod', hpa: 'web', target_cpu_percent: 55 },
};

describe('generateRollback with state fields the object did not have', () => {
  test('an HPA without a memory target: the rollback restores the CPU target and leaves memory out', () => {
    expect(generateRollback({ ...base, beforeState: { target_cpu_percent: 70 } }, registry)).toEqual({
      ok: true,
      plan: {
        action: 'update-hpa-limits',
        target: 'prod/web',
        params: { namespace: 'prod', hpa: 'web', target_cpu_percent: 70 },
      },
    });
  });

  test('a required rollback param is never guessed: scale-deployment without captured replicas has no plan', () => {
    const result = generateRollback(
      {
        action: 'scale-deployment',
        target: 'prod/web',
        params: { namespace: 'prod', deployment: 'web', replicas: 3 },
        beforeState: { ready_replicas: 2 },
      },
      registry,
    );
    expect(result).toEqual({
      ok: false,
      reason:
        'rollback param "replicas": before_state.replicas was not captured (the before-state has no such field)',
    });
  });
});
