import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { ActionRegistry, type ParseCache } from '../src/index.js';
import { copyOfFixtureActions, removeTempDirs } from './helpers.js';

afterEach(removeTempDirs);

function memoryCache(): ParseCache & { store: Map<string, unknown>; reads: string[] } {
  const store = new Map<string, unknown>();
  const reads: string[] = [];
  return {
    store,
    reads,
    get: (key) => {
      reads.push(key);
      return store.has(key) ? structuredClone(store.get(key)) : undefined;
    },
    set: (key, value) => void store.set(key, structuredClone(value)),
  };
}

describe('validated action definitions in the parse cache', () => {
  it('reuses a definition that validated, without parsing its file again, and gives the same registry', () => {
    const dir = copyOfFixtureActions();
    const cache = memoryCache();
    const first = ActionRegistry.loadSync(dir, { parseCache: cache });
    const validated = [...cache.store.keys()].filter((key) => key.startsWith('action-definition:'));
    expect(validated).toHaveLength(first.size);
    cache.reads.length = 0;
    const second = ActionRegistry.loadSync(dir, { parseCache: cache });
    // Only the validated entries were consulted: no file was parsed again.
    expect(cache.reads.every((key) => key.startsWith('action-definition:'))).toBe(true);
    expect(second.revision).toBe(first.revision);
    expect(second.names()).toEqual(first.names());
    for (const name of first.names()) expect(second.get(name)).toEqual(first.get(name));
    expect(Object.isFrozen(second.get(first.names()[0]!)?.parameters)).toBe(true);
  });

  it('misses when a file changes, so the changed file is validated again', () => {
    const dir = copyOfFixtureActions();
    const cache = memoryCache();
    ActionRegistry.loadSync(dir, { parseCache: cache });
    const file = join(dir, 'resize-worker-pool.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace(/risk_class: \w+/, 'risk_class: unheard-of'));
    let caught: unknown;
    try {
      ActionRegistry.loadSync(dir, { parseCache: cache });
    } catch (error) {
      caught = error;
    }
    expect((caught as { describe(): string }).describe()).toMatch(/resize-worker-pool\.yaml: risk_class/);
  });

  it('never stores a definition that failed validation', () => {
    const dir = copyOfFixtureActions();
    writeFileSync(
      join(dir, 'broken.yaml'),
      'name: broken\nversion: "1.0.0"\ndescription: x\nrisk_class: extreme\ntarget_types: [x]\n',
    );
    const cache = memoryCache();
    expect(() => ActionRegistry.loadSync(dir, { parseCache: cache })).toThrow();
    expect([...cache.store.keys()].some((key) => key.includes('broken.yaml'))).toBe(false);
  });
});
