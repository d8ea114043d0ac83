import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { cli } from './run-cli.js';

let project: string;

beforeAll(() => {
  project = join(mkdtempSync(join(tmpdir(), 'agent-safe-binding-')), 'project');
  const init = cli(['init', project], tmpdir());
  expect(init.code).toBe(0);
});

function check(target: string, action: string, params: unknown, extra: string[] = []) {
  return cli(
    [
      'check',
      action,
      '--target',
      target,
      '--caller',
      'agent-1',
      '--params',
      JSON.stringify(params),
      '--no-audit',
      ...extra,
    ],
    project,
  );
}

describe('target binding in an init project', () => {
  it("DENYs the issue's attack: a dev namespace target with params naming the production namespace", () => {
    const result = check('dev/sandbox-ns', 'delete-namespace', { namespace: 'payments' });
    expect(result.code).toBe(2);
    expect(result.stdout).toMatch(/^DENY/);
    expect(result.stdout).toContain(
      'params.namespace is "payments" but target "dev/sandbox-ns" has name "sandbox-ns"',
    );
  });

  it('ALLOWs the same action when the params name the target', () => {
    const result = check('dev/sandbox-ns', 'delete-namespace', { namespace: 'sandbox-ns' });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^ALLOW/);
  });

  it('says in --explain that the binding held, and reports TARGET_MISMATCH in JSON', () => {
    const held = check('dev/test-app', 'restart-deployment', { namespace: 'dev', deployment: 'app' }, [
      '--explain',
    ]);
    expect(held.code).toBe(0);
    expect(held.stdout).toContain(
      'target binding held: params.namespace = namespace "dev", params.deployment = name "app" of target "dev/test-app"',
    );
    const denied = check(
      'dev/test-app',
      'restart-deployment',
      { namespace: 'prod', deployment: 'api-server' },
      ['--json-output'],
    );
    expect(denied.code).toBe(2);
    expect(denied.stdout).toContain('TARGET_MISMATCH');
    expect(denied.stdout).toContain(
      'params.namespace is \\"prod\\" but target \\"dev/test-app\\" has namespace \\"dev\\"',
    );
  });

  it('keeps the README quickstart decisions', () => {
    expect(check('dev/test-app', 'restart-deployment', { namespace: 'dev', deployment: 'app' }).code).toBe(0);
    expect(
      check('prod/api-server', 'restart-deployment', { namespace: 'prod', deployment: 'api-server' }, [
        '--ticket-id',
        'JIRA-1234',
      ]).code,
    ).toBe(3);
    const outOfRange = check('dev/test-app', 'scale-deployment', {
      namespace: 'dev',
      deployment: 'app',
      replicas: 500,
    });
    expect(outOfRange.code).toBe(2);
    expect(outOfRange.stdout).toMatch(/500 is above the maximum 100/);
  });

  it("passes the template's policy tests, including its target-binding cases", () => {
    const result = cli(['test', 'tests/'], project);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(
      'PASS a dev target cannot be used to delete a production namespace → DENY',
    );
    expect(result.stdout).toMatch(/\b0 failed\b/);
  });

  it('validate reports the init project bound; an unbound action is DENY with enforce_target_binding', () => {
    const clean = cli(['validate'], project);
    expect(clean.code).toBe(0);
    expect(clean.stdout).not.toContain('target binding');

    const action = join(project, 'actions', 'restart-deployment.yaml');
    const original = readFileSync(action, 'utf8');
    const unbound = original.replace(/^target_binding:\n(  .*\n)+/m, '');
    expect(unbound).not.toBe(original);
    writeFileSync(action, unbound);
    try {
      const validate = cli(['validate'], project);
      expect(validate.stdout).toMatch(
        /1 action\(s\) declare no target_binding \(restart-deployment\): every request for them is DENY \(enforce_target_binding is on\)/,
      );
      const result = check('dev/test-app', 'restart-deployment', { namespace: 'dev', deployment: 'app' });
      expect(result.code).toBe(2);
      expect(result.stdout).toMatch(/declares no target_binding, and this project enforces target binding/);
    } finally {
      writeFileSync(action, original);
    }
  });

  it('evaluates unbound requests as before when enforce_target_binding is off, and validate warns', () => {
    const dir = mkdtempSync(join(tmpdir(), 'agent-safe-unbound-'));
    mkdirSync(join(dir, 'actions'));
    writeFileSync(
      join(dir, 'actions', 'bounce.yaml'),
      'name: bounce\nversion: "1.0.0"\ndescription: d\nrisk_class: low\ntarget_types: [k8s-deployment]\nparameters:\n  - { name: namespace, type: string, required: true }\n',
    );
    writeFileSync(
      join(dir, 'inventory.yaml'),
      'targets:\n  - { id: dev/app, type: k8s-deployment, environment: dev, sensitivity: public }\n',
    );
    writeFileSync(
      join(dir, 'policy.yaml'),
      'rules:\n  - { name: allow-dev, match: { targets: { environments: [dev] } }, decision: allow }\n',
    );
    const paths = ['--registry', 'actions', '--policies', 'policy.yaml', '--inventory', 'inventory.yaml'];
    const result = cli(
      [
        'check',
        'bounce',
        '--target',
        'dev/app',
        '--caller',
        'a',
        '--params',
        '{"namespace":"anything"}',
        '--no-audit',
        ...paths,
      ],
      dir,
    );
    expect(result.code).toBe(0);
    const validate = cli(['validate', ...paths], dir);
    expect(validate.stdout).toMatch(
      /1 action\(s\) declare no target_binding \(bounce\): their params are not checked/,
    );
    expect(validate.stdout).toMatch(/1 target\(s\) have no identifiers \(dev\/app\)/);
  });
});
