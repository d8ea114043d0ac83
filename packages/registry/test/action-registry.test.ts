import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { ActionRegistry, parseActionDefinition } from '../src/index.js';
import { FIXTURES, rawAction, rejected, removeTempDirs, tempDir, thrown, writeFiles } from './helpers.js';

const ACTIONS = join(FIXTURES, 'actions');

afterEach(removeTempDirs);

describe('ActionRegistry.load', () => {
  it('loads *.yaml and *.yml files with their ref, source file and sha256', async () => {
    const registry = await ActionRegistry.load(ACTIONS);
    expect(registry.names()).toEqual(['read-build-log', 'resize-worker-pool', 'wipe-artifact-store']);
    expect(registry.size).toBe(3);
    expect(registry.has('resize-worker-pool')).toBe(true);
    expect(registry.ref('resize-worker-pool')).toBe('resize-worker-pool@2.1.0');
    const record = registry.record('read-build-log');
    expect(record?.sourceFile).toBe(join(ACTIONS, 'read-build-log.yml'));
    expect(record?.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(registry.get('read-build-log')?.sha256).toBe(record?.sha256);
    expect(registry.get('read-build-log')?.sourceFile).toBe(record?.sourceFile);
    expect(registry.revision).toMatch(/^[0-9a-f]{64}$/);
    expect(Object.isFrozen(registry.get('read-build-log'))).toBe(true);
  });

  it('loads the same registry synchronously', async () => {
    const loaded = await ActionRegistry.load(ACTIONS);
    const loadedSync = ActionRegistry.loadSync(ACTIONS);
    expect(loadedSync.revision).toBe(loaded.revision);
    expect(loadedSync.list()).toEqual(loaded.list());
  });

  it('lists by tag and risk, sorted by name', () => {
    const registry = ActionRegistry.loadSync(ACTIONS);
    expect(registry.list({ tag: 'scaling' }).map((action) => action.name)).toEqual(['resize-worker-pool']);
    expect(registry.list({ risk: 'critical' }).map((action) => action.name)).toEqual(['wipe-artifact-store']);
    expect(registry.list({ tag: 'storage', risk: 'low' })).toEqual([]);
  });

  it('changes its revision when a file changes, and only then', () => {
    const dir = tempDir();
    writeFiles(dir, {
      'a.yaml': 'name: a\nversion: "1.0.0"\ndescription: x\nrisk_class: low\ntarget_types: [t]\n',
    });
    const first = ActionRegistry.loadSync(dir).revision;
    expect(ActionRegistry.loadSync(dir).revision).toBe(first);
    writeFiles(dir, {
      'a.yaml': 'name: a\nversion: "1.0.0"\ndescription: y\nrisk_class: low\ntarget_types: [t]\n',
    });
    expect(ActionRegistry.loadSync(dir).revision).not.toBe(first);
  });

  it('reports every bad file in one CONFIG_INVALID error', async () => {
    const dir = tempDir();
    writeFiles(dir, {
      'good.yaml': 'name: good\nversion: "1.0.0"\ndescription: fine\nrisk_class: low\ntarget_types: [t]\n',
      'one.yaml': 'name: one\nversion: "1.0.0"\ndescription: x\nrisk_class: huge\ntarget_types: [t]\n',
      'two.yaml':
        'name: two\nversion: "1.0.0"\ndescription: x\nrisk_class: low\ntarget_types: [t]\nparameters:\n  - name: n\n    type: integer\n    constraints:\n      min_value: ten\n',
      'three.yml': 'name: [\n',
    });
    const error = await rejected(ActionRegistry.load(dir));
    expect(error.code).toBe('CONFIG_INVALID');
    const byFile = error.issues.map((issue) => [issue.file?.split('/').pop(), issue.path]);
    expect(byFile).toEqual(
      expect.arrayContaining([
        ['one.yaml', 'risk_class'],
        ['two.yaml', 'parameters[0].constraints.min_value'],
        ['three.yml', expect.stringMatching(/^line \d+, column \d+$/)],
      ]),
    );
    expect(error.describe()).toContain(
      'two.yaml: parameters[0].constraints.min_value: expected a number, got string "ten"',
    );
  });

  it('uses YAML_INVALID when the only problems are malformed YAML', () => {
    const dir = tempDir();
    writeFiles(dir, { 'a.yaml': 'a: 1\na: 2\n', 'b.yaml': 'x: !!python/object:os.system {}\n' });
    const error = thrown(() => ActionRegistry.loadSync(dir));
    expect(error.code).toBe('YAML_INVALID');
    expect(error.issues).toHaveLength(2);
  });

  it('rejects the same action name in two files', () => {
    const dir = tempDir();
    const text = 'name: same\nversion: "1.0.0"\ndescription: x\nrisk_class: low\ntarget_types: [t]\n';
    writeFiles(dir, { 'same.yaml': text, 'same.yml': text });
    const error = thrown(() => ActionRegistry.loadSync(dir));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.issues[0]?.message).toContain(
      `duplicate action "same": also defined in ${join(dir, 'same.yaml')}`,
    );
  });

  it('fails with FILE_UNREADABLE naming a missing directory and the fix', async () => {
    const missing = join(tempDir(), 'nope');
    const error = await rejected(ActionRegistry.load(missing));
    expect(error.code).toBe('FILE_UNREADABLE');
    expect(error.message).toContain(missing);
    expect(error.message).toContain('check the path');
    expect(thrown(() => ActionRegistry.loadSync(missing)).code).toBe('FILE_UNREADABLE');
  });

  it('fails with FILE_UNREADABLE when given a file instead of a directory', () => {
    const error = thrown(() => ActionRegistry.loadSync(join(ACTIONS, 'read-build-log.yml')));
    expect(error.code).toBe('FILE_UNREADABLE');
    expect(error.message).toContain('not a directory');
  });

  it('is not recursive and ignores other extensions and hidden files', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'nested'));
    writeFiles(dir, {
      'a.yaml': 'name: a\nversion: "1.0.0"\ndescription: x\nrisk_class: low\ntarget_types: [t]\n',
      'notes.txt': 'not yaml: [',
      '.#a.yaml': 'broken',
      'nested/b.yaml': 'broken: [',
    });
    expect(ActionRegistry.loadSync(dir).names()).toEqual(['a']);
  });

  it('follows symbolic links to regular files, and refuses anything else', () => {
    const dir = tempDir();
    // The link's own name is the file name the registry checks against the action's name.
    symlinkSync(join(ACTIONS, 'wipe-artifact-store.yaml'), join(dir, 'wipe-artifact-store.yaml'));
    expect(ActionRegistry.loadSync(dir).names()).toEqual(['wipe-artifact-store']);
    mkdirSync(join(dir, 'folder.yaml'));
    symlinkSync(join(dir, 'does-not-exist'), join(dir, 'dangling.yaml'));
    const error = thrown(() => ActionRegistry.loadSync(dir));
    expect(error.code).toBe('FILE_UNREADABLE');
    expect(error.issues.map((issue) => [issue.file?.split('/').pop(), issue.message])).toEqual([
      ['dangling.yaml', expect.stringContaining('does not exist')],
      ['folder.yaml', expect.stringContaining('not a regular file')],
    ]);
  });

  it('refuses a file above the size limit without parsing it', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'big.yaml'), `description: "${'x'.repeat(5000)}"\n`);
    const error = thrown(() => ActionRegistry.loadSync(dir, { yaml: { maxBytes: 1000 } }));
    expect(error.code).toBe('YAML_INVALID');
    expect(error.issues[0]?.message).toContain('1000-byte limit');
  });

  it('loads an empty directory as an empty registry', () => {
    expect(ActionRegistry.loadSync(tempDir()).size).toBe(0);
  });
});

describe('ActionRegistry.fromDefinitions', () => {
  it('validates YAML-shaped objects like files', () => {
    const registry = ActionRegistry.fromDefinitions([rawAction()]);
    expect(registry.get('restart-widget')?.parameters[0]?.required).toBe(true);
    expect(registry.record('restart-widget')?.sourceFile).toBeUndefined();
    const error = thrown(() =>
      ActionRegistry.fromDefinitions([rawAction(), rawAction({ name: 'b', risk_class: 'x' })]),
    );
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.issues).toEqual([expect.objectContaining({ file: 'definitions[1]', path: 'risk_class' })]);
  });

  it('accepts camelCase ActionDefinitions and validates them the same way', () => {
    const action = parseActionDefinition(
      rawAction({ parameters: [{ name: 'n', type: 'integer', constraints: { max_value: 3 } }] }),
    ).action!;
    const registry = ActionRegistry.fromDefinitions([action]);
    expect(registry.get('restart-widget')).toEqual(action);
    expect(registry.validateParams('restart-widget', { n: 4 }).ok).toBe(false);
    const broken = { ...action, riskClass: 'extreme' };
    expect(thrown(() => ActionRegistry.fromDefinitions([broken])).issues[0]?.path).toBe('risk_class');
  });

  it('round-trips camelCase definitions whose prechecks may be forced (forceAllowed)', () => {
    const action = parseActionDefinition(
      rawAction({
        prechecks: [
          { name: 'has-owner', description: 'd', force_allowed: true },
          { name: 'exists', description: 'd' },
        ],
      }),
    ).action!;
    expect(action.prechecks[0]).toEqual({ name: 'has-owner', description: 'd', forceAllowed: true });
    expect(ActionRegistry.fromDefinitions([action]).get('restart-widget')).toEqual(action);
  });

  it('has a revision that depends on the content of the definitions', () => {
    const one = ActionRegistry.fromDefinitions([rawAction()]).revision;
    expect(ActionRegistry.fromDefinitions([rawAction()]).revision).toBe(one);
    expect(ActionRegistry.fromDefinitions([rawAction({ description: 'other' })]).revision).not.toBe(one);
  });

  it('rejects duplicate names and non-arrays', () => {
    expect(
      thrown(() => ActionRegistry.fromDefinitions([rawAction(), rawAction()])).issues[0]?.message,
    ).toContain('duplicate action "restart-widget"');
    expect(thrown(() => ActionRegistry.fromDefinitions('x' as unknown as unknown[])).code).toBe('USAGE');
  });

  it('warns about a rollback action that is not registered', () => {
    const registry = ActionRegistry.fromDefinitions([
      rawAction({ reversible: true, rollback_action: 'undo-widget' }),
    ]);
    expect(registry.warnings).toEqual([
      expect.objectContaining({
        severity: 'warning',
        message: 'rollback action "undo-widget" is not in the registry',
      }),
    ]);
  });
});
