import { describe, expect, it } from '@jest/globals';
import { AgentSafeError, canonicalJson, formatIssue, riskRank } from '../src/index.js';

describe('canonicalJson', () => {
  it('sorts keys recursively and drops undefined members', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, 'x', null], c: true }, u: undefined })).toBe(
      '{"a":{"c":true,"d":[1,"x",null]},"b":1}',
    );
  });

  it('serialises numbers as ECMAScript does (RFC 8785 vectors)', () => {
    expect(canonicalJson([1e21, 1e-7, -0, 0.1 + 0.2, 100])).toBe('[1e+21,1e-7,0,0.30000000000000004,100]');
  });

  it('sorts by UTF-16 code units', () => {
    expect(canonicalJson({ '\u00e9': 1, z: 2, '\ud83d\ude00': 3 })).toBe('{"z":2,"é":1,"😀":3}');
  });

  it('refuses values JSON cannot carry', () => {
    expect(() => canonicalJson({ n: Number.NaN })).toThrow(/NaN/);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => canonicalJson(cyclic)).toThrow(/cyclic/);
    expect(() => canonicalJson({ big: 1n })).toThrow(/bigint/);
  });
});

describe('AgentSafeError', () => {
  it('describes every issue with file and path', () => {
    const error = new AgentSafeError('CONFIG_INVALID', 'Two files are invalid', {
      issues: [
        { file: 'a.yaml', path: 'risk_class', message: 'expected one of low, medium' },
        { file: 'b.yaml', message: 'not YAML' },
      ],
    });
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.describe()).toBe(
      'Two files are invalid\n  - a.yaml: risk_class: expected one of low, medium\n  - b.yaml: not YAML',
    );
    expect(formatIssue({ message: 'm' })).toBe('m');
  });

  it('ranks risk classes', () => {
    expect(['critical', 'low', 'high', 'medium'].map((r) => riskRank(r as never))).toEqual([3, 0, 2, 1]);
  });
});
