import { describe, expect, it } from '@jest/globals';
import { parseActionDefinition } from '../src/index.js';
import { rawAction } from './helpers.js';

function errorsOf(raw: unknown): { path?: string; message: string }[] {
  return parseActionDefinition(raw, 'a.yaml')
    .issues.filter((issue) => issue.severity !== 'warning')
    .map(({ path, message }) => (path === undefined ? { message } : { path, message }));
}

describe('parseActionDefinition', () => {
  it('converts the YAML schema to camelCase with defaults', () => {
    const { action, issues } = parseActionDefinition(
      rawAction({
        parameters: [
          { name: 'widget', type: 'string', constraints: { max_length: 10, pattern: '[a-z]+' } },
          {
            name: 'count',
            type: 'integer',
            required: false,
            default: 2,
            constraints: { min_value: 1, max_value: 5 },
          },
          { name: 'token', type: 'string', sensitive: true, required: false },
        ],
        credentials: { type: 'kubernetes', fields: { verbs: ['get'] } },
        state_fields: [{ name: 'count', type: 'integer' }],
        rollback_params: { count: { source: 'before_state.count' } },
        reversible: true,
        rollback_action: 'restart-widget',
      }),
      'a.yaml',
    );
    expect(issues.filter((issue) => issue.severity !== 'warning')).toEqual([]);
    expect(action).toEqual({
      name: 'restart-widget',
      version: '1.0.0',
      description: 'Restart a widget',
      parameters: [
        {
          name: 'widget',
          type: 'string',
          required: true,
          description: '',
          sensitive: false,
          constraints: { maxLength: 10, pattern: '[a-z]+' },
        },
        {
          name: 'count',
          type: 'integer',
          required: false,
          description: '',
          sensitive: false,
          default: 2,
          constraints: { minValue: 1, maxValue: 5 },
        },
        { name: 'token', type: 'string', required: false, description: '', sensitive: true },
      ],
      riskClass: 'low',
      targetTypes: ['widget'],
      prechecks: [],
      reversible: true,
      rollbackAction: 'restart-widget',
      requiredPrivileges: [],
      tags: [],
      credentials: { type: 'kubernetes', fields: { verbs: ['get'] }, ttl: 300 },
      stateFields: [{ name: 'count', description: '', type: 'integer', required: false }],
      rollbackParams: { count: { source: 'before_state.count' } },
    });
    expect(Object.isFrozen(action)).toBe(true);
    expect(Object.isFrozen(action?.parameters[0]?.constraints)).toBe(true);
  });

  it('defaults optional fields: no credentials, no rollback, not reversible', () => {
    const { action } = parseActionDefinition(rawAction({ parameters: undefined }));
    expect(action).toMatchObject({
      parameters: [],
      reversible: false,
      rollbackAction: null,
      credentials: null,
      rollbackParams: null,
      stateFields: [],
    });
  });

  it('names the field path and what was expected', () => {
    const errors = errorsOf(
      rawAction({
        parameters: [
          { name: 'a', type: 'string' },
          { name: 'b', type: 'string' },
          { name: 'c', type: 'integer', constraints: { min_value: 'ten' } },
        ],
      }),
    );
    expect(errors).toEqual([
      { path: 'parameters[2].constraints.min_value', message: 'expected a number, got string "ten"' },
    ]);
  });

  it('reports every problem in the definition, not only the first', () => {
    const errors = errorsOf({
      name: 'Bad Name',
      version: 1.0,
      risk_class: 'extreme',
      target_types: [],
      parameters: [{ name: 'x', type: 'float' }],
      reversible: 'yes',
    });
    expect(errors.map((error) => error.path)).toEqual([
      'name',
      'version',
      'description',
      'risk_class',
      'target_types',
      'parameters[0].type',
      'reversible',
    ]);
    expect(errors[1]?.message).toBe(
      'expected a semantic version like "1.0.0" (quote it in YAML), got number 1',
    );
    expect(errors[3]?.message).toBe('expected one of low, medium, high, critical, got string "extreme"');
    expect(errors[4]?.message).toBe('expected at least one entry');
  });

  it('rejects unknown top-level fields with a suggestion, but allows x- extensions', () => {
    const errors = errorsOf(rawAction({ risk_clas: 'low', 'x-team': 'payments' }));
    expect(errors).toHaveLength(1);
    expect(errors[0]?.path).toBe('risk_clas');
    expect(errors[0]?.message).toContain('did you mean "risk_class"?');
  });

  it('rejects unknown fields inside parameters and constraints (a typo must not drop a constraint)', () => {
    const errors = errorsOf(
      rawAction({
        parameters: [
          { name: 'n', type: 'integer', constraint: { max_value: 3 }, constraints: { maxvalue: 3 } },
        ],
      }),
    );
    expect(errors.map((error) => error.path)).toEqual([
      'parameters[0].constraint',
      'parameters[0].constraints.maxvalue',
    ]);
  });

  it('rejects duplicate parameter names', () => {
    const errors = errorsOf(
      rawAction({
        parameters: [
          { name: 'x', type: 'string' },
          { name: 'x', type: 'integer' },
        ],
      }),
    );
    expect(errors).toEqual([
      { path: 'parameters[1].name', message: 'duplicate parameter name "x" (also at parameters[0])' },
    ]);
  });

  it('requires a default to satisfy its own parameter', () => {
    expect(
      errorsOf(
        rawAction({
          parameters: [{ name: 'n', type: 'integer', default: 500, constraints: { max_value: 100 } }],
        }),
      ),
    ).toEqual([
      {
        path: 'parameters[0].default',
        message: 'the default does not satisfy the parameter: 500 is above the maximum 100',
      },
    ]);
    expect(
      errorsOf(rawAction({ parameters: [{ name: 'n', type: 'integer', default: 'five' }] }))[0]?.message,
    ).toBe('the default does not satisfy the parameter: expected an integer, got string "five"');
  });

  it('reports a pattern that does not compile', () => {
    const errors = errorsOf(
      rawAction({ parameters: [{ name: 's', type: 'string', constraints: { pattern: '([a-z' } }] }),
    );
    expect(errors).toHaveLength(1);
    expect(errors[0]?.path).toBe('parameters[0].constraints.pattern');
    expect(errors[0]?.message).toContain('expected a regular expression');
  });

  it('warns about a pattern without max_length', () => {
    const { action, issues } = parseActionDefinition(
      rawAction({ parameters: [{ name: 's', type: 'string', constraints: { pattern: '[a-z]+' } }] }),
    );
    expect(action?.parameters[0]?.constraints?.pattern).toBe('[a-z]+');
    expect(issues).toEqual([
      expect.objectContaining({ severity: 'warning', path: 'parameters[0].constraints.pattern' }),
    ]);
  });

  it('rejects constraints that cannot apply to the type, or contradict each other', () => {
    const errors = errorsOf(
      rawAction({
        parameters: [
          { name: 'a', type: 'string', constraints: { min_value: 1 } },
          { name: 'b', type: 'integer', constraints: { max_length: 3 } },
          { name: 'c', type: 'integer', constraints: { min_value: 5, max_value: 1 } },
          { name: 'd', type: 'string', constraints: { min_length: -1 } },
          { name: 'e', type: 'integer', constraints: { enum: [1, 'two'] } },
        ],
      }),
    );
    expect(errors.map((error) => error.path)).toEqual([
      'parameters[0].constraints.min_value',
      'parameters[1].constraints.max_length',
      'parameters[2].constraints.min_value',
      'parameters[3].constraints.min_length',
      'parameters[4].constraints.enum[1]',
    ]);
  });

  it('rejects __proto__ as a parameter name', () => {
    expect(errorsOf(rawAction({ parameters: [{ name: '__proto__', type: 'string' }] }))[0]?.path).toBe(
      'parameters[0].name',
    );
  });

  it('checks credentials, state fields and rollback params', () => {
    const errors = errorsOf(
      rawAction({
        credentials: { type: 'aws', fields: [], ttl: 0 },
        state_fields: [{ name: 'x', type: 'whatever' }],
        rollback_params: { widget: { source: 'params.nope' }, other: { source: 'somewhere' } },
      }),
    );
    expect(errors.map((error) => error.path)).toEqual([
      'credentials.fields',
      'credentials.ttl',
      'state_fields[0].type',
      'rollback_params.widget.source',
      'rollback_params.other.source',
    ]);
  });

  it('reports an empty file and a non-mapping', () => {
    expect(errorsOf(null)[0]?.message).toContain('the file is empty');
    expect(errorsOf(['a'])[0]?.message).toBe(
      'expected a mapping of action fields (name, version, risk_class …), got a list of 1 item',
    );
  });

  it('never throws on hostile shapes', () => {
    for (const raw of [
      42,
      'x',
      true,
      { parameters: 'x' },
      { parameters: [null, 1, []] },
      { target_types: [1] },
    ]) {
      const result = parseActionDefinition(raw);
      expect(result.action).toBeUndefined();
      expect(result.issues.length).toBeGreaterThan(0);
    }
  });
});
