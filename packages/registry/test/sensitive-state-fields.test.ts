import { describe, expect, it } from '@jest/globals';
import { ActionRegistry, parseActionDefinition } from '../src/index.js';
import { rawAction } from './helpers.js';

describe('state_fields: sensitive', () => {
  it('parses `sensitive: true` (and leaves it out when false or absent)', () => {
    const { action, issues } = parseActionDefinition(
      rawAction({
        state_fields: [
          { name: 'previous_value', type: 'string', sensitive: true },
          { name: 'resource_version', type: 'string', sensitive: false },
          { name: 'replicas', type: 'integer' },
        ],
      }),
      'a.yaml',
    );
    expect(issues.filter((issue) => issue.severity !== 'warning')).toEqual([]);
    expect(action?.stateFields).toEqual([
      { name: 'previous_value', description: '', type: 'string', required: false, sensitive: true },
      { name: 'resource_version', description: '', type: 'string', required: false },
      { name: 'replicas', description: '', type: 'integer', required: false },
    ]);
  });

  it('round-trips through fromDefinitions (camelCase definitions)', () => {
    const action = parseActionDefinition(
      rawAction({ state_fields: [{ name: 'previous_value', type: 'string', sensitive: true }] }),
    ).action!;
    expect(ActionRegistry.fromDefinitions([action]).get('restart-widget')).toEqual(action);
  });

  it('rejects a non-boolean flag and still rejects a misspelt key', () => {
    const issues = parseActionDefinition(
      rawAction({
        state_fields: [
          { name: 'a', type: 'string', sensitive: 'yes' },
          { name: 'b', type: 'string', sensitve: true },
        ],
      }),
      'a.yaml',
    ).issues.filter((issue) => issue.severity !== 'warning');
    expect(issues.map(({ path, message }) => ({ path, message }))).toEqual([
      { path: 'state_fields[0].sensitive', message: 'expected true or false, got string "yes"' },
      { path: 'state_fields[1].sensitve', message: expect.stringContaining('sensitive') },
    ]);
  });
});
