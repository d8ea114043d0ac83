import { afterEach, describe, expect, it } from '@jest/globals';
import { type AgentSafeServer, startServer } from '../src/index.js';
import { TEST_KEY, copyProject, post } from './helpers.js';

const PROD = {
  action: 'restart-deployment',
  target: 'prod/app',
  params: { namespace: 'prod', deployment: 'app' },
};
const UNKNOWN = 'apr-0123456789abcdef0123456789abcdef';

let running: AgentSafeServer | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
});

async function serve() {
  running = await startServer({
    port: 0,
    adminRoles: ['auditor'],
    config: {
      cwd: copyProject(),
      config: false,
      auditDurability: 'write',
      security: { signingKey: TEST_KEY },
      approvals: { approverRoles: ['approver'], store: 'memory' },
    },
  });
  const identity = running.safe.identity;
  const tokens = {
    agent: await identity.createToken({ agentId: 'deploy-bot', roles: ['deployer'] }),
    selfApprover: await identity.createToken({ agentId: 'deploy-bot', roles: ['approver'] }),
    alice: await identity.createToken({ agentId: 'alice', roles: ['approver'] }),
    auditor: await identity.createToken({ agentId: 'audrey', roles: ['auditor'] }),
    dave: await identity.createToken({ agentId: 'dave', roles: ['deployer'] }),
  };
  const request = await post(`${running.url}/v1/check`, PROD, { token: tokens.agent });
  expect(request.body.result).toBe('REQUIRE_APPROVAL');
  return { url: running.url, tokens, id: request.body.approvalId as string };
}

// biome-ignore lint/suspicious/noExplicitAny: tests read answer bodies loosely
async function get(url: string, token?: string): Promise<{ status: number; body: any }> {
  const response = await fetch(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  return { status: response.status, body: await response.json() };
}

describe('approvals over HTTP', () => {
  it('lists to approvers and admins, refuses others and self-approval, and hands the ticket to the requester alone', async () => {
    const { url, tokens, id } = await serve();
    const list = await get(`${url}/v1/approvals?status=pending&limit=10`, tokens.alice);
    expect(list.status).toBe(200);
    expect(list.body.approvals).toEqual([
      expect.objectContaining({ id, status: 'pending', caller: 'deploy-bot', action: 'restart-deployment' }),
    ]);
    expect((await get(`${url}/v1/approvals`, tokens.auditor)).status).toBe(200);
    const stranger = await get(`${url}/v1/approvals`, tokens.dave);
    expect(stranger.status).toBe(403);
    expect(stranger.body.error.code).toBe('APPROVAL_REFUSED');
    expect((await get(`${url}/v1/approvals/${id}`, tokens.dave)).status).toBe(403);
    expect((await get(`${url}/v1/approvals`)).status).toBe(401);
    expect((await get(`${url}/v1/approvals`, 'not-a-token')).status).toBe(401);

    const own = await post(`${url}/v1/approvals/${id}/approve`, {}, { token: tokens.selfApprover });
    expect(own.status).toBe(403);
    expect(own.body.error).toMatchObject({ code: 'APPROVAL_REFUSED' });
    expect(own.body.error.message).toContain('SELF_APPROVAL');
    const notApprover = await post(`${url}/v1/approvals/${id}/approve`, {}, { token: tokens.dave });
    expect(notApprover.status).toBe(403);
    expect(notApprover.body.error.message).toContain('NOT_APPROVER');
    // The approver is the token: a body field naming someone is refused by the schema.
    const named = await post(
      `${url}/v1/approvals/${id}/approve`,
      { approver: 'alice' },
      { token: tokens.dave },
    );
    expect(named.status).toBe(400);

    const waiting = get(`${url}/v1/approvals/${id}/wait?timeout=30`, tokens.agent);
    const approved = await post(
      `${url}/v1/approvals/${id}/approve`,
      { comment: 'CHG-7' },
      { token: tokens.alice },
    );
    expect(approved.status).toBe(200);
    expect(approved.body).toMatchObject({ id, status: 'approved' });
    expect(approved.body.approvals).toEqual([
      expect.objectContaining({ approver: 'alice', comment: 'CHG-7' }),
    ]);
    const decided = await waiting;
    expect(decided.status).toBe(200);
    expect(decided.body).toMatchObject({ result: 'ALLOW', approvalId: id, caller: 'deploy-bot' });
    expect(typeof decided.body.ticket.token).toBe('string');

    const again = await post(`${url}/v1/approvals/${id}/approve`, {}, { token: tokens.alice });
    expect(again.status).toBe(409);
    const shown = await get(`${url}/v1/approvals/${id}`, tokens.alice);
    expect(shown.status).toBe(200);
    expect(shown.body.ticket).toMatchObject({ caller: 'deploy-bot' });
    expect(shown.body.ticket.token).toBeUndefined();
    expect(JSON.stringify(shown.body)).not.toContain(decided.body.ticket.token);

    const foreign = await get(`${url}/v1/approvals/${id}/wait?timeout=1`, tokens.alice);
    expect(foreign.status).toBe(403);
    expect(foreign.body.error.code).toBe('APPROVAL_REFUSED');
  });

  it('denies: one denial answers the requester DENY; unknown ids are 404', async () => {
    const { url, tokens, id } = await serve();
    const denied = await post(
      `${url}/v1/approvals/${id}/deny`,
      { comment: 'freeze' },
      { token: tokens.alice },
    );
    expect(denied.status).toBe(200);
    expect(denied.body).toMatchObject({ id, status: 'denied' });
    const decision = await get(`${url}/v1/approvals/${id}/wait?timeout=5`, tokens.agent);
    expect(decision.body).toMatchObject({ result: 'DENY', approvalId: id });
    expect(decision.body.ticket ?? null).toBeNull();

    for (const answer of [
      await get(`${url}/v1/approvals/${UNKNOWN}`, tokens.alice),
      await get(`${url}/v1/approvals/not-an-id`, tokens.alice),
      await post(`${url}/v1/approvals/${UNKNOWN}/approve`, {}, { token: tokens.alice }),
      await get(`${url}/v1/approvals/${UNKNOWN}/wait?timeout=1`, tokens.agent),
    ]) {
      expect(answer.status).toBe(404);
      expect(answer.body.error.code).toBe('APPROVAL_UNKNOWN');
    }
  });

  it('answers pending at the timeout, refuses bad query values, and ends waits when the server closes', async () => {
    const { url, tokens, id } = await serve();
    const pending = await get(`${url}/v1/approvals/${id}/wait?timeout=1`, tokens.agent);
    expect(pending.status).toBe(200);
    expect(pending.body).toEqual({ status: 'pending', approvalId: id });
    for (const query of ['timeout=61', 'timeout=-1', 'timeout=soon']) {
      const bad = await get(`${url}/v1/approvals/${id}/wait?${query}`, tokens.agent);
      expect(bad.status).toBe(400);
      expect(bad.body.error.path).toBe('timeout');
    }
    expect((await get(`${url}/v1/approvals?status=maybe`, tokens.alice)).body.error.path).toBe('status');
    expect((await get(`${url}/v1/approvals?limit=0`, tokens.alice)).body.error.path).toBe('limit');

    const server = running!;
    const arrived = new Promise<void>((done) => server.http.once('request', () => done()));
    const waiting = get(`${url}/v1/approvals/${id}/wait?timeout=60`, tokens.agent);
    await arrived;
    await server.close();
    const ended = await waiting;
    expect(ended.status).toBe(200);
    expect(ended.body).toEqual({ status: 'pending', approvalId: id });
  });
});
