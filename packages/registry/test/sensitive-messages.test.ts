import { describe, expect, it } from '@jest/globals';
import { ActionRegistry } from '../src/index.js';

const SECRET = 'hunter2-Secret';

/** One action with one sensitive parameter per constraint kind, and a non-sensitive twin for contrast. */
const registry = ActionRegistry.fromDefinitions([
  {
    name: 'set-secret',
    version: '1.0.0',
    description: 'Writes values that must never be echoed',
    risk_class: 'high',
    target_types: ['k8s-secret'],
    parameters: [
      {
        name: 'pattern',
        type: 'string',
        required: false,
        sensitive: true,
        constraints: { max_length: 64, pattern: '^[a-z]+$' },
      },
      {
        name: 'choice',
        type: 'string',
        required: false,
        sensitive: true,
        constraints: { enum: ['alpha', 'beta'] },
      },
      {
        name: 'short',
        type: 'string',
        required: false,
        sensitive: true,
        constraints: { min_length: 20, max_length: 64 },
      },
      { name: 'long', type: 'string', required: false, sensitive: true, constraints: { max_length: 4 } },
      { name: 'typed', type: 'integer', required: false, sensitive: true },
      {
        name: 'pin',
        type: 'integer',
        required: false,
        sensitive: true,
        constraints: { min_value: 1000, max_value: 9999 },
      },
      {
        name: 'numeric-choice',
        type: 'integer',
        required: false,
        sensitive: true,
        constraints: { enum: [1, 2] },
      },
      { name: 'open', type: 'string', required: false, constraints: { max_length: 64, pattern: '^[a-z]+$' } },
    ],
  },
]);

function messages(params: Record<string, unknown>): string {
  const result = registry.validateParams('set-secret', params);
  expect(result.ok).toBe(false);
  return result.ok ? '' : result.errors.map((error) => error.message).join('\n');
}

describe('messages about sensitive params never contain their value', () => {
  it.each([
    [
      'pattern',
      { pattern: SECRET },
      'params.pattern: (sensitive value, 14 characters) does not match the pattern ^[a-z]+$',
    ],
    [
      'enum',
      { choice: SECRET },
      'params.choice: (sensitive value, 14 characters) is not one of: "alpha", "beta"',
    ],
    ['min_length', { short: SECRET }, 'params.short: is 14 characters long, fewer than the minimum 20'],
    ['max_length', { long: SECRET }, 'params.long: is 14 characters long, more than the maximum 4'],
    [
      'type (string given for an integer)',
      { typed: SECRET },
      'params.typed: expected an integer, got (sensitive value, 14 characters)',
    ],
    [
      'type (number given)',
      { typed: 31337.5 },
      'params.typed: expected an integer, got (sensitive value, a number)',
    ],
    ['min_value', { pin: 42 }, 'params.pin: (sensitive value, a number) is below the minimum 1000'],
    ['max_value', { pin: 31337 }, 'params.pin: (sensitive value, a number) is above the maximum 9999'],
    [
      'numeric enum',
      { 'numeric-choice': 31337 },
      'params.numeric-choice: (sensitive value, a number) is not one of: 1, 2',
    ],
  ])('%s', (_kind, params, expected) => {
    const text = messages(params);
    expect(text).toBe(expected);
    for (const value of Object.values(params)) {
      const shown = String(value);
      expect(text).not.toContain(shown);
      // Not even a fragment of it.
      if (shown.length > 4) expect(text).not.toContain(shown.slice(0, 4));
    }
  });

  it('still names the value of a parameter that is not sensitive', () => {
    expect(messages({ open: 'Not-Secret' })).toBe(
      'params.open: "Not-Secret" does not match the pattern ^[a-z]+$',
    );
  });

  it('keeps a long sensitive value out of the message too (no truncated prefix)', () => {
    const long = `${SECRET}${'x'.repeat(100)}`;
    const text = messages({ pattern: long });
    expect(text).toBe('params.pattern: is 114 characters long, more than the maximum 64');
    expect(text).not.toContain('hunter');
  });
});
