import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { verifyAuditLog } from '@agent-safe/sdk';
import { type AgentSafeServer, startServer } from '../src/index.js';
import { copyProject, post } from './helpers.js';

const DEV = {
  action: 'restart-deployment',
  target: 'dev/app',
  caller: 'deploy-agent',
  params: { namespace: 'dev', deployment: 'app' },
};

let running: AgentSafeServer | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
});

/** The project with a `candidate/` policy set: the enforced rules, with dev denied instead of allowed. */
function shadowProject(): string {
  const cwd = copyProject();
  mkdirSync(join(cwd, 'candidate'));
  setCandidate(cwd, 'deny');
  return cwd;
}

function setCandidate(cwd: string, devDecision: 'allow' | 'deny'): void {
  const rules = readFileSync(join(cwd, 'policies', 'rules.yaml'), 'utf8');
  const candidate = rules.replace(/(name: dev-open\n(?:.*\n)*?\s+decision: )allow/, `$1${devDecision}`);
  writeFileSync(join(cwd, 'candidate', 'rules.yaml'), candidate);
}

async function serve(cwd: string) {
  running = await startServer({
    port: 0,
    config: {
      cwd,
      config: false,
      auditDurability: 'write',
      shadow: { policies: './candidate' },
    },
  });
  return { server: running, url: running.url };
}

async function metricsOf(url: string): Promise<string> {
  return (await fetch(`${url}/metrics`)).text();
}

describe('shadow mode on the server', () => {
  it('answers with the enforced policies, records each difference and counts it in /metrics', async () => {
    const cwd = shadowProject();
    const { url, server } = await serve(cwd);
    const first = await post(`${url}/v1/check`, DEV);
    const second = await post(`${url}/v1/check`, DEV);
    expect(first.body).toMatchObject({ result: 'ALLOW', matchedRule: 'dev-open' });
    expect(second.body).toMatchObject({ result: 'ALLOW' });
    // Staging scale without the deployer role: DENY by both (no rule matches either set).
    const same = await post(`${url}/v1/check`, {
      action: 'scale-deployment',
      target: 'staging/app',
      caller: 'deploy-agent',
      params: { namespace: 'staging', deployment: 'app', replicas: 2 },
    });
    expect(same.body).toMatchObject({ result: 'DENY' });

    const metrics = await metricsOf(url);
    expect(metrics).toContain('agent_safe_shadow_evaluations_total 3\n');
    expect(metrics).toContain('agent_safe_shadow_differences_total{enforced="ALLOW",shadow="DENY"} 2\n');
    expect(metrics).toContain('agent_safe_shadow_errors_total 0\n');
    const shadowRevision = server.safe.shadowStats()?.policyRevision;
    expect(metrics).toContain(`agent_safe_shadow_revision{revision="${shadowRevision}"} 1\n`);

    await server.close();
    running = undefined;
    const events = readFileSync(join(cwd, 'audit.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const differences = events.filter((event) => event.event_type === 'shadow_difference');
    expect(differences.map((event) => event.decision_event_id).sort()).toEqual(
      [first.body.auditId, second.body.auditId].sort(),
    );
    expect(differences[0]).toMatchObject({
      enforced_decision: 'ALLOW',
      enforced_policy_revision: first.body.policyRevision,
      shadow_decision: 'DENY',
      shadow_policy_revision: shadowRevision,
    });
    expect((await verifyAuditLog(join(cwd, 'audit.jsonl'))).ok).toBe(true);
  });

  it('reloads the shadow policies with the rest, and keeps the counters monotonic across the reload', async () => {
    const cwd = shadowProject();
    const { url, server } = await serve(cwd);
    await post(`${url}/v1/check`, DEV);
    const before = server.safe.shadowStats()?.policyRevision;

    setCandidate(cwd, 'allow');
    const status = await server.reload();
    expect(status.ok).toBe(true);
    const after = server.safe.shadowStats()?.policyRevision;
    expect(after).toBe(server.safe.pdp.revision);
    expect(after).not.toBe(before);
    await post(`${url}/v1/check`, DEV);

    const metrics = await metricsOf(url);
    expect(metrics).toContain('agent_safe_shadow_evaluations_total 2\n');
    expect(metrics).toContain('agent_safe_shadow_differences_total{enforced="ALLOW",shadow="DENY"} 1\n');
    expect(metrics).toContain(`agent_safe_shadow_revision{revision="${after}"} 1\n`);
  });

  it('keeps serving the old configuration when the new shadow policies are broken', async () => {
    const cwd = shadowProject();
    const { url, server } = await serve(cwd);
    writeFileSync(join(cwd, 'candidate', 'rules.yaml'), 'rules:\n  - name: [unclosed\n');
    const status = await server.reload();
    expect(status.ok).toBe(false);
    expect(status.error).toContain('shadow policies');
    expect(status.error).toContain(join(cwd, 'candidate', 'rules.yaml'));
    expect((await post(`${url}/v1/check`, DEV)).body).toMatchObject({ result: 'ALLOW' });
    expect(await metricsOf(url)).toContain('agent_safe_shadow_evaluations_total 1\n');
  });

  it('exposes no shadow series when shadow mode is off', async () => {
    const cwd = copyProject();
    running = await startServer({ port: 0, config: { cwd, config: false, auditLog: false } });
    await post(`${running.url}/v1/check`, DEV);
    expect(await metricsOf(running.url)).not.toContain('agent_safe_shadow_');
  });
});
