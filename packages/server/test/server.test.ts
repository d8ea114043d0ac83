import { readFileSync } from 'node:fs';
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
const PROD = {
  action: 'restart-deployment',
  target: 'prod/app',
  params: { namespace: 'prod', deployment: 'app' },
};

let running: AgentSafeServer | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
});

async function serve(options: { identity?: boolean; allowPlainCallers?: boolean } = {}) {
  const cwd = copyProject();
  running = await startServer({
    port: 0,
    config: {
      cwd,
      config: false,
      auditDurability: 'write',
      ...(options.identity
        ? { security: { signingKey: TEST_KEY, allowPlainCallers: options.allowPlainCallers } }
        : {}),
    },
  });
  return { server: running, url: running.url, cwd };
}

describe('POST /v1/check', () => {
  it('answers ALLOW, DENY and REQUIRE_APPROVAL as check() does, and audits each', async () => {
    const { url, cwd } = await serve();
    const allow = await post(`${url}/v1/check`, { ...DEV, caller: 'deploy-agent' });
    expect(allow.status).toBe(200);
    expect(allow.body).toMatchObject({ result: 'ALLOW', caller: 'deploy-agent', matchedRule: 'dev-open' });
    const approval = await post(`${url}/v1/check`, { ...PROD, caller: 'deploy-agent' });
    expect(approval.body.result).toBe('REQUIRE_APPROVAL');
    const deny = await post(`${url}/v1/check`, { ...DEV, target: 'nowhere/app', caller: 'deploy-agent' });
    expect(deny.status).toBe(200);
    expect(deny.body.result).toBe('DENY');
    await running!.close();
    running = undefined;
    const report = await verifyAuditLog(join(cwd, 'audit.jsonl'));
    expect(report.ok).toBe(true);
    expect(readFileSync(join(cwd, 'audit.jsonl'), 'utf8').trim().split('\n')).toHaveLength(3);
  });

  it('decides a plan, one decision per step in order', async () => {
    const { url } = await serve();
    const plan = await post(`${url}/v1/check-plan`, {
      steps: [
        { ...DEV, caller: 'a' },
        { ...PROD, caller: 'a' },
      ],
    });
    expect(plan.status).toBe(200);
    expect(plan.body.decisions.map((decision: { result: string }) => decision.result)).toEqual([
      'ALLOW',
      'REQUIRE_APPROVAL',
    ]);
  });
});

describe('caller authentication', () => {
  it('takes the bearer token as the caller; a forged one is DENY as check() does', async () => {
    const { url, server } = await serve({ identity: true });
    const token = await server.safe.identity.createToken({ agentId: 'deploy-agent' });
    const valid = await post(`${url}/v1/check`, DEV, { token });
    expect(valid.body).toMatchObject({ result: 'ALLOW', caller: 'deploy-agent', callerAuthenticated: true });
    expect(typeof valid.body.ticket.token).toBe('string');
    const [header, payload] = token.split('.');
    const forged = await post(`${url}/v1/check`, DEV, {
      token: `${header}.${payload}.AAAAAAAAAAAAAAAAAAAAAA`,
    });
    expect(forged.status).toBe(200);
    expect(forged.body.result).toBe('DENY');
    expect(forged.body.callerAuthenticated).toBe(false);
  });

  it('refuses a request without a token (401) unless plain callers are allowed and one is named', async () => {
    const strict = await serve({ identity: true });
    const missing = await post(`${strict.url}/v1/check`, { ...DEV, caller: 'deploy-agent' });
    expect(missing.status).toBe(401);
    expect(missing.body.error.code).toBe('IDENTITY_INVALID');
    expect(missing.headers.get('www-authenticate')).toBe('Bearer');
    await running!.close();
    const lenient = await serve({ identity: true, allowPlainCallers: true });
    const plain = await post(`${lenient.url}/v1/check`, { ...DEV, caller: 'deploy-agent' });
    expect(plain.body).toMatchObject({ result: 'ALLOW', callerAuthenticated: false });
    expect((await post(`${lenient.url}/v1/check`, DEV)).status).toBe(401);
  });

  it('refuses a body caller that differs from the token (the token wins, the request is a 400)', async () => {
    const { url, server } = await serve({ identity: true });
    const token = await server.safe.identity.createToken({ agentId: 'deploy-agent' });
    const differing = await post(`${url}/v1/check`, { ...DEV, caller: 'someone-else' }, { token });
    expect(differing.status).toBe(400);
    expect(differing.body.error).toMatchObject({ code: 'INPUT_INVALID', path: 'caller' });
    const plan = await post(`${url}/v1/check-plan`, { steps: [DEV, { ...DEV, caller: 'x' }] }, { token });
    expect(plan.body.error.path).toBe('steps[1].caller');
  });
});

describe('POST /v1/tickets/validate', () => {
  it('validates a ticket once, then says REPLAYED (the nonce is consumed)', async () => {
    const { url, server } = await serve({ identity: true });
    const token = await server.safe.identity.createToken({ agentId: 'deploy-agent' });
    const decision = await post(`${url}/v1/check`, DEV, { token });
    const body = { token: decision.body.ticket.token, ...DEV, caller: 'deploy-agent' };
    const first = await post(`${url}/v1/tickets/validate`, body);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ valid: true });
    const second = await post(`${url}/v1/tickets/validate`, body);
    expect(second.body).toMatchObject({ valid: false, code: 'REPLAYED' });
  });
});

describe('limits and errors', () => {
  it('answers 413, 415, 400, 404 and 405 with { error: { code, message } } and no stack', async () => {
    const { url } = await serve();
    const big = await post(`${url}/v1/check`, undefined, {
      raw: JSON.stringify({ ...DEV, context: { pad: 'x'.repeat(1_100_000) } }),
    });
    expect(big.status).toBe(413);
    const text = await post(`${url}/v1/check`, undefined, { raw: 'action=x', contentType: 'text/plain' });
    expect(text.status).toBe(415);
    const malformed = await post(`${url}/v1/check`, undefined, { raw: '{"action": ' });
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.code).toBe('INPUT_INVALID');
    const wrongType = await post(`${url}/v1/check`, { ...DEV, params: [1] });
    expect(wrongType.body.error).toMatchObject({ code: 'INPUT_INVALID', path: 'params' });
    const unknownField = await post(`${url}/v1/check`, { ...DEV, actor: 'x' });
    expect(unknownField.body.error.path).toBe('actor');
    const missing = await fetch(`${url}/v1/nothing`);
    expect(missing.status).toBe(404);
    const wrongMethod = await fetch(`${url}/v1/check`);
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('POST');
    for (const answer of [big, text, malformed, { body: await wrongMethod.json() }]) {
      expect(Object.keys(answer.body)).toEqual(['error']);
      expect(JSON.stringify(answer.body)).not.toMatch(/ at .*\.js/);
    }
  });
});

describe('operations endpoints', () => {
  it('serves health, readiness and metrics after some checks', async () => {
    const { url } = await serve();
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ok', checks: { config: 'ok', auditLog: 'ok' } });
    await post(`${url}/v1/check`, { ...DEV, caller: 'a' });
    await post(`${url}/v1/check`, { ...DEV, caller: 'a' });
    await post(`${url}/v1/check`, { ...PROD, caller: 'a' });
    await post(`${url}/v1/check-plan`, { steps: [{ ...DEV, target: 'nowhere/app', caller: 'a' }] });
    const metrics = await fetch(`${url}/metrics`);
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await metrics.text();
    expect(text).toContain('agent_safe_decisions_total{result="ALLOW"} 2');
    expect(text).toContain('agent_safe_decisions_total{result="REQUIRE_APPROVAL"} 1');
    // The plan's step counts as a decision; only POST /v1/check is timed.
    expect(text).toContain('agent_safe_decisions_total{result="DENY"} 1');
    expect(text).toContain('agent_safe_check_duration_seconds_count 3');
    expect(text).toContain('agent_safe_check_duration_seconds_bucket{le="+Inf"} 3');
    expect(text).toContain('agent_safe_http_requests_total{route="/v1/check",status="200"} 3');
  });

  it('documents every route in /openapi.json, and every documented route answers', async () => {
    const { url, server } = await serve();
    const document = (await (await fetch(`${url}/openapi.json`)).json()) as {
      openapi: string;
      paths: Record<string, Record<string, { requestBody?: unknown }>>;
    };
    expect(document.openapi).toBe('3.1.0');
    for (const route of server.routes)
      expect(document.paths[route.path]?.[route.method.toLowerCase()]).toHaveProperty('responses');
    for (const [path, methods] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(methods)) {
        const response = await fetch(`${url}${path}`, {
          method: method.toUpperCase(),
          ...(operation.requestBody ? { headers: { 'content-type': 'application/json' }, body: '{}' } : {}),
        });
        expect([200, 400]).toContain(response.status);
        await response.arrayBuffer();
      }
    }
    expect(Object.keys(document.paths).sort()).toEqual(
      [...new Set(server.routes.map((route) => route.path))].sort(),
    );
  });
});

describe('graceful close', () => {
  it('answers every request in flight, then flushes the audit log', async () => {
    const { url, server, cwd } = await serve();
    const received = new Promise((done) => server.http.once('request', done));
    const requests = Array.from({ length: 40 }, (_, index) =>
      post(`${url}/v1/check`, { ...DEV, caller: `agent-${index}` }),
    );
    // Close while at least one request is in flight (the first has reached the handler).
    await received;
    const closing = server.close();
    const answers = await Promise.allSettled(requests);
    await closing;
    running = undefined;
    const answered = answers.filter((answer) => answer.status === 'fulfilled' && answer.value.status === 200);
    const lines = readFileSync(join(cwd, 'audit.jsonl'), 'utf8').trim().split('\n').filter(Boolean);
    // Every request the server accepted was answered and audited; none is lost half-way.
    expect(lines).toHaveLength(answered.length);
    expect(answered.length).toBeGreaterThan(0);
    expect((await verifyAuditLog(join(cwd, 'audit.jsonl'))).ok).toBe(true);
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });
});
