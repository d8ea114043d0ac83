import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { verifyAuditLog } from '@agent-safe/sdk';
import { type AgentSafeServer, startServer } from '../src/index.js';
import { TEST_KEY, copyProject, post } from './helpers.js';

const DEV = {
  action: 'restart-deployment',
  target: 'dev/app',
  params: { namespace: 'dev', deployment: 'app' },
};
const OPEN = 'decision: allow\n    reason: Dev is unrestricted';
const CLOSED = 'decision: deny\n    reason: Dev is closed';

let running: AgentSafeServer | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
});

/** A project whose `dev-open` rule denies, so DEV is a DENY until the rule is opened again. */
function closedProject(): string {
  const cwd = copyProject();
  setDev(cwd, CLOSED);
  return cwd;
}

function setDev(cwd: string, rule: string): void {
  const file = join(cwd, 'policies', 'rules.yaml');
  const text = readFileSync(file, 'utf8');
  writeFileSync(file, text.replace(text.includes(OPEN) ? OPEN : CLOSED, rule));
}

async function serve(cwd: string, options: { identity?: boolean } = {}) {
  running = await startServer({
    port: 0,
    config: {
      cwd,
      config: false,
      auditDurability: 'write',
      ...(options.identity ? { security: { signingKey: TEST_KEY } } : {}),
    },
    ...(options.identity ? { adminRoles: ['ops'] } : {}),
  });
  return { server: running, url: running.url };
}

async function getJson(url: string) {
  const response = await fetch(url);
  // biome-ignore lint/suspicious/noExplicitAny: tests read answer bodies loosely
  return { status: response.status, body: (await response.json()) as any };
}

describe('POST /v1/admin/reload', () => {
  it('swaps in the edited policies: a DENY becomes ALLOW and the decision names the new revision', async () => {
    const cwd = closedProject();
    const { url, server } = await serve(cwd, { identity: true });
    const agent = await server.safe.identity.createToken({ agentId: 'deploy-agent' });
    const admin = await server.safe.identity.createToken({ agentId: 'operator', roles: ['ops'] });
    const before = await post(`${url}/v1/check`, DEV, { token: agent });
    expect(before.body).toMatchObject({ result: 'DENY' });

    setDev(cwd, OPEN);
    const reloaded = await post(`${url}/v1/admin/reload`, {}, { token: admin });
    expect(reloaded.status).toBe(200);
    expect(reloaded.body).toMatchObject({ ok: true, trigger: 'admin' });
    expect(reloaded.body.policyRevision).not.toBe(before.body.policyRevision);

    const after = await post(`${url}/v1/check`, DEV, { token: agent });
    expect(after.body).toMatchObject({ result: 'ALLOW', policyRevision: reloaded.body.policyRevision });
    const ready = await getJson(`${url}/readyz`);
    expect(ready.body).toMatchObject({
      status: 'ok',
      policyRevision: reloaded.body.policyRevision,
      lastReload: { ok: true },
    });
    // Both facades wrote the one audit log: the chain is unbroken.
    await server.close();
    running = undefined;
    expect((await verifyAuditLog(join(cwd, 'audit.jsonl'))).ok).toBe(true);
  });

  it('keeps the old configuration serving when the new one is broken, and reports it', async () => {
    const cwd = copyProject();
    const { url, server } = await serve(cwd, { identity: true });
    const agent = await server.safe.identity.createToken({ agentId: 'deploy-agent' });
    const admin = await server.safe.identity.createToken({ agentId: 'operator', roles: ['ops'] });
    const before = await post(`${url}/v1/check`, DEV, { token: agent });
    expect(before.body).toMatchObject({ result: 'ALLOW' });

    writeFileSync(join(cwd, 'policies', 'rules.yaml'), 'rules:\n  - name: [unclosed\n');
    const failed = await post(`${url}/v1/admin/reload`, {}, { token: admin });
    expect(failed.status).toBe(200);
    expect(failed.body).toMatchObject({ ok: false, policyRevision: before.body.policyRevision });
    expect(failed.body.error).toContain('rules.yaml');

    const after = await post(`${url}/v1/check`, DEV, { token: agent });
    expect(after.body).toMatchObject({ result: 'ALLOW', policyRevision: before.body.policyRevision });
    const ready = await getJson(`${url}/readyz`);
    expect(ready.status).toBe(200);
    expect(ready.body.lastReload).toMatchObject({ ok: false, error: failed.body.error });
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toContain('agent_safe_config_reload_total{result="failed"} 1');
    expect(metrics).toContain('agent_safe_config_reload_total{result="ok"} 0');
    expect(metrics).toContain(`agent_safe_config_revision{revision="${before.body.policyRevision}"} 1`);
  });

  it('is for admins only: 401 without a token, 403 without an admin role, 400 when no admin roles are set', async () => {
    const cwd = copyProject();
    const { url, server } = await serve(cwd, { identity: true });
    const agent = await server.safe.identity.createToken({ agentId: 'deploy-agent', roles: ['deployer'] });
    const anonymous = await post(`${url}/v1/admin/reload`, {});
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.error.code).toBe('IDENTITY_INVALID');
    const forged = await post(`${url}/v1/admin/reload`, {}, { token: `${agent}x` });
    expect(forged.status).toBe(401);
    const notAdmin = await post(`${url}/v1/admin/reload`, {}, { token: agent });
    expect(notAdmin.status).toBe(403);
    expect(notAdmin.body.error.message).toContain('admin role');
    expect(server.lastReload).toBeUndefined();
    await server.close();

    const { url: plain } = await serve(copyProject());
    const unconfigured = await post(`${plain}/v1/admin/reload`, {});
    expect(unconfigured.status).toBe(400);
    expect(unconfigured.body.error.code).toBe('USAGE');
    expect(unconfigured.body.error.message).toContain('--admin-role');
  });
});

describe('reload under load', () => {
  it('answers all 200 checks in flight across a reload, each by one configuration, and the log verifies', async () => {
    const cwd = closedProject();
    const { url, server } = await serve(cwd);
    const first = await post(`${url}/v1/check`, { ...DEV, caller: 'warm-up' });
    expect(first.body.result).toBe('DENY');
    const oldRevision = first.body.policyRevision;
    setDev(cwd, OPEN);

    const received = new Promise((done) => server.http.once('request', done));
    const requests = Array.from({ length: 200 }, (_, index) =>
      post(`${url}/v1/check`, { ...DEV, caller: `agent-${index}` }),
    );
    await received;
    const status = await server.reload();
    expect(status).toMatchObject({ ok: true, trigger: 'api' });
    const answers = await Promise.all(requests);

    expect(answers.map((answer) => answer.status)).toEqual(answers.map(() => 200));
    for (const { body } of answers) {
      // Each request was decided wholly by one configuration: the old denies, the new allows.
      expect([body.policyRevision, body.result]).toEqual(
        body.policyRevision === oldRevision ? [oldRevision, 'DENY'] : [status.policyRevision, 'ALLOW'],
      );
    }
    const last = await post(`${url}/v1/check`, { ...DEV, caller: 'after' });
    expect(last.body).toMatchObject({ result: 'ALLOW', policyRevision: status.policyRevision });
    await server.close();
    running = undefined;
    const lines = readFileSync(join(cwd, 'audit.jsonl'), 'utf8').trim().split('\n');
    expect(lines).toHaveLength(202);
    expect((await verifyAuditLog(join(cwd, 'audit.jsonl'))).ok).toBe(true);
  });

  it('cannot reload a server given a facade rather than a configuration', async () => {
    const { AgentSafe } = await import('@agent-safe/sdk/facade');
    running = await startServer({
      port: 0,
      safe: new AgentSafe({ cwd: copyProject(), config: false, auditLog: false }),
    });
    const status = await running.reload();
    expect(status.ok).toBe(false);
    expect(status.error).toContain('cannot reload');
  });
});
