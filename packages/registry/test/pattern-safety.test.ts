import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { ActionRegistry } from '../src/index.js';
import { MAX_PATTERN_INPUT_LENGTH } from '../src/param-validator.js';
import { patternSafetyProblem } from '../src/pattern-safety.js';
import { removeTempDirs, tempDir, thrown, writeFiles } from './helpers.js';

afterEach(removeTempDirs);

const CATALOG = join(import.meta.dirname, '..', '..', '..', 'catalog', 'kubernetes');
const AWS_CATALOG = join(import.meta.dirname, '..', '..', '..', 'catalog', 'aws');

function withPattern(pattern: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'label-thing',
    version: '1.0.0',
    description: 'd',
    risk_class: 'low',
    target_types: ['thing'],
    parameters: [
      { name: 'label', type: 'string', required: true, constraints: { max_length: 64, pattern, ...extra } },
    ],
  };
}

describe('patterns that can backtrack catastrophically are refused when they load', () => {
  it.each([
    ['(a|a)+b', /exponentially many ways/],
    ['(a+)+$', /exponentially many ways/],
    ['(.*a){20}', /exponentially many ways/],
    ['(a*)*b', /exponentially many ways/],
    ['^(\\w+\\s?)*$', /exponentially many ways/],
    ['(x+x+)+y', /exponentially many ways/],
    ['a*a*a*b', /adjacent repetitions that overlap/],
    ['^\\d+\\.?\\d*$', /adjacent repetitions that overlap/],
    ['^[a-z]+[a-z0-9]*$', /adjacent repetitions that overlap/],
    ['(a)\\1', /backreference/],
    ['(?<x>a)\\k<x>', /backreference/],
    ['(?<=a)b', /lookbehind/],
    ['^(?!(a|a)+b)[a-z]+$', /exponentially many ways/],
  ])('%s', (pattern, rule) => {
    const error = thrown(() => ActionRegistry.fromDefinitions([withPattern(pattern)]));
    expect(error.code).toBe('CONFIG_INVALID');
    const issue = error.issues[0]!;
    expect(issue.path).toBe('parameters[0].constraints.pattern');
    expect(issue.message).toMatch(/^parameter "label" of action "label-thing": pattern .* is refused/);
    expect(issue.message).toMatch(rule);
  });

  it('names the file, the action, the param and the rule', () => {
    const dir = tempDir();
    writeFiles(dir, {
      'label-thing.yaml': [
        'name: label-thing',
        'version: "1.0.0"',
        'description: d',
        'risk_class: low',
        'target_types: [thing]',
        'parameters:',
        '  - name: label',
        '    type: string',
        '    constraints: { max_length: 64, pattern: "(a|a)+b" }',
        '',
      ].join('\n'),
    });
    const error = thrown(() => ActionRegistry.loadSync(dir));
    expect(error.issues[0]).toMatchObject({
      file: join(dir, 'label-thing.yaml'),
      path: 'parameters[0].constraints.pattern',
    });
    expect(error.issues[0]?.message).toMatch(
      /parameter "label" of action "label-thing": pattern "\(a\|a\)\+b" is refused because it can backtrack catastrophically/,
    );
  });

  it('refuses overly long or overly complex patterns rather than analysing them for long', () => {
    expect(patternSafetyProblem('a'.repeat(1025))).toMatch(/at most 1024/);
    expect(patternSafetyProblem('[a-z]'.repeat(201))).toMatch(/too complex to check/);
    // Unicode mode already refuses this syntax; the check does not depend on it.
    expect(patternSafetyProblem('(?=a+)*b')).toMatch(
      /repeated; a lookahead or anchor cannot take a quantifier/,
    );
  });
});

describe('ordinary patterns are accepted', () => {
  it.each([
    '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
    '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$',
    '^(?!kube-|default$)[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
    '^[a-z][a-z0-9-]{0,62}$',
    '^[-._a-zA-Z0-9]+$',
    '^[A-Za-z0-9][A-Za-z0-9._/:-]*(@sha256:[a-f0-9]{64})?$',
    '^\\d{1,3}(\\.\\d{1,3}){3}$',
    '^[^@]+@[^@]+\\.[a-z]{2,}$',
    '(a|ab)*c',
    '^\\p{L}[\\p{L}\\d _-]*$',
    '[\\u{1F600}-\\u{1F64F}]+',
  ])('%s', (pattern) => {
    expect(patternSafetyProblem(pattern)).toBeUndefined();
    expect(() => ActionRegistry.fromDefinitions([withPattern(pattern)])).not.toThrow();
  });

  it('accepts every pattern of the curated catalogue', () => {
    const patterns = [CATALOG, AWS_CATALOG]
      .flatMap((directory) => ActionRegistry.loadSync(directory).list())
      .flatMap((action) => action.parameters.map((parameter) => parameter.constraints?.pattern))
      .filter((pattern): pattern is string => pattern !== undefined);
    expect(patterns.length).toBeGreaterThan(30);
    for (const pattern of patterns)
      expect([pattern, patternSafetyProblem(pattern)]).toEqual([pattern, undefined]);
  });
});

describe('the work of matching is bounded', () => {
  it(`refuses a value longer than ${MAX_PATTERN_INPUT_LENGTH} characters without matching it`, () => {
    const registry = ActionRegistry.fromDefinitions([
      {
        name: 'label-thing',
        version: '1.0.0',
        description: 'd',
        risk_class: 'low',
        target_types: ['thing'],
        parameters: [{ name: 'label', type: 'string', required: true, constraints: { pattern: '^[a-z]+$' } }],
      },
    ]);
    expect(registry.warnings.map((issue) => issue.message).join('\n')).toMatch(
      /values longer than 4096 characters are refused without being matched/,
    );
    expect(registry.validateParams('label-thing', { label: 'a'.repeat(MAX_PATTERN_INPUT_LENGTH) }).ok).toBe(
      true,
    );
    const result = registry.validateParams('label-thing', {
      label: 'a'.repeat(MAX_PATTERN_INPUT_LENGTH + 1),
    });
    expect(result.ok).toBe(false);
    expect(result.ok ? '' : result.errors[0]?.message).toBe(
      'params.label: is 4097 characters long, more than the 4096 a pattern is matched against',
    );
  });
});
