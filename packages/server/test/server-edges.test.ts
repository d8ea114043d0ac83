import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from '@jest/globals';
import { type AgentSafeServer, type StartServerOptions, startServer } from '../src/index.js';
import { TEST_KEY, copyProject, post } from './helpers.js';

const DEV = {
  action: 'restart-deployment',
  target: 'dev/app',
  params: { namespace: 'dev', deployment: 'app' },
};

let running: AgentSafeServer | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
});

async function serve(options: Partial<StartServerOptions> & { identity?: boolean } = {}) {
  const { identity, ...rest } = options;
  running = await startServer({
    port: 0,
    config: {
      cwd: copyProject(),
      config: false,
      auditDurability: 'write',
      ...(identity ? { security: { signingKey: TEST_KEY } } : {}),
    },
    ...rest,
  });
  return running.url;
}

it('refuses an Authorization header in another scheme (401), and a token the server cannot verify (400)', async () => {
  const strict = await serve({ identity: true });
  const basic = await fetch(`${strict}/v1/check`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Basic YWdlbnQ6cGFzcw==' },
    body: JSON.stringify(DEV),
  });
  expect(basic.status).toBe(401);
  expect(((await basic.json()) as { error: { code: string } }).error.code).toBe('IDENTITY_INVALID');
  await running!.close();
  const open = await serve();
  const bearer = await post(`${open}/v1/check`, DEV, { token: 'a.b.c' });
  expect(bearer.status).toBe(400);
  expect(bearer.body.error.code).toBe('USAGE');
});

it('says that tickets are not configured when there is no signing key', async () => {
  const url = await serve();
  const answer = await post(`${url}/v1/tickets/validate`, { token: 'x', ...DEV });
  expect(answer.status).toBe(400);
  expect(answer.body.error).toMatchObject({ code: 'USAGE' });
  expect(answer.body.error.message).toContain('signing_key');
});

it('names the field of a plan step that breaks the schema', async () => {
  const url = await serve();
  const answer = await post(`${url}/v1/check-plan`, { steps: [DEV, { target: 'dev/app' }] });
  expect(answer.status).toBe(400);
  expect(answer.body.error.path).toBe('steps[1].action');
  expect((await post(`${url}/v1/check-plan`, { steps: [] })).status).toBe(400);
});

it('is not ready (503, naming the check) when the audit log cannot be written', async () => {
  const missing = join(mkdtempSync(join(tmpdir(), 'agent-safe-server-')), 'no-such-dir', 'audit.jsonl');
  const url = await serve({ auditLogPath: missing });
  const ready = await fetch(`${url}/readyz`);
  expect(ready.status).toBe(503);
  const body = (await ready.json()) as { status: string; checks: Record<string, string> };
  expect(body.status).toBe('unavailable');
  expect(body.checks.auditLog).toMatch(/^not writable/);
  expect((await fetch(`${url}/healthz`)).status).toBe(200);
});

it('logs one entry per answered request through onRequest, unknown paths as "unmatched"', async () => {
  const entries: { route: string; status: number; method: string }[] = [];
  const url = await serve({ onRequest: (entry) => entries.push(entry) });
  await post(`${url}/v1/check`, { ...DEV, caller: 'a' });
  await (await fetch(`${url}/nowhere`)).arrayBuffer();
  expect(entries).toEqual([
    expect.objectContaining({ method: 'POST', route: '/v1/check', status: 200 }),
    expect.objectContaining({ method: 'GET', route: 'unmatched', status: 404 }),
  ]);
  const metrics = await (await fetch(`${url}/metrics`)).text();
  expect(metrics).toContain('agent_safe_http_requests_total{route="unmatched",status="404"} 1');
});
