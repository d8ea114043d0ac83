import { afterEach, describe, expect, it } from '@jest/globals';
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

describe('ticket nonces across a reload (default memory store)', () => {
  it('a ticket validated before a reload is refused as replayed after it', async () => {
    running = await startServer({
      port: 0,
      config: {
        cwd: copyProject(),
        config: false,
        auditDurability: 'write',
        security: { signingKey: TEST_KEY },
      },
    });
    const url = running.url;
    const agent = await running.safe.identity.createToken({ agentId: 'deploy-agent' });
    const decision = await post(`${url}/v1/check`, DEV, { token: agent });
    expect(decision.body).toMatchObject({ result: 'ALLOW' });
    expect(decision.body.ticket.token).toMatch(/^ey[\w-]+\.[\w-]+\.[\w-]+$/);
    const body = { token: decision.body.ticket.token, ...DEV, caller: 'deploy-agent' };

    const first = await post(`${url}/v1/tickets/validate`, body);
    expect(first.body).toMatchObject({ valid: true });
    const reloaded = await running.reload('test');
    expect(reloaded.ok).toBe(true);
    const replay = await post(`${url}/v1/tickets/validate`, body);
    expect(replay.body).toMatchObject({ valid: false, code: 'REPLAYED' });
  });
});
