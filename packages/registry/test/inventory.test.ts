import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Inventory } from '../src/index.js';
import { FIXTURES, rejected, removeTempDirs, tempDir, thrown, writeFiles } from './helpers.js';

afterEach(removeTempDirs);

const target = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
  id: 'live/api',
  type: 'k8s-deployment',
  environment: 'live',
  sensitivity: 'critical',
  ...overrides,
});

describe('Inventory', () => {
  it('loads targets from YAML with defaults for owner and labels', async () => {
    const inventory = await Inventory.load(join(FIXTURES, 'inventory.yaml'));
    expect(inventory.size).toBe(3);
    expect(inventory.get('live/checkout-api')).toEqual({
      id: 'live/checkout-api',
      type: 'k8s-deployment',
      environment: 'live',
      sensitivity: 'critical',
      owner: 'checkout-team',
      labels: { app: 'checkout', tier: 'backend' },
    });
    expect(inventory.get('sandbox/scratch')).toMatchObject({ owner: '', labels: {} });
    expect([...inventory.environments()].sort()).toEqual(['live', 'qa', 'sandbox']);
    expect(inventory.list().map((entry) => entry.id)).toEqual([
      'live/checkout-api',
      'qa/checkout-api',
      'sandbox/scratch',
    ]);
    expect(inventory.revision).toMatch(/^[0-9a-f]{64}$/);
    expect(Inventory.loadSync(join(FIXTURES, 'inventory.yaml')).revision).toBe(inventory.revision);
  });

  it('returns undefined for unknown ids, including prototype names', () => {
    const inventory = Inventory.fromTargets([target()]);
    expect(inventory.get('nope')).toBeUndefined();
    expect(inventory.get('__proto__')).toBeUndefined();
    expect(inventory.get('constructor')).toBeUndefined();
    expect(inventory.has('live/api')).toBe(true);
  });

  it('reports every bad entry with its index path', () => {
    const error = thrown(() =>
      Inventory.fromTargets([
        target(),
        target({ id: 'b', sensitivity: 'secret' }),
        'just a string',
        target({ id: 'd', labels: { replicas: 3, enabled: true } }),
        target({ id: 'e', environment: '', colour: 'blue' }),
        target({ id: 'live/api' }),
      ]),
    );
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.issues.map((issue) => issue.path)).toEqual([
      'targets[1].sensitivity',
      'targets[2]',
      'targets[3].labels.replicas',
      'targets[3].labels.enabled',
      'targets[4].colour',
      'targets[4].environment',
      'targets[5].id',
    ]);
    expect(error.issues[0]?.message).toBe(
      'expected one of public, internal, restricted, critical, got string "secret"',
    );
    expect(error.issues[2]?.message).toContain('got number 3');
    expect(error.issues[6]?.message).toBe('duplicate target id "live/api" (first at targets[0])');
  });

  it('accepts any environment name and x- extension fields', () => {
    const inventory = Inventory.fromTargets([target({ environment: 'eu-west-perf', 'x-cost-centre': 42 })]);
    expect([...inventory.environments()]).toEqual(['eu-west-perf']);
  });

  it('rejects ids with control characters or beyond the id length limit', () => {
    const error = thrown(() =>
      Inventory.fromTargets([target({ id: 'a\nb' }), target({ id: 'x'.repeat(600) })]),
    );
    expect(error.issues.map((issue) => issue.path)).toEqual(['targets[0].id', 'targets[1].id']);
  });

  it('keeps labels named like prototype properties as plain labels', () => {
    const labels = JSON.parse('{"__proto__":"p","constructor":"c"}');
    const found = Inventory.fromTargets([target({ labels })]).get('live/api');
    expect(Object.entries(found?.labels ?? {})).toEqual([
      ['__proto__', 'p'],
      ['constructor', 'c'],
    ]);
    expect(found?.labels.constructor).toBe('c');
    expect(Object.isFrozen(found)).toBe(true);
  });

  it('names the file and field in schema errors from a file', async () => {
    const dir = tempDir();
    writeFiles(dir, {
      'inventory.yaml': 'targets:\n  - id: a\n    type: t\n    environment: e\n    sensitivity: 3\n',
    });
    const error = await rejected(Inventory.load(join(dir, 'inventory.yaml')));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.describe()).toContain(
      `${join(dir, 'inventory.yaml')}: targets[0].sensitivity: expected one of public, internal, restricted, critical, got number 3`,
    );
  });

  it('rejects files without a targets list and unknown top-level fields', () => {
    const dir = tempDir();
    writeFiles(dir, { 'a.yaml': 'target: []\n', 'b.yaml': 'targets: {}\n', 'c.yaml': '' });
    expect(thrown(() => Inventory.loadSync(join(dir, 'a.yaml'))).issues.map((issue) => issue.path)).toEqual([
      'target',
      'targets',
    ]);
    expect(thrown(() => Inventory.loadSync(join(dir, 'b.yaml'))).issues[0]?.message).toBe(
      'expected a list of targets, got a mapping',
    );
    expect(thrown(() => Inventory.loadSync(join(dir, 'c.yaml'))).issues[0]?.message).toContain('empty');
  });

  it('fails with FILE_UNREADABLE for a missing file and YAML_INVALID for bad YAML', async () => {
    const dir = tempDir();
    const missing = join(dir, 'missing.yaml');
    const error = await rejected(Inventory.load(missing));
    expect(error.code).toBe('FILE_UNREADABLE');
    expect(error.issues[0]?.file).toBe(missing);
    writeFiles(dir, { 'bad.yaml': 'targets: [\n' });
    expect(thrown(() => Inventory.loadSync(join(dir, 'bad.yaml'))).code).toBe('YAML_INVALID');
    expect(thrown(() => Inventory.loadSync(dir)).code).toBe('FILE_UNREADABLE');
  });

  it('reads .json inventories with JSON.parse and validates them the same way', () => {
    const dir = tempDir();
    const targets = Array.from({ length: 2000 }, (_, index) => target({ id: `live/svc-${index}` }));
    writeFiles(dir, {
      'inventory.json': JSON.stringify({ targets }),
      'bad.json': '{"targets": [',
      'wrong.json': JSON.stringify({ targets: [target({ sensitivity: 'secret' })] }),
    });
    const inventory = Inventory.loadSync(join(dir, 'inventory.json'));
    expect(inventory.size).toBe(2000);
    expect(inventory.get('live/svc-1999')?.sensitivity).toBe('critical');
    const bad = thrown(() => Inventory.loadSync(join(dir, 'bad.json')));
    expect(bad.code).toBe('YAML_INVALID');
    expect(bad.message).toContain('bad.json: not valid JSON');
    expect(thrown(() => Inventory.loadSync(join(dir, 'wrong.json'))).describe()).toContain(
      'targets[0].sensitivity: expected one of public, internal, restricted, critical',
    );
  });

  it('has a revision that follows the content of in-memory targets', () => {
    const one = Inventory.fromTargets([target()]).revision;
    expect(Inventory.fromTargets([target()]).revision).toBe(one);
    expect(Inventory.fromTargets([target({ sensitivity: 'public' })]).revision).not.toBe(one);
  });

  it('loads many targets with Map lookups', () => {
    const many = Array.from({ length: 20_000 }, (_, index) =>
      target({ id: `t-${index}`, environment: `env-${index % 7}` }),
    );
    const inventory = Inventory.fromTargets(many);
    expect(inventory.size).toBe(20_000);
    expect(inventory.get('t-19999')?.environment).toBe('env-0');
    expect(inventory.environments().size).toBe(7);
  });
});
