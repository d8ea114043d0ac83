import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { AgentSafe, AgentSafeError, FileParseCache, defaultCacheDirectory } from '../src/index.js';
import { copyProject } from './helpers.js';

function open(dir: string, cacheFile: string) {
  const parseCache = FileParseCache.open(cacheFile);
  const safe = new AgentSafe({ cwd: dir, config: false, auditLog: false, parseCache });
  parseCache.save();
  return { safe, parseCache };
}

function entries(cacheFile: string): Record<string, unknown> {
  return (JSON.parse(readFileSync(cacheFile, 'utf8')) as { entries: Record<string, unknown> }).entries;
}

describe('FileParseCache', () => {
  it('stores one entry per configuration file, private to the user, and reuses them', async () => {
    const dir = copyProject();
    const cacheFile = join(dir, 'cache', 'parse.json');
    open(dir, cacheFile);
    // Parsed YAML of 4 actions + 1 policy file + the inventory, and the 4 validated action definitions
    const keys = Object.keys(entries(cacheFile));
    expect(keys).toHaveLength(10);
    expect(keys.filter((key) => key.startsWith('action-definition:'))).toHaveLength(4);
    expect(statSync(cacheFile).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'cache')).mode & 0o777).toBe(0o700);
    // The next run uses the validated definitions, so the parsed YAML of the actions is dropped; from
    // then on the file is stable.
    open(dir, cacheFile);
    expect(Object.keys(entries(cacheFile))).toHaveLength(6);
    const before = readFileSync(cacheFile, 'utf8');
    const { safe } = open(dir, cacheFile);
    expect(readFileSync(cacheFile, 'utf8')).toBe(before);
    const decision = await safe.check({
      action: 'restart-deployment',
      target: 'dev/app',
      params: { namespace: 'd', deployment: 'a' },
    });
    expect(decision.result).toBe('ALLOW');
  });

  it('misses when a file changes, so the new content is what counts', async () => {
    const dir = copyProject();
    const cacheFile = join(dir, 'parse.json');
    open(dir, cacheFile);
    const policy = join(dir, 'policies', 'rules.yaml');
    writeFileSync(
      policy,
      readFileSync(policy, 'utf8').replace(
        'decision: allow\n    reason: Dev is unrestricted',
        'decision: deny\n    reason: Dev is closed',
      ),
    );
    const { safe } = open(dir, cacheFile);
    const decision = await safe.check({
      action: 'restart-deployment',
      target: 'dev/app',
      params: { namespace: 'd', deployment: 'a' },
    });
    expect(decision.result).toBe('DENY');
    expect(decision.reason).toBe('Dev is closed');
    // 4 validated action definitions, the inventory and the new policy text
    expect(Object.keys(entries(cacheFile))).toHaveLength(6);
  });

  it('never lets a tampered parse entry skip validation', () => {
    const dir = copyProject();
    const cacheFile = join(dir, 'parse.json');
    open(dir, cacheFile);
    const stored = JSON.parse(readFileSync(cacheFile, 'utf8')) as {
      entries: Record<string, Record<string, unknown>>;
    };
    // Validated definitions are only ever stored for files that passed; drop them so the parsed YAML,
    // which is validated on every use, is what gets used.
    for (const key of Object.keys(stored.entries)) {
      if (key.startsWith('action-definition:')) delete stored.entries[key];
    }
    for (const value of Object.values(stored.entries)) {
      if (value.name === 'drain-node') value.risk_class = 'harmless';
    }
    writeFileSync(cacheFile, JSON.stringify(stored), { mode: 0o600 });
    let caught: unknown;
    try {
      open(dir, cacheFile);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(AgentSafeError);
    expect((caught as AgentSafeError).describe()).toMatch(/drain-node\.yaml: risk_class/);
  });

  it('ignores a cache file that others could have written, and a corrupt one', async () => {
    const dir = copyProject();
    const cacheFile = join(dir, 'parse.json');
    open(dir, cacheFile);
    const stored = JSON.parse(readFileSync(cacheFile, 'utf8')) as {
      entries: Record<string, Record<string, unknown>>;
    };
    for (const value of Object.values(stored.entries)) {
      if (Array.isArray(value.rules)) {
        for (const rule of value.rules as Record<string, unknown>[]) rule.decision = 'allow';
      }
    }
    writeFileSync(cacheFile, JSON.stringify(stored));
    chmodSync(cacheFile, 0o666);
    const { safe } = open(dir, cacheFile);
    const prod = await safe.check({
      action: 'restart-deployment',
      target: 'prod/app',
      params: { namespace: 'p', deployment: 'a' },
    });
    expect(prod.result).toBe('REQUIRE_APPROVAL');
    writeFileSync(cacheFile, '{not json');
    expect(() => open(dir, cacheFile)).not.toThrow();
    expect(Object.keys(entries(cacheFile))).toHaveLength(10);
  });

  it('picks its directory from AGENT_SAFE_CACHE_DIR, then XDG_CACHE_HOME, then ~/.cache', () => {
    expect(defaultCacheDirectory({ AGENT_SAFE_CACHE_DIR: '/x/y' })).toBe('/x/y');
    expect(defaultCacheDirectory({ XDG_CACHE_HOME: '/xdg' })).toBe('/xdg/agent-safe');
    expect(defaultCacheDirectory({})).toMatch(/\.cache\/agent-safe$/);
  });
});

describe('FileParseCache authority', () => {
  it('does not serve or store entries for files the user cannot write', () => {
    const dir = copyProject();
    const cacheFile = join(dir, 'parse.json');
    const cache = FileParseCache.open(cacheFile);
    const file = join(dir, 'inventory.yaml');
    cache.set('k', { targets: [] }, file);
    cache.save();
    expect(FileParseCache.open(cacheFile).get('k', file)).toEqual({ targets: [] });
    // Access checks do not bind root; only assert the refusal where they apply.
    if (process.getuid?.() !== 0) {
      chmodSync(file, 0o444);
      expect(FileParseCache.open(cacheFile).get('k', file)).toBeUndefined();
    }
    expect(FileParseCache.open(cacheFile).get('k', join(dir, 'no-such-file.yaml'))).toBeUndefined();
  });
});
