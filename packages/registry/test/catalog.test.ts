import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { ActionRegistry, type ActionRegistryLoadOptions } from '../src/index.js';

// The curated Kubernetes catalogue shipped in the repository (catalog/kubernetes).
const CATALOG = join(import.meta.dirname, '..', '..', '..', 'catalog', 'kubernetes');
const options: ActionRegistryLoadOptions = { manifest: 'verify' };

const EXPECTED = [
  'restart-deployment',
  'scale-deployment',
  'rollout-status',
  'rollout-undo',
  'update-image',
  'delete-pod',
  'get-pod-logs',
  'exec-pod',
  'port-forward',
  'cordon-node',
  'uncordon-node',
  'drain-node',
  'create-namespace',
  'delete-namespace',
  'get-configmap',
  'update-configmap',
  'get-secret',
  'scale-hpa',
  'update-hpa-limits',
  'apply-network-policy',
];

describe('the Kubernetes catalogue', () => {
  it('holds exactly the 20 curated actions, each fully described', async () => {
    const registry = await ActionRegistry.load(CATALOG, options);
    expect(registry.names()).toEqual([...EXPECTED].sort());
    for (const action of registry.list()) {
      expect(['low', 'medium', 'high', 'critical']).toContain(action.riskClass);
      expect(action.targetTypes.length).toBeGreaterThan(0);
      expect(action.tags.length).toBeGreaterThan(0);
      for (const parameter of action.parameters) {
        expect(['string', 'integer', 'number', 'boolean', 'array', 'object']).toContain(parameter.type);
      }
      if (action.reversible) {
        expect({ action: action.name, rollback: action.rollbackAction }).toEqual({
          action: action.name,
          rollback: expect.any(String),
        });
        expect(registry.has(action.rollbackAction!)).toBe(true);
      }
    }
  });
});
