import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { AgentSafe, runPolicyTests } from '../src/index.js';

/** A project with one bound and one unbound action, and a target with and one without identifiers. */
function project(settings = ''): string {
  const dir = mkdtempSync(join(tmpdir(), 'agent-safe-sdk-binding-'));
  mkdirSync(join(dir, 'actions'));
  const parameters =
    'parameters:\n  - { name: namespace, type: string, required: true }\n  - { name: deployment, type: string, required: true }\n';
  writeFileSync(
    join(dir, 'actions', 'restart.yaml'),
    `name: restart\nversion: "1.0.0"\ndescription: d\nrisk_class: low\ntarget_types: [k8s-deployment]\n${parameters}target_binding: { namespace: namespace, deployment: name }\n`,
  );
  writeFileSync(
    join(dir, 'actions', 'legacy.yaml'),
    `name: legacy\nversion: "1.0.0"\ndescription: d\nrisk_class: low\ntarget_types: [k8s-deployment]\n${parameters}`,
  );
  writeFileSync(
    join(dir, 'inventory.yaml'),
    'targets:\n  - { id: dev/app, type: k8s-deployment, environment: dev, sensitivity: public, identifiers: { namespace: dev, name: app } }\n  - { id: prod/api, type: k8s-deployment, environment: prod, sensitivity: public, identifiers: { namespace: prod, name: api } }\n',
  );
  writeFileSync(
    join(dir, 'policy.yaml'),
    'rules:\n  - { name: allow-all, match: { actions: ["*"] }, decision: allow }\n',
  );
  writeFileSync(
    join(dir, 'agent-safe.yaml'),
    `registry: ./actions\npolicies: ./policy.yaml\ninventory: ./inventory.yaml\n${settings}`,
  );
  return dir;
}

describe('target binding through the SDK', () => {
  it('checkPlan denies the step whose params name another object than its target', async () => {
    const dir = project();
    const safe = new AgentSafe({ cwd: dir, auditLog: false });
    const [good, bad] = await safe.checkPlan([
      { action: 'restart', target: 'dev/app', caller: 'a', params: { namespace: 'dev', deployment: 'app' } },
      { action: 'restart', target: 'dev/app', caller: 'a', params: { namespace: 'prod', deployment: 'api' } },
    ]);
    expect(good?.result).toBe('ALLOW');
    expect(bad?.result).toBe('DENY');
    expect(bad?.errors[0]?.code).toBe('TARGET_MISMATCH');
    expect(bad?.reason).toMatch(/params.namespace is "prod" but target "dev\/app" has namespace "dev"/);
    await safe.close();
  });

  it('policy tests see the binding', () => {
    const safe = new AgentSafe({ cwd: dir(), auditLog: false });
    const base = {
      action: 'restart',
      target: 'dev/app',
      caller: 'a',
      callerRoles: [],
      callerGroups: [],
      delegationChain: [],
      file: 'inline.yaml',
    };
    const report = runPolicyTests(safe, [
      { ...base, name: 'mismatch', params: { namespace: 'prod', deployment: 'api' }, expect: 'DENY' },
      { ...base, name: 'match', params: { namespace: 'dev', deployment: 'app' }, expect: 'ALLOW' },
    ]);
    expect(report.results.map((result) => [result.case.name, result.actual])).toEqual([
      ['mismatch', 'DENY'],
      ['match', 'ALLOW'],
    ]);
  });

  it('enforce_target_binding in agent-safe.yaml, and the enforceTargetBinding option, deny unbound actions', async () => {
    const legacy = {
      action: 'legacy',
      target: 'dev/app',
      caller: 'a',
      params: { namespace: 'x', deployment: 'y' },
    };
    const off = new AgentSafe({ cwd: project(), auditLog: false });
    expect((await off.check(legacy)).result).toBe('ALLOW');
    await off.close();

    const fromFile = new AgentSafe({ cwd: project('enforce_target_binding: true\n'), auditLog: false });
    const denied = await fromFile.check(legacy);
    expect(denied.result).toBe('DENY');
    expect(denied.reason).toMatch(/"legacy" declares no target_binding/);
    await fromFile.close();

    const option = new AgentSafe({
      cwd: project('enforce_target_binding: true\n'),
      auditLog: false,
      enforceTargetBinding: false,
    });
    expect((await option.check(legacy)).result).toBe('ALLOW');
    await option.close();
  });

  it('refuses a non-boolean enforce_target_binding', () => {
    expect(
      () => new AgentSafe({ cwd: project('enforce_target_binding: yes-please\n'), auditLog: false }),
    ).toThrow(/enforce_target_binding|invalid settings/);
  });
});

function dir(): string {
  return project();
}
