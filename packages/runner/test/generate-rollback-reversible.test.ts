import { describe, expect, test } from '@jest/globals';
import { generateRollback } from '../src/index.js';
import { catalogue } from './helpers.js';

const registry = catalogue();

describe('generateRollback refuses actions that are not reversible', () => {
  test('drain-node names uncordon-node, but evicted pods do not come back: no rollback plan', () => {
    const result = generateRollback(
      {
        action: 'drain-node',
        target: 'node-1',
        params: { node: 'node-1' },
        beforeState: { unschedulable: false },
      },
      registry,
    );
    expect(result.ok).toBe(false);
    expect(!result.ok && result.reason).toBe(
      'action "drain-node" is not reversible (reversible: false in its definition); its rollback_action "uncordon-node" only partly undoes it: request that action yourself through check() if it is what you want',
    );
  });

  test('the same action marked reversible gets its plan', () => {
    const reversible = catalogue((definition) => {
      if (definition.name === 'drain-node') definition.reversible = true;
    });
    expect(
      generateRollback(
        {
          action: 'drain-node',
          target: 'node-1',
          params: { node: 'node-1' },
          beforeState: { unschedulable: false },
        },
        reversible,
      ),
    ).toEqual({ ok: true, plan: { action: 'uncordon-node', target: 'node-1', params: { node: 'node-1' } } });
  });

  test('a missing rollback_params mapping is named in the reason', () => {
    const unmapped = catalogue((definition) => {
      if (definition.name === 'scale-deployment') delete definition.rollback_params;
    });
    const result = generateRollback(
      {
        action: 'scale-deployment',
        target: 'prod/web',
        params: { namespace: 'prod', deployment: 'web', replicas: 1 },
        beforeState: { replicas: 3 },
      },
      unmapped,
    );
    expect(!result.ok && result.reason).toMatch(/declares no rollback_params/);
  });
});
