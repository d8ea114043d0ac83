import { chmodSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { FileGuardStore, STATE_FILE } from '../src/index.js';
import { temporaryDirectory } from './helpers.js';

const directories: { remove(): void }[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) directory.remove();
});

function directory(): string {
  const created = temporaryDirectory();
  directories.push(created);
  return created.path;
}

const NOW = 1_800_000_000_000;
const SETTINGS = { threshold: 2, windowMs: 60_000, cooldownMs: 30_000 };

describe('FileGuardStore state', () => {
  it('persists between store instances (processes) and creates its directory with mode 0700', async () => {
    const path = join(directory(), 'nested', 'state');
    const first = new FileGuardStore({ directory: path });
    expect((await first.take('caller', NOW, 60_000, 2)).allowed).toBe(true);
    expect((await first.take('caller', NOW + 1, 60_000, 2)).allowed).toBe(true);
    const second = new FileGuardStore({ directory: path });
    expect(await second.take('caller', NOW + 2, 60_000, 2)).toEqual({
      allowed: false,
      count: 2,
      retryAfterMs: 59_998,
    });
    const { statSync } = await import('node:fs');
    expect(statSync(path).mode & 0o777).toBe(0o700);
    expect(statSync(join(path, STATE_FILE)).mode & 0o777).toBe(0o600);
  });

  it('forgets idle keys when it writes, so the file holds only live state', async () => {
    const path = directory();
    const store = new FileGuardStore({ directory: path });
    await store.take('old', NOW, 1_000, 5);
    await store.record('breaker', NOW, true, false, SETTINGS);
    await store.take('new', NOW + 5_000, 1_000, 5);
    const [, windows, breakers] = JSON.parse(readFileSync(join(path, STATE_FILE), 'utf8'));
    expect(windows.map((row: unknown[]) => row[0])).toEqual(['new']);
    expect(breakers.map((row: unknown[]) => row[0])).toEqual(['breaker']);
  });

  it('keeps at most maxKeys keys of a kind, forgetting the least recently used', async () => {
    const path = directory();
    const store = new FileGuardStore({ directory: path, maxKeys: 3 });
    for (const key of ['a', 'b', 'c']) await store.take(key, NOW, 60_000, 5);
    await store.take('a', NOW + 1, 60_000, 5); // a is now the most recently used
    await store.take('d', NOW + 2, 60_000, 5);
    const [, windows] = JSON.parse(readFileSync(join(path, STATE_FILE), 'utf8'));
    expect(windows.map((row: unknown[]) => row[0])).toEqual(['c', 'a', 'd']);
  });

  it('merges the oldest entries beyond maxEntriesPerKey into later ones: sums kept, never looser', async () => {
    const store = new FileGuardStore({ directory: directory(), maxEntriesPerKey: 3 });
    for (let index = 0; index < 5; index += 1) await store.addBelow('risk', NOW + index * 10, 1_000, 1, 100);
    // Five weights still count...
    expect((await store.addBelow('risk', NOW + 50, 1_000, 0, 100)).before).toBe(5);
    // ...and the two oldest now leave with the third (at +20), not earlier.
    expect((await store.addBelow('risk', NOW + 1_000, 1_000, 0, 100)).before).toBe(5);
    expect((await store.addBelow('risk', NOW + 1_020, 1_000, 0, 100)).before).toBe(2);
  });

  it('does not write when nothing changed (a closed breaker admitting)', async () => {
    const path = directory();
    const store = new FileGuardStore({ directory: path });
    expect((await store.admit('quiet', NOW, SETTINGS)).admitted).toBe(true);
    const { existsSync } = await import('node:fs');
    expect(existsSync(join(path, STATE_FILE))).toBe(false);
  });
});

describe('FileGuardStore refuses what it cannot trust (fail closed, naming the file)', () => {
  it('a corrupt state file', async () => {
    const path = directory();
    writeFileSync(join(path, STATE_FILE), '{"not":"guard state"}', { mode: 0o600 });
    const store = new FileGuardStore({ directory: path });
    await expect(store.take('k', NOW, 1_000, 1)).rejects.toMatchObject({
      code: 'INTERNAL',
      message: `file guard store at ${path}: the state file ${join(path, STATE_FILE)} is not valid guard state: it is not an Agent-Safe guard state file (expected ["agent-safe-guard-state/1", windows, breakers])`,
    });
  });

  it('a state file with a malformed window (entries out of order, NaN sums, prototype keys)', async () => {
    const path = directory();
    const store = new FileGuardStore({ directory: path });
    const file = join(path, STATE_FILE);
    const cases: [string, string][] = [
      ['[["k",1000,2,[5,4],[1,1]]]', 'a window entries are not in time order'],
      ['[["k",1000,"x",[5],[1]]]', 'a window sum is not a finite number'],
      ['[["k",-1,1,[5],[1]]]', 'a window window is not positive'],
      ['[["k",1000,1,[5],[-1]]]', 'a window has a negative weight'],
      ['[["k",1000,1,[5],[1]],["k",1000,1,[5],[1]]]', 'a window key appears twice'],
    ];
    for (const [windows, reason] of cases) {
      writeFileSync(file, `["agent-safe-guard-state/1",${windows},[]]`);
      await expect(store.take('k', NOW, 1_000, 1)).rejects.toThrow(reason);
    }
    // A key named __proto__ is an ordinary key.
    writeFileSync(file, '["agent-safe-guard-state/1",[["__proto__",1000,1,[1800000000000],[1]]],[]]');
    expect(await store.take('__proto__', NOW + 1, 1_000, 1)).toMatchObject({ allowed: false, count: 1 });
  });

  it('an oversized state file, without reading it', async () => {
    const path = directory();
    writeFileSync(join(path, STATE_FILE), ' '.repeat(4096));
    const store = new FileGuardStore({ directory: path, maxBytes: 2048 });
    await expect(store.take('k', NOW, 1_000, 1)).rejects.toThrow(
      `the state file ${join(path, STATE_FILE)} is 4096 bytes, over the 2048-byte limit`,
    );
  });

  it('a state file that is a symbolic link', async () => {
    const path = directory();
    const elsewhere = join(directory(), 'target.json');
    writeFileSync(elsewhere, '["agent-safe-guard-state/1",[],[]]');
    symlinkSync(elsewhere, join(path, STATE_FILE));
    const store = new FileGuardStore({ directory: path });
    await expect(store.take('k', NOW, 1_000, 1)).rejects.toMatchObject({ code: 'INTERNAL' });
  });

  it('a directory that is a symbolic link, writable by others, or not a directory', () => {
    const base = directory();
    const real = join(base, 'real');
    mkdirSync(real, { mode: 0o700 });
    symlinkSync(real, join(base, 'link'));
    expect(() => new FileGuardStore({ directory: join(base, 'link') })).toThrow(
      'is a symbolic link; refused',
    );
    const shared = join(base, 'shared');
    mkdirSync(shared);
    chmodSync(shared, 0o777);
    expect(() => new FileGuardStore({ directory: shared })).toThrow(
      `The guard state directory ${shared} is writable by other users (mode 777); refused`,
    );
    writeFileSync(join(base, 'file'), '');
    expect(() => new FileGuardStore({ directory: join(base, 'file') })).toThrow('is not a directory');
    expect(() => new FileGuardStore({ directory: '' })).toThrow('FileGuardStore needs a directory');
  });

  it('malformed arguments before taking the lock (as the memory stores do)', async () => {
    const store = new FileGuardStore({ directory: directory() });
    await expect(store.take('', NOW, 1_000, 1)).rejects.toMatchObject({ code: 'USAGE' });
    await expect(store.take('k', Number.NaN, 1_000, 1)).rejects.toMatchObject({ code: 'USAGE' });
    await expect(store.addBelow('k', NOW, 1_000, -1, 5)).rejects.toMatchObject({ code: 'USAGE' });
    await expect(store.admit('k', NOW, { threshold: 0, windowMs: 1, cooldownMs: 1 })).rejects.toMatchObject({
      code: 'USAGE',
    });
    await expect(
      store.guardStep({ now: NOW, window: { key: 'k', windowMs: 0, limit: 1 } }),
    ).rejects.toMatchObject({
      code: 'USAGE',
    });
    expect(() => new FileGuardStore({ directory: directory(), maxKeys: 0 })).toThrow(
      'maxKeys must be an integer',
    );
  });
});

describe('FileGuardStore.inspect (read-only, for validate)', () => {
  it('reports nothing for a usable or not yet created directory, and creates nothing', async () => {
    const base = directory();
    expect(FileGuardStore.inspect({ directory: join(base, 'later') })).toBeUndefined();
    const { existsSync } = await import('node:fs');
    expect(existsSync(join(base, 'later'))).toBe(false);
    const store = new FileGuardStore({ directory: join(base, 'now') });
    await store.take('k', NOW, 60_000, 5);
    expect(FileGuardStore.inspect({ directory: join(base, 'now') })).toBeUndefined();
  });

  it('reports what every operation would refuse: a shared directory, a corrupt state file', () => {
    const base = directory();
    const shared = join(base, 'shared');
    mkdirSync(shared);
    chmodSync(shared, 0o777);
    expect(FileGuardStore.inspect({ directory: shared })).toContain(
      'is writable by other users (mode 777); refused',
    );
    const corrupt = join(base, 'corrupt');
    mkdirSync(corrupt, { mode: 0o700 });
    writeFileSync(join(corrupt, STATE_FILE), '[');
    expect(FileGuardStore.inspect({ directory: corrupt })).toContain(
      'is not valid guard state: it is not valid JSON',
    );
  });
});
