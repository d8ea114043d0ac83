// POST /v1/execute and time: a run longer than the limit a request asks for is stopped and answered
// `timed_out`; a run in flight when the server closes is cancelled, answered and recorded before the
// audit log is flushed. The executor here waits until its run is aborted (an Executor object, which
// only the server's own configuration can name).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import type { Executor } from '@agent-safe/sdk';
import { type AgentSafeServer, startServer } from '../src/index.js';
import { TEST_KEY, copyProject, post } from './helpers.js';

const SCALE = {
  action: 'scale-deployment',
  target: 'dev/app',
  params: { namespace: 'dev', deployment: 'app', replicas: 3 },
};

/** An executor whose execute() waits until the run's signal aborts; `started` resolves when it is called. */
function waitingExecutor() {
  let markStarted: () => void = () => undefined;
  const started = new Promise<void>((resolve) => {
    markStarted = resolve;
  });
  const executor: Executor = {
    name: 'waiting',
    plan: () => [],
    readState: async () => ({}),
    precheck: async () => ({ status: 'pass', reason: 'test' }),
    execute: (_request, context) =>
      new Promise((resolve) => {
        markStarted();
        context.signal.addEventListener('abort', () => resolve({ ok: false, error: 'aborted' }), {
          once: true,
        });
      }),
  };
  return { executor, started };
}

let running: AgentSafeServer | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
});

async function serve(executor: Executor) {
  const cwd = copyProject();
  running = await startServer({
    port: 0,
    config: { cwd, config: false, auditDurability: 'write', security: { signingKey: TEST_KEY } },
    execute: { executor },
  });
  const token = await running.safe.identity.createToken({ agentId: 'deploy-bot', roles: ['deployer'] });
  const decision = await post(`${running.url}/v1/check`, SCALE, { token });
  expect(decision.body.result).toBe('ALLOW');
  return { url: running.url, token, ticket: decision.body.ticket.token as string, cwd };
}

describe('POST /v1/execute over time', () => {
  it('stops a run at the time limit the request asks for and answers timed_out', async () => {
    const { executor } = waitingExecutor();
    const { url, token, ticket } = await serve(executor);
    const run = await post(`${url}/v1/execute`, { ticket, params: SCALE.params, timeoutMs: 200 }, { token });
    expect(run.status).toBe(200);
    expect(run.body).toMatchObject({ status: 'timed_out', executor: 'waiting' });
  });

  it('cancels a run in flight when the server closes, answers it and records it before flushing', async () => {
    const { executor, started } = waitingExecutor();
    const { url, token, ticket, cwd } = await serve(executor);
    const answer = post(`${url}/v1/execute`, { ticket, params: SCALE.params }, { token });
    await started;
    const closed = running!.close();
    const run = await answer;
    await closed;
    running = undefined;
    expect(run.status).toBe(200);
    expect(run.body).toMatchObject({ status: 'cancelled', executor: 'waiting' });
    const events = readFileSync(join(cwd, 'audit.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { event_type?: string; event_id?: string; status?: string });
    const execution = events.find((event) => event.event_id === run.body.auditIds.execution);
    expect(execution).toMatchObject({ event_type: 'execution', status: 'cancelled' });
  });

  it('refuses an executor object that is not one', async () => {
    await expect(
      startServer({
        port: 0,
        config: { cwd: copyProject(), config: false, security: { signingKey: TEST_KEY } },
        execute: { executor: { name: 'half' } as unknown as Executor },
      }),
    ).rejects.toThrow(/an executor object needs a plan\(\) method/);
  });
});
