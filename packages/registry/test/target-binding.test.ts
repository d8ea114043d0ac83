import { afterEach, describe, expect, it } from '@jest/globals';
import { ActionRegistry, Inventory } from '../src/index.js';
import { removeTempDirs, tempDir, thrown, writeFiles } from './helpers.js';

afterEach(removeTempDirs);

function action(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'bounce-deployment',
    version: '1.0.0',
    description: 'Rolling restart',
    risk_class: 'medium',
    target_types: ['k8s-deployment'],
    parameters: [
      { name: 'namespace', type: 'string', required: true },
      { name: 'deployment', type: 'string', required: true },
      { name: 'replicas', type: 'integer', required: false },
      { name: 'container', type: 'string', required: false },
    ],
    ...extra,
  };
}

function target(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { id: 'dev/app', type: 'k8s-deployment', environment: 'dev', sensitivity: 'public', ...extra };
}

describe('action target_binding', () => {
  it('loads a binding from YAML and from camelCase definitions alike', () => {
    const fromYaml = ActionRegistry.fromDefinitions([
      action({ target_binding: { namespace: 'namespace', deployment: 'name' } }),
    ]);
    expect(fromYaml.get('bounce-deployment')?.targetBinding).toEqual({
      namespace: 'namespace',
      deployment: 'name',
    });
    const camel = ActionRegistry.fromDefinitions([
      { ...fromYaml.get('bounce-deployment')!, riskClass: 'medium' },
    ]);
    expect(camel.get('bounce-deployment')?.targetBinding).toEqual({
      namespace: 'namespace',
      deployment: 'name',
    });
  });

  it('leaves targetBinding undefined when absent, and keeps an explicit empty binding', () => {
    expect(
      ActionRegistry.fromDefinitions([action()]).get('bounce-deployment')?.targetBinding,
    ).toBeUndefined();
    expect(
      ActionRegistry.fromDefinitions([action({ target_binding: {} })]).get('bounce-deployment')
        ?.targetBinding,
    ).toEqual({});
  });

  it('refuses a binding of an undeclared param, naming the params that exist', () => {
    const error = thrown(() =>
      ActionRegistry.fromDefinitions([action({ target_binding: { namespaces: 'namespace' } })]),
    );
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.issues[0]?.path).toBe('target_binding.namespaces');
    expect(error.issues[0]?.message).toMatch(
      /names no parameter.*namespace, deployment, replicas, container/,
    );
  });

  it('refuses a binding of a non-string param', () => {
    const error = thrown(() =>
      ActionRegistry.fromDefinitions([action({ target_binding: { replicas: 'name' } })]),
    );
    expect(error.issues[0]?.path).toBe('target_binding.replicas');
    expect(error.issues[0]?.message).toMatch(/type integer; only string parameters/);
  });

  it('refuses a malformed identifier name and a binding that is not a mapping', () => {
    const bad = thrown(() =>
      ActionRegistry.fromDefinitions([action({ target_binding: { namespace: 'name space' } })]),
    );
    expect(bad.issues[0]?.message).toMatch(/expected the name of a target identifier/);
    const list = thrown(() => ActionRegistry.fromDefinitions([action({ target_binding: ['namespace'] })]));
    expect(list.issues[0]?.path).toBe('target_binding');
  });

  it('warns when a bound param is optional without a default', () => {
    const registry = ActionRegistry.fromDefinitions([action({ target_binding: { container: 'container' } })]);
    expect(registry.warnings.map((issue) => issue.message).join('\n')).toMatch(
      /"container" is optional with no default/,
    );
  });

  it('still refuses unknown action fields (a typo of target_binding)', () => {
    const error = thrown(() => ActionRegistry.fromDefinitions([action({ target_bindings: {} })]));
    expect(error.issues[0]?.message).toMatch(/did you mean "target_binding"/);
  });
});

describe('inventory identifiers', () => {
  it('loads identifiers from a file and in memory', () => {
    const dir = tempDir();
    writeFiles(dir, {
      'inventory.yaml':
        'targets:\n  - id: dev/app\n    type: k8s-deployment\n    environment: dev\n    sensitivity: public\n    identifiers: { cluster: dev-east, namespace: dev, name: app }\n  - id: dev/old\n    type: k8s-deployment\n    environment: dev\n    sensitivity: public\n',
    });
    const inventory = Inventory.loadSync(`${dir}/inventory.yaml`);
    expect(inventory.get('dev/app')?.identifiers).toEqual({
      cluster: 'dev-east',
      namespace: 'dev',
      name: 'app',
    });
    expect(inventory.get('dev/old')?.identifiers).toBeUndefined();
    expect(Object.isFrozen(inventory.get('dev/app')?.identifiers)).toBe(true);
    expect(
      Inventory.fromTargets([target({ identifiers: { name: 'app' } })]).get('dev/app')?.identifiers,
    ).toEqual({
      name: 'app',
    });
  });

  it.each([
    [{ name: 3 }, 'identifiers.name', /expected a string/],
    [{ name: '' }, 'identifiers.name', /non-empty string/],
    [{ name: ' app' }, 'identifiers.name', /no surrounding spaces/],
    [{ name: 'a\u001b[2Jb' }, 'identifiers.name', /control characters/],
    [{ 'bad key': 'x' }, 'identifiers."bad key"', /identifier name/],
    [{ name: 'x'.repeat(513) }, 'identifiers.name', /at most 512/],
  ])('refuses bad identifiers (case %#)', (identifiers, path, message) => {
    const error = thrown(() => Inventory.fromTargets([target({ identifiers })]));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.issues[0]?.path).toBe(`targets[0].${path}`.replace('."bad key"', '.bad key'));
    expect(error.issues[0]?.message).toMatch(message);
  });

  it('refuses identifiers that are not a mapping, and too many of them', () => {
    expect(thrown(() => Inventory.fromTargets([target({ identifiers: 'app' })])).issues[0]?.message).toMatch(
      /expected a mapping of identifier name to string/,
    );
    const many = Object.fromEntries(Array.from({ length: 17 }, (_, index) => [`k${index}`, 'v']));
    expect(thrown(() => Inventory.fromTargets([target({ identifiers: many })])).issues[0]?.message).toMatch(
      /at most 16 identifiers/,
    );
  });

  it('still refuses unknown target fields', () => {
    expect(
      thrown(() => Inventory.fromTargets([target({ identifier: { name: 'x' } })])).issues[0]?.message,
    ).toMatch(/did you mean "identifiers"/);
  });
});
