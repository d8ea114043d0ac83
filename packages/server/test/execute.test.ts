// POST /v1/execute with the dry-run executor (no cluster): the caller must be the ticket's, a ticket
// runs once (also across a reload), secrets never come back, and without a runner the route says how to
// configure one. The same route against a real kube-apiserver is in execute-kubernetes.test.ts.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { type AgentSafeServer, type ServerOptions, createServer, startServer } from '../src/index.js';
import { TEST_KEY, copyProject, post } from './helpers.js';

const SCALE = {
  action: 'scale-deployment',
  target: 'dev/app',
  params: { namespace: 'dev', deployment: 'app', replicas: 3 },
};

let running: AgentSafeServer | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
});

async function serve(options: Partial<ServerOptions> = {}) {
  const cwd = copyProject();
  running = await startServer({
    port: 0,
    config: { cwd, config: false, auditDurability: 'write', security: { signingKey: TEST_KEY } },
    execute: { executor: 'dry-run' },
    ...options,
  });
  const identity = running.safe.identity;
  const tokens = {
    bot: await identity.createToken({ agentId: 'deploy-bot', roles: ['deployer'] }),
    other: await identity.createToken({ agentId: 'other-bot', roles: ['deployer'] }),
  };
  return { url: running.url, tokens, cwd };
}

async function allow(url: string, token: string, request: typeof SCALE | Record<string, unknown> = SCALE) {
  const decision = await post(`${url}/v1/check`, request, { token });
  expect(decision.status).toBe(200);
  expect(decision.body.result).toBe('ALLOW');
  return decision.body.ticket.token as string;
}

describe('POST /v1/execute', () => {
  it('runs the ticket of its own caller once; another caller is refused without using it up', async () => {
    const { url, tokens, cwd } = await serve();
    const ticket = await allow(url, tokens.bot);

    const stolen = await post(`${url}/v1/execute`, { ticket, params: SCALE.params }, { token: tokens.other });
    expect(stolen.status).toBe(403);
    expect(stolen.body.error.code).toBe('TICKET_INVALID');
    expect(stolen.body.error.message).toContain('issued to another caller than other-bot');

    const noCaller = await post(`${url}/v1/execute`, { ticket, params: SCALE.params });
    expect(noCaller.status).toBe(401);

    const run = await post(`${url}/v1/execute`, { ticket, params: SCALE.params }, { token: tokens.bot });
    expect(run.status).toBe(200);
    expect(run.body).toMatchObject({
      status: 'succeeded',
      action: 'scale-deployment',
      target: 'dev/app',
      executor: 'dry-run',
      forced: false,
    });
    expect(run.body.output.calls).toEqual([
      expect.objectContaining({
        method: 'PATCH',
        path: '/apis/apps/v1/namespaces/dev/deployments/app/scale',
        body: { spec: { replicas: 3 } },
      }),
    ]);
    expect(run.body.auditIds.execution).toMatch(/\S/);

    const replay = await post(`${url}/v1/execute`, { ticket, params: SCALE.params }, { token: tokens.bot });
    expect(replay.status).toBe(200);
    expect(replay.body).toMatchObject({ status: 'refused', error: { code: 'TICKET_REPLAYED' } });

    // The stolen attempt is in the audit log as a refused validation naming the thief.
    const log = readFileSync(join(cwd, 'audit.jsonl'), 'utf8');
    expect(log).toContain('CALLER_MISMATCH');
  });

  it('keeps a used ticket used across a reload (store: memory)', async () => {
    const { url, tokens } = await serve();
    const ticket = await allow(url, tokens.bot);
    const run = await post(`${url}/v1/execute`, { ticket, params: SCALE.params }, { token: tokens.bot });
    expect(run.body.status).toBe('succeeded');
    expect((await running!.reload()).ok).toBe(true);
    const replay = await post(`${url}/v1/execute`, { ticket, params: SCALE.params }, { token: tokens.bot });
    expect(replay.body).toMatchObject({ status: 'refused', error: { code: 'TICKET_REPLAYED' } });
  });

  it('refuses params other than the ticket was issued for, and never runs them', async () => {
    const { url, tokens } = await serve();
    const ticket = await allow(url, tokens.bot);
    const run = await post(
      `${url}/v1/execute`,
      { ticket, params: { ...SCALE.params, replicas: 40 } },
      { token: tokens.bot },
    );
    expect(run.status).toBe(200);
    expect(run.body).toMatchObject({ status: 'refused', error: { code: 'TICKET_PARAMS_MISMATCH' } });
  });

  it('masks sensitive params in the answer', async () => {
    const { url, tokens } = await serve();
    const request = {
      action: 'update-configmap',
      target: 'dev/app',
      params: { namespace: 'dev', configmap: 'app', key: 'password', value: 'hunter2-secret-value' },
    };
    const ticket = await allow(url, tokens.bot, request);
    const run = await post(`${url}/v1/execute`, { ticket, params: request.params }, { token: tokens.bot });
    expect(run.status).toBe(200);
    expect(run.body.status).toBe('succeeded');
    const text = JSON.stringify(run.body);
    expect(text).not.toContain('hunter2-secret-value');
    expect(text).toContain('***');
  });

  it('lets a request neither choose the executor nor force prechecks unless the server allows it', async () => {
    const { url, tokens } = await serve();
    const ticket = await allow(url, tokens.bot);
    const executor = await post(
      `${url}/v1/execute`,
      { ticket, params: SCALE.params, executor: 'kubernetes' },
      { token: tokens.bot },
    );
    expect(executor.status).toBe(400);
    expect(executor.body.error.code).toBe('INPUT_INVALID');
    const forced = await post(
      `${url}/v1/execute`,
      { ticket, params: SCALE.params, force: true },
      { token: tokens.bot },
    );
    expect(forced.status).toBe(403);
    expect(forced.body.error.path).toBe('force');
    const long = await post(
      `${url}/v1/execute`,
      { ticket, params: SCALE.params, timeoutMs: 600_000 },
      { token: tokens.bot },
    );
    expect(long.status).toBe(400);
    expect(long.body.error.path).toBe('timeoutMs');
    // None of these used the ticket.
    const run = await post(`${url}/v1/execute`, { ticket, params: SCALE.params }, { token: tokens.bot });
    expect(run.body.status).toBe('succeeded');
  });

  it('answers 409 with how to configure a runner when none is', async () => {
    const { url, tokens } = await serve({ execute: undefined });
    const ticket = await allow(url, tokens.bot);
    const run = await post(`${url}/v1/execute`, { ticket, params: SCALE.params }, { token: tokens.bot });
    expect(run.status).toBe(409);
    expect(run.body.error).toEqual({
      code: 'USAGE',
      message: expect.stringContaining('no runner configured; start serve with --executor'),
    });
  });

  it('refuses a runner configuration that cannot work when the server is created', () => {
    const config = { cwd: copyProject(), config: false as const, security: { signingKey: TEST_KEY } };
    expect(() => createServer({ config, execute: { executor: 'teleport' as unknown as 'dry-run' } })).toThrow(
      /execute options: executor must be one of dry-run, kubectl/,
    );
    expect(() => createServer({ config, execute: { executor: 'dry-run', region: 'eu-west-1' } })).toThrow(
      /region and endpoint apply to executor aws/,
    );
    expect(() => createServer({ config, execute: { executor: 'dry-run', timeoutMs: 10_000_000 } })).toThrow(
      /timeoutMs must be an integer from 1000 to 300000/,
    );
  });
});
