import { createHmac } from 'node:crypto';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from '@jest/globals';
import { readAuditLog } from '@agent-safe/sdk';
import { type AgentSafeServer, startServer } from '../src/index.js';
import { TEST_KEY, copyProject, post } from './helpers.js';

const SECRET = 'slack-test-signing-secret-0123456789';
const PROD = {
  action: 'restart-deployment',
  target: 'prod/app',
  params: { namespace: 'prod', deployment: 'app' },
};

let running: AgentSafeServer | undefined;
let slack: Server | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
  slack?.closeAllConnections();
  await new Promise((done) => (slack ? slack.close(done) : done(undefined)));
  slack = undefined;
});

/** A stand-in for Slack: receives the notifier's webhook posts and the response_url updates. */
async function fakeSlack() {
  const received: { path: string; body: unknown }[] = [];
  let arrived: () => void = () => undefined;
  slack = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      received.push({ path: request.url ?? '', body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
      response.end('ok');
      arrived();
    });
  });
  await new Promise<void>((done) => slack!.listen(0, '127.0.0.1', done));
  const origin = `http://127.0.0.1:${(slack.address() as AddressInfo).port}`;
  /** Resolves once `count` posts have arrived. */
  const posts = async (count: number) => {
    while (received.length < count) await new Promise<void>((done) => (arrived = done));
    return received;
  };
  return { origin, posts };
}

async function serve() {
  const fake = await fakeSlack();
  const cwd = copyProject();
  running = await startServer({
    port: 0,
    config: {
      cwd,
      config: false,
      auditDurability: 'write',
      security: { signingKey: TEST_KEY },
      approvals: { approverRoles: ['approver'], store: 'memory', slack: { url: `${fake.origin}/webhook` } },
    },
    slack: {
      signingSecret: SECRET,
      users: {
        U0ALICE: 'alice',
        U0CAROL: { agentId: 'carol', roles: ['approver'] },
        U0DEPLOY: 'deploy-bot',
        U0VIEWER: { agentId: 'vic', roles: ['viewer'] },
      },
      responseUrlOrigins: [fake.origin],
    },
  });
  const agent = await running.safe.identity.createToken({ agentId: 'deploy-bot', roles: ['deployer'] });
  const decision = await post(`${running.url}/v1/check`, PROD, { token: agent });
  expect(decision.body.result).toBe('REQUIRE_APPROVAL');
  // The notification Slack would show: its buttons are what a click sends back.
  const [notification] = await fake.posts(1);
  const blocks = (notification!.body as { blocks: { type: string; elements?: unknown[] }[] }).blocks;
  const buttons = blocks.find((block) => block.type === 'actions')!.elements as {
    action_id: string;
    value: string;
  }[];
  expect(buttons.map((button) => button.value)).toEqual([decision.body.approvalId, decision.body.approvalId]);
  return { url: running.url, cwd, id: decision.body.approvalId as string, buttons, fake, agent };
}

/** The form body Slack POSTs when `user` clicks `button`. */
function click(user: string, button: { action_id: string; value: string }, responseUrl?: string): string {
  const payload = {
    type: 'block_actions',
    user: { id: user, username: user.toLowerCase() },
    actions: [{ ...button, type: 'button', block_id: 'agent_safe_vote', action_ts: '1' }],
    ...(responseUrl ? { response_url: responseUrl } : {}),
  };
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}

/** POSTs a form body signed as Slack signs it (or with the given headers instead). */
async function send(
  url: string,
  body: string,
  options: { secret?: string; timestamp?: number; signature?: string } = {},
  // biome-ignore lint/suspicious/noExplicitAny: tests read answer bodies loosely
): Promise<{ status: number; body: any }> {
  const timestamp = String(options.timestamp ?? Math.floor(Date.now() / 1000));
  const signature =
    options.signature ??
    `v0=${createHmac('sha256', options.secret ?? SECRET)
      .update(`v0:${timestamp}:${body}`)
      .digest('hex')}`;
  const response = await fetch(`${url}/v1/slack/interactions`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-slack-request-timestamp': timestamp,
      'x-slack-signature': signature,
    },
    body,
  });
  return { status: response.status, body: await response.json() };
}

describe('POST /v1/slack/interactions', () => {
  it('approves as the mapped approver through the approval service, and updates the message', async () => {
    const { url, cwd, id, buttons, fake } = await serve();
    const approve = buttons.find((button) => button.action_id === 'agent_safe_approve')!;
    const answer = await send(url, click('U0ALICE', approve, `${fake.origin}/respond/1`));
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ replace_original: true });
    expect(answer.body.text).toContain('Approved by alice');
    const record = await running!.safe.approvals.get(id);
    expect(record.status).toBe('approved');
    expect(record.approvals).toEqual([
      expect.objectContaining({
        approver: 'alice',
        roles: ['approver'],
        comment: 'via Slack (user U0ALICE)',
      }),
    ]);
    const updates = await fake.posts(2);
    expect(updates[1]).toMatchObject({ path: '/respond/1', body: { replace_original: true } });
    // Audited by the approval service, as any vote.
    await running!.close();
    running = undefined;
    const events = await readAuditLog(`${cwd}/audit.jsonl`);
    expect(events.map((event) => event.event_type)).toEqual([
      'approval_requested',
      'decision',
      'approval_granted',
    ]);
    expect(JSON.stringify(events[2])).toContain('"alice"');
  });

  it('denies with the Deny button; the requester mapped to a Slack user cannot decide its own request', async () => {
    const { url, id, buttons, fake } = await serve();
    const deny = buttons.find((button) => button.action_id === 'agent_safe_deny')!;
    const own = await send(url, click('U0DEPLOY', deny, `${fake.origin}/respond/own`));
    expect(own.status).toBe(403);
    expect(own.body.error.message).toContain('SELF_APPROVAL');
    // The refusal reaches the person who clicked, as an ephemeral message.
    const [, refusal] = await fake.posts(2);
    expect(refusal).toMatchObject({
      path: '/respond/own',
      body: { response_type: 'ephemeral', replace_original: false },
    });
    expect((refusal!.body as { text: string }).text).toContain('SELF_APPROVAL');
    const viewer = await send(url, click('U0VIEWER', deny));
    expect(viewer.status).toBe(403);
    expect(viewer.body.error.message).toContain('NOT_APPROVER');
    expect((await running!.safe.approvals.get(id)).status).toBe('pending');
    const denied = await send(url, click('U0CAROL', deny));
    expect(denied.status).toBe(200);
    expect(denied.body.text).toContain('Denied by carol');
    expect((await running!.safe.approvals.get(id)).status).toBe('denied');
    const again = await send(url, click('U0ALICE', buttons[0]!));
    expect(again.status).toBe(409);
  });

  it('refuses an unknown Slack user, a wrong signature, an old or future timestamp, and a malformed request', async () => {
    const { url, id, buttons } = await serve();
    const approve = buttons[0]!;
    const stranger = await send(url, click('U0MALLORY', approve));
    expect(stranger.status).toBe(403);
    expect(stranger.body.error.message).toContain('U0MALLORY is not mapped');

    const body = click('U0ALICE', approve);
    const wrongSecret = await send(url, body, { secret: 'another-secret-0123456789abcdef' });
    expect(wrongSecret.status).toBe(401);
    expect(wrongSecret.body.error.message).toContain('X-Slack-Signature does not verify');
    const tampered = await send(url, click('U0CAROL', approve), {
      timestamp: 1,
      signature: 'v0=00',
    });
    expect(tampered.status).toBe(401);
    // A signature made for one body does not carry over to another.
    const timestamp = Math.floor(Date.now() / 1000);
    const signed = `v0=${createHmac('sha256', SECRET).update(`v0:${timestamp}:${body}`).digest('hex')}`;
    const swapped = await send(url, click('U0CAROL', approve), { timestamp, signature: signed });
    expect(swapped.status).toBe(401);
    for (const skew of [-301, 301]) {
      const replay = await send(url, body, { timestamp: timestamp + skew });
      expect(replay.status).toBe(401);
      expect(replay.body.error.message).toContain('more than 5 minutes');
    }
    expect((await running!.safe.approvals.get(id)).status).toBe('pending');

    const notJson = await fetch(`${url}/v1/slack/interactions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(notJson.status).toBe(415);
    const badPayload = await send(url, 'payload=%7B');
    expect(badPayload.status).toBe(400);
    const badValue = await send(url, click('U0ALICE', { action_id: 'agent_safe_approve', value: 'apr-x' }));
    expect(badValue.status).toBe(400);
    const unknown = await send(
      url,
      click('U0ALICE', { action_id: 'agent_safe_approve', value: `apr-${'0'.repeat(32)}` }),
    );
    expect(unknown.status).toBe(404);
    const huge = await send(url, `payload=${'a'.repeat(300 * 1024)}`);
    expect(huge.status).toBe(413);
  });

  it('answers 400 when Slack is not configured, and refuses a configuration without a secret', async () => {
    running = await startServer({
      port: 0,
      config: { cwd: copyProject(), config: false, auditLog: false },
    });
    const answer = await send(running.url, 'payload=%7B%7D');
    expect(answer.status).toBe(400);
    expect(answer.body.error.message).toContain('server.slack');
    await expect(
      startServer({
        port: 0,
        config: { cwd: copyProject(), config: false, auditLog: false },
        slack: { signingSecret: 'short', users: {} },
      }),
    ).rejects.toThrow('server.slack.signing_secret');
    await expect(
      startServer({
        port: 0,
        config: { cwd: copyProject(), config: false, auditLog: false },
        slack: { signingSecret: SECRET, users: { alice: 'alice' } },
      }),
    ).rejects.toThrow('server.slack.users.alice');
  });
});
