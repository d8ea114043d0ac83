import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from '@jest/globals';
import { type AgentSafeServer, startServer } from '../src/index.js';
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

async function serve() {
  const cwd = copyProject();
  running = await startServer({
    port: 0,
    config: { cwd, config: false, auditDurability: 'write', security: { signingKey: TEST_KEY } },
  });
  const token = await running.safe.identity.createToken({ agentId: 'deploy-agent' });
  const events = () => readFileSync(join(cwd, 'audit.jsonl'), 'utf8').trim().split('\n').length;
  return { url: running.url, token, events };
}

it('?explain=false answers the whole decision but its explanation (ticket included); the default keeps it', async () => {
  const { url, token } = await serve();
  const full = await post(`${url}/v1/check`, DEV, { token });
  const lean = await post(`${url}/v1/check?explain=false`, DEV, { token });
  const explicit = await post(`${url}/v1/check?explain=true`, DEV, { token });
  expect(full.status).toBe(200);
  expect(lean.status).toBe(200);
  expect(full.body.explanation.matchedRules[0].rule).toBe('dev-open');
  expect(explicit.body.explanation).toEqual(full.body.explanation);
  expect(lean.body).not.toHaveProperty('explanation');
  const { explanation: _explanation, ...rest } = full.body;
  expect(Object.keys(lean.body)).toEqual(Object.keys(rest));
  expect(lean.body).toMatchObject({
    result: 'ALLOW',
    reason: full.body.reason,
    matchedRule: 'dev-open',
    caller: 'deploy-agent',
    callerAuthenticated: true,
    policyRevision: full.body.policyRevision,
    ticket: { token: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/) },
  });
  expect(lean.body.auditId).toMatch(/^evt-[0-9a-f]{32}$/);
  expect(lean.body.auditId).not.toBe(full.body.auditId);
});

it('?explain=false on a plan: every decision without its explanation', async () => {
  const { url, token } = await serve();
  const plan = await post(
    `${url}/v1/check-plan?explain=false`,
    { steps: [DEV, { ...DEV, target: 'prod/app', params: { namespace: 'prod', deployment: 'app' } }] },
    { token },
  );
  expect(plan.status).toBe(200);
  expect(plan.body.decisions.map((decision: { result: string }) => decision.result)).toEqual([
    'ALLOW',
    'REQUIRE_APPROVAL',
  ]);
  for (const decision of plan.body.decisions) expect(decision).not.toHaveProperty('explanation');
});

it('refuses an explain value other than true or false with a 400 naming it, before deciding (nothing logged)', async () => {
  const { url, token, events } = await serve();
  await post(`${url}/v1/check`, DEV, { token });
  const before = events();
  for (const query of ['explain=no', 'explain=', 'explain=false&explain=true']) {
    const answer = await post(`${url}/v1/check?${query}`, DEV, { token });
    expect(answer.status).toBe(400);
    expect(answer.body).toEqual({
      error: { code: 'INPUT_INVALID', message: 'explain must be true or false, given once', path: 'explain' },
    });
  }
  expect(events()).toBe(before);
});

it('documents the parameter on both routes', async () => {
  const { url } = await serve();
  const document = (await (await fetch(`${url}/openapi.json`)).json()) as {
    paths: Record<string, { post: { parameters?: { name: string; in: string; schema: unknown }[] } }>;
  };
  for (const path of ['/v1/check', '/v1/check-plan']) {
    expect(document.paths[path]!.post.parameters).toEqual([
      expect.objectContaining({ name: 'explain', in: 'query', schema: { type: 'boolean', default: true } }),
    ]);
  }
});
