import { describe, expect, it } from '@jest/globals';
import { type ParseCache, parseConfigFile } from '../src/index.js';

function memoryCache(): ParseCache & { store: Map<string, unknown>; files: string[] } {
  const store = new Map<string, unknown>();
  const files: string[] = [];
  return {
    store,
    files,
    get: (key, file) => {
      files.push(file);
      return store.get(key);
    },
    set: (key, value) => void store.set(key, value),
  };
}

describe('parseConfigFile', () => {
  it('parses YAML and JSON by extension and memoises by content', () => {
    const cache = memoryCache();
    expect(parseConfigFile('a: [1, 2]\n', 'x.yaml', {}, cache)).toEqual({ a: [1, 2] });
    expect(parseConfigFile('{"a": 1}', 'x.json', {}, cache)).toEqual({ a: 1 });
    expect(cache.store.size).toBe(2);
    expect(cache.files).toEqual(['x.yaml', 'x.json']);
  });

  it('returns the cached value for the same text and misses for changed text', () => {
    const cache = memoryCache();
    parseConfigFile('a: 1\n', 'x.yaml', {}, cache);
    const [key] = [...cache.store.keys()];
    cache.store.set(key!, { a: 'from cache' });
    expect(parseConfigFile('a: 1\n', 'y.yaml', {}, cache)).toEqual({ a: 'from cache' });
    expect(parseConfigFile('a: 2\n', 'x.yaml', {}, cache)).toEqual({ a: 2 });
  });

  it('keys entries by the limits too, so a lower limit is still enforced', () => {
    const cache = memoryCache();
    const text = 'a: 1234567890\n';
    parseConfigFile(text, 'x.yaml', {}, cache);
    expect(() => parseConfigFile(text, 'x.yaml', { maxBytes: 4 }, cache)).toThrow(/4-byte limit/);
  });

  it('does not cache values JSON cannot carry, nor files that fail to parse', () => {
    const cache = memoryCache();
    expect(parseConfigFile('a: .inf\n', 'x.yaml', {}, cache)).toEqual({ a: Number.POSITIVE_INFINITY });
    expect(() => parseConfigFile('a: [\n', 'bad.yaml', {}, cache)).toThrow(/not valid YAML/);
    expect(cache.store.size).toBe(0);
  });
});
