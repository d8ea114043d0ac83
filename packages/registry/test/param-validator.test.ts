import { describe, expect, it } from '@jest/globals';
import { ActionRegistry } from '../src/index.js';
import { rawAction } from './helpers.js';

const registry = ActionRegistry.fromDefinitions([
  rawAction({
    name: 'scale-thing',
    parameters: [
      {
        name: 'namespace',
        type: 'string',
        constraints: { min_length: 1, max_length: 20, pattern: '[a-z]+' },
      },
      { name: 'replicas', type: 'integer', constraints: { min_value: 0, max_value: 100 } },
      { name: 'ratio', type: 'number', required: false, constraints: { min_value: 0, max_value: 1 } },
      { name: 'force', type: 'boolean', required: false, default: false },
      {
        name: 'command',
        type: 'array',
        required: false,
        default: ['echo', 'hi'],
        constraints: { max_length: 3 },
      },
      { name: 'options', type: 'object', required: false, default: { nested: { deep: true } } },
      { name: 'mode', type: 'string', required: false, constraints: { enum: ['fast', 'safe'] } },
      { name: 'toString', type: 'string', required: false },
    ],
  }),
  rawAction({ name: 'no-params', parameters: [] }),
]);

const valid = { namespace: 'payments', replicas: 3 };

function messages(params: unknown, action = 'scale-thing'): string[] {
  const result = registry.validateParams(action, params);
  return result.ok ? [] : result.errors.map((error) => error.message);
}

describe('validateParams', () => {
  it('accepts valid params and applies defaults to a new object', () => {
    const input = { ...valid };
    const result = registry.validateParams('scale-thing', input);
    expect(result).toEqual({
      ok: true,
      params: {
        namespace: 'payments',
        replicas: 3,
        force: false,
        command: ['echo', 'hi'],
        options: { nested: { deep: true } },
      },
    });
    expect(input).toEqual(valid);
    expect(result.ok && result.params).not.toBe(input);
  });

  it('copies array and object defaults so one caller cannot change another’s', () => {
    const first = registry.validateParams('scale-thing', valid);
    const second = registry.validateParams('scale-thing', valid);
    if (!first.ok || !second.ok) throw new Error('expected valid params');
    expect(first.params.command).not.toBe(second.params.command);
    expect(first.params.options).not.toBe(second.params.options);
    (first.params.command as string[]).push('rm');
    (first.params.options as { nested: Record<string, unknown> }).nested.deep = false;
    expect(registry.validateParams('scale-thing', valid)).toMatchObject({
      params: { command: ['echo', 'hi'], options: { nested: { deep: true } } },
    });
  });

  it('rejects params that are not a plain object', () => {
    for (const params of [null, undefined, [], 'replicas=3', 3, new Date(), new Map()]) {
      const result = registry.validateParams('scale-thing', params);
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.errors[0]).toMatchObject({ code: 'PARAMS_INVALID', path: 'params' });
    }
  });

  it('validates required params even when params is empty', () => {
    const result = registry.validateParams('scale-thing', {});
    expect(result).toEqual({
      ok: false,
      errors: [
        {
          code: 'PARAMS_INVALID',
          path: 'params.namespace',
          message: 'params.namespace: required parameter is missing',
        },
        {
          code: 'PARAMS_INVALID',
          path: 'params.replicas',
          message: 'params.replicas: required parameter is missing',
        },
      ],
    });
  });

  it('checks integers strictly: no numeric strings, booleans, fractions or NaN', () => {
    expect(messages({ ...valid, replicas: '3' })).toEqual([
      'params.replicas: expected an integer, got string "3"',
    ]);
    expect(messages({ ...valid, replicas: true })).toEqual([
      'params.replicas: expected an integer, got boolean true',
    ]);
    expect(messages({ ...valid, replicas: 2.5 })).toEqual([
      'params.replicas: expected an integer, got number 2.5',
    ]);
    expect(messages({ ...valid, replicas: Number.NaN })).toEqual([
      'params.replicas: expected an integer, got NaN',
    ]);
  });

  it('checks numbers are finite, and each other type', () => {
    expect(messages({ ...valid, ratio: Number.POSITIVE_INFINITY })).toEqual([
      'params.ratio: expected a finite number, got number Infinity',
    ]);
    expect(messages({ ...valid, force: 'true' })).toEqual([
      'params.force: expected a boolean, got string "true"',
    ]);
    expect(messages({ ...valid, command: 'ls' })).toEqual([
      'params.command: expected a list, got string "ls"',
    ]);
    expect(messages({ ...valid, options: ['a'] })).toEqual([
      'params.options: expected a mapping (plain object), got a list of 1 item',
    ]);
    expect(messages({ ...valid, namespace: 7 })).toEqual([
      'params.namespace: expected a string, got number 7',
    ]);
  });

  it('checks value and length bounds, pattern and enum with readable messages', () => {
    expect(messages({ ...valid, replicas: 101 })).toEqual(['params.replicas: 101 is above the maximum 100']);
    expect(messages({ ...valid, replicas: -1 })).toEqual(['params.replicas: -1 is below the minimum 0']);
    expect(messages({ ...valid, ratio: 1.5 })).toEqual(['params.ratio: 1.5 is above the maximum 1']);
    expect(messages({ ...valid, namespace: '' })).toEqual([
      'params.namespace: is 0 characters long, fewer than the minimum 1',
    ]);
    expect(messages({ ...valid, command: ['a', 'b', 'c', 'd'] })).toEqual([
      'params.command: has 4 items, more than the maximum 3',
    ]);
    expect(messages({ ...valid, namespace: 'Pay' })).toEqual([
      'params.namespace: "Pay" does not match the pattern [a-z]+',
    ]);
    expect(messages({ ...valid, mode: 'turbo' })).toEqual([
      'params.mode: "turbo" is not one of: "fast", "safe"',
    ]);
  });

  it('matches the pattern against the whole value, not a part of it', () => {
    expect(messages({ ...valid, namespace: 'ok; rm -rf' })).toHaveLength(1);
    expect(messages({ ...valid, namespace: 'pay\n' })).toHaveLength(1);
  });

  it('checks max_length before the pattern, so a huge value never reaches the regular expression', () => {
    expect(messages({ ...valid, namespace: 'a'.repeat(1_000_000) })).toEqual([
      'params.namespace: is 1000000 characters long, more than the maximum 20',
    ]);
  });

  it('rejects unknown params, naming each one', () => {
    expect(messages({ ...valid, evil_extra: 'hack', 'bad key!': 1 })).toEqual([
      'params.evil_extra: unknown parameter; scale-thing accepts: namespace, replicas, ratio, force, command, options, mode, toString',
      'params["bad key!"]: unknown parameter; scale-thing accepts: namespace, replicas, ratio, force, command, options, mode, toString',
    ]);
    expect(messages({ x: 1 }, 'no-params')).toEqual([
      'params.x: unknown parameter; no-params takes no parameters',
    ]);
  });

  it('reports all errors at once', () => {
    expect(messages({ replicas: 500, force: 1, extra: true })).toHaveLength(4);
  });

  it('caps the number of unknown-parameter errors from a hostile request', () => {
    const params: Record<string, unknown> = { ...valid };
    for (let index = 0; index < 10_000; index++) params[`k${index}`] = index;
    const found = messages(params);
    expect(found).toHaveLength(21);
    expect(found[20]).toBe('params: 9980 more unknown parameters');
  });

  it('handles __proto__, constructor and inherited names safely', () => {
    const hostile = JSON.parse(
      '{"namespace":"payments","replicas":3,"__proto__":{"admin":true},"constructor":1}',
    );
    expect(messages(hostile)).toEqual([
      expect.stringMatching(/^params.__proto__: unknown parameter/),
      expect.stringMatching(/^params.constructor: unknown parameter/),
    ]);
    // `toString` is inherited by every object: only an own property counts as given.
    const result = registry.validateParams('scale-thing', valid);
    expect(result.ok && Object.hasOwn(result.params, 'toString')).toBe(false);
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
  });

  it('accepts a null-prototype params object', () => {
    const params = Object.assign(Object.create(null), valid);
    expect(registry.validateParams('scale-thing', params).ok).toBe(true);
  });

  it('treats an explicitly undefined param as missing', () => {
    expect(messages({ ...valid, replicas: undefined })).toEqual([
      'params.replicas: required parameter is missing',
    ]);
  });

  it('reports an unknown action as ACTION_UNKNOWN instead of throwing', () => {
    expect(registry.validateParams('nope', {})).toEqual({
      ok: false,
      errors: [
        {
          code: 'ACTION_UNKNOWN',
          path: 'action',
          message: 'unknown action "nope"; it is not in the registry',
        },
      ],
    });
    expect(registry.validateParams('__proto__', {}).ok).toBe(false);
    expect(registry.validateParams(42 as unknown as string, {}).ok).toBe(false);
  });
});
