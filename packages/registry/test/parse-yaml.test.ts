import { describe, expect, it } from '@jest/globals';
import { parseYaml } from '../src/index.js';
import { thrown } from './helpers.js';

describe('parseYaml', () => {
  it('parses plain YAML 1.2 into JSON values', () => {
    expect(parseYaml('a: 1\nb: [x, "y"]\nc: {d: null, e: true}\nv: 1.0.0\n', 'ok.yaml')).toEqual({
      a: 1,
      b: ['x', 'y'],
      c: { d: null, e: true },
      v: '1.0.0',
    });
  });

  it('keeps YAML 1.1 booleans such as yes/no as strings (core schema)', () => {
    expect(parseYaml('a: yes\nb: off\n', 'x.yaml')).toEqual({ a: 'yes', b: 'off' });
  });

  it('rejects a billion-laughs file with YAML_INVALID', () => {
    const levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let level = 1; level < 9; level++) {
      const previous = String.fromCharCode(96 + level);
      const name = String.fromCharCode(97 + level);
      levels.push(`${name}: &${name} [${Array(9).fill(`*${previous}`).join(',')}]`);
    }
    const error = thrown(() => parseYaml(`${levels.join('\n')}\n`, 'laughs.yaml'));
    expect(error.code).toBe('YAML_INVALID');
    expect(error.message).toContain('laughs.yaml');
    expect(error.message).toContain('alias');
  });

  it('rejects duplicate keys with their line and column', () => {
    const error = thrown(() => parseYaml('name: a\nversion: "1"\nname: b\n', 'dup.yaml'));
    expect(error.code).toBe('YAML_INVALID');
    expect(error.issues[0]).toMatchObject({ file: 'dup.yaml', path: 'line 3, column 1' });
    expect(error.issues[0]?.message).toMatch(/unique/i);
  });

  it.each([
    ['!!python/object:os.system {}'],
    ['!!python/object/apply:os.system ["ls"]'],
    ['!!binary aGVsbG8='],
    ['!!set {x: null}'],
    ['!custom value'],
  ])('rejects the language-specific or unknown tag %s', (value) => {
    const error = thrown(() => parseYaml(`a: ${value}\n`, 'tag.yaml'));
    expect(error.code).toBe('YAML_INVALID');
    expect(error.issues[0]?.message).toMatch(/tag/i);
    expect(error.issues[0]?.path).toBe('line 1, column 4');
  });

  it('rejects a file over the size limit before parsing it', () => {
    const error = thrown(() => parseYaml(`a: "${'x'.repeat(2000)}"\n`, 'big.yaml', { maxBytes: 1000 }));
    expect(error.code).toBe('YAML_INVALID');
    expect(error.message).toContain('1000-byte limit');
  });

  it('counts the size limit in bytes, not characters', () => {
    expect(() => parseYaml(`a: "${'é'.repeat(600)}"\n`, 'utf8.yaml', { maxBytes: 1000 })).toThrow(
      /byte limit/,
    );
  });

  it('reports a syntax error with line and column', () => {
    const error = thrown(() => parseYaml('a:\n  b: 1\n c: 2\n', 'bad.yaml'));
    expect(error.code).toBe('YAML_INVALID');
    expect(error.issues[0]).toMatchObject({ file: 'bad.yaml', path: 'line 3, column 1' });
    expect(error.describe()).toContain('bad.yaml: line 3, column 1:');
  });

  it('rejects several documents in one file', () => {
    expect(thrown(() => parseYaml('a: 1\n---\nb: 2\n', 'multi.yaml')).code).toBe('YAML_INVALID');
  });

  it('rejects deeply nested flow collections quickly instead of recursing', () => {
    const error = thrown(() => parseYaml('['.repeat(1_000_000), 'deep.yaml'));
    expect(error.code).toBe('YAML_INVALID');
    expect(error.message).toContain('nested deeper than 64');
    expect(error.issues[0]?.path).toBe('line 1, column 65');
  });

  it('accepts flow nesting within the limit and brackets inside strings', () => {
    expect(parseYaml(`a: ${'['.repeat(10)}${']'.repeat(10)}\nb: "[[[["\nc: x[[[\n`, 'ok.yaml')).toEqual({
      a: [[[[[[[[[[]]]]]]]]]],
      b: '[[[[',
      c: 'x[[[',
    });
  });

  it('reports at most 20 problems of a hostile file', () => {
    const error = thrown(() => parseYaml(']\n'.repeat(500), 'junk.yaml'));
    expect(error.code).toBe('YAML_INVALID');
    expect(error.issues.length).toBeLessThanOrEqual(21);
  });

  it('keeps a __proto__ key as data without touching any prototype', () => {
    const value = parseYaml('__proto__: {polluted: true}\nx: 1\n', 'proto.yaml') as Record<string, unknown>;
    expect(Object.hasOwn(value, '__proto__')).toBe(true);
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('returns null for an empty file', () => {
    expect(parseYaml('', 'empty.yaml')).toBeNull();
  });
});
