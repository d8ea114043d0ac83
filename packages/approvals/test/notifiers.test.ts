import { type IncomingMessage, type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from '@jest/globals';
import {
  type NotificationFailure,
  SLACK_APPROVE_ACTION,
  SLACK_DENY_ACTION,
  SlackNotifier,
  WebhookNotifier,
  signWebhook,
} from '../src/index.js';
import { record } from './helpers.js';

const SECRET = 'w'.repeat(48);

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
}

let server: Server | undefined;

afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

/** A local HTTP server answering with the given statuses in turn (the last one repeats). */
async function receiver(statuses: number[]): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => {
      body += chunk;
    });
    request.on('end', () => {
      received.push({ headers: request.headers, body });
      response.statusCode = statuses[Math.min(received.length - 1, statuses.length - 1)]!;
      response.end();
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server!.address() as AddressInfo).port}/hook`, received };
}

describe('WebhookNotifier', () => {
  it('POSTs the request, signed with HMAC-SHA256 over timestamp and body', async () => {
    const { url, received } = await receiver([200]);
    const notifier = new WebhookNotifier({ url, secret: SECRET });
    notifier.notify(record());
    await notifier.close();
    expect(received).toHaveLength(1);
    const [delivery] = received;
    const timestamp = String(delivery!.headers['x-agent-safe-timestamp']);
    expect(delivery!.headers['x-agent-safe-signature']).toBe(signWebhook(SECRET, timestamp, delivery!.body));
    expect(signWebhook('x'.repeat(48), timestamp, delivery!.body)).not.toBe(
      delivery!.headers['x-agent-safe-signature'],
    );
    expect(JSON.parse(delivery!.body)).toMatchObject({
      type: 'approval_requested',
      approval_id: record().id,
      action: 'restart-deployment',
      target: 'prod/api-server',
      caller: 'deploy-bot',
      approve_command: expect.stringContaining(`approval approve ${record().id} --approver-token`),
    });
  });

  it('retries a failing receiver with backoff and delivers once it recovers', async () => {
    const { url, received } = await receiver([503, 500, 200]);
    const failures: NotificationFailure[] = [];
    const notifier = new WebhookNotifier({
      url,
      secret: SECRET,
      retryBaseMs: 5,
      onFailure: (f) => failures.push(f),
    });
    notifier.notify(record());
    await notifier.close();
    expect(received).toHaveLength(3);
    expect(failures).toEqual([]);
  });

  it('reports a notification it could not deliver, never throwing or blocking notify()', async () => {
    const failures: NotificationFailure[] = [];
    // Nothing listens on this port.
    const { url } = await receiver([200]);
    await new Promise<void>((resolve) => server!.close(() => resolve()));
    server = undefined;
    const notifier = new WebhookNotifier({
      url,
      secret: SECRET,
      retryBaseMs: 1,
      maxAttempts: 3,
      onFailure: (f) => failures.push(f),
    });
    // notify() returns before any attempt: nothing has failed yet (not even the first connection).
    const returned = notifier.notify(record());
    expect(returned).toBeUndefined();
    expect(failures).toEqual([]);
    await notifier.close();
    expect(failures).toEqual([
      expect.objectContaining({ notifier: 'webhook', approvalId: record().id, attempts: 3 }),
    ]);
  });

  it('does not retry a client error', async () => {
    const { url, received } = await receiver([400]);
    const failures: NotificationFailure[] = [];
    const notifier = new WebhookNotifier({
      url,
      secret: SECRET,
      retryBaseMs: 1,
      onFailure: (f) => failures.push(f),
    });
    notifier.notify(record());
    await notifier.close();
    expect(received).toHaveLength(1);
    expect(failures[0]).toMatchObject({ error: 'HTTP 400', attempts: 1 });
  });

  it('refuses a short secret and a non-http URL', () => {
    expect(() => new WebhookNotifier({ url: 'http://127.0.0.1/', secret: 'short' })).toThrow(
      /at least 32 bytes/,
    );
    expect(() => new WebhookNotifier({ url: 'file:///etc/passwd', secret: SECRET })).toThrow(/http\(s\)/);
  });
});

describe('SlackNotifier', () => {
  it('sends a Block Kit message naming action, target, caller, risk, reason, expiry and the approve command', async () => {
    const { url, received } = await receiver([200]);
    const notifier = new SlackNotifier({ url });
    notifier.notify(record({ reason: 'Prod <!channel> & friends' }));
    await notifier.close();
    const message = JSON.parse(received[0]!.body) as { text: string; blocks: unknown[] };
    const text = JSON.stringify(message.blocks);
    for (const part of [
      'restart-deployment',
      'prod/api-server',
      'deploy-bot',
      'high',
      'Expires',
      'approval approve apr-',
    ]) {
      expect(text).toContain(part);
    }
    expect(text).toContain('&lt;!channel&gt; &amp; friends');
    expect(text).not.toContain('<!channel>');
  });

  it('carries Approve and Deny buttons whose value is the approval id (for POST /v1/slack/interactions)', async () => {
    const { url, received } = await receiver([200]);
    const notifier = new SlackNotifier({ url });
    const sent = record();
    notifier.notify(sent);
    await notifier.close();
    const message = JSON.parse(received[0]!.body) as { blocks: { type: string; elements?: unknown[] }[] };
    const actions = message.blocks.find((block) => block.type === 'actions');
    expect(actions?.elements).toEqual([
      expect.objectContaining({ type: 'button', action_id: SLACK_APPROVE_ACTION, value: sent.id }),
      expect.objectContaining({ type: 'button', action_id: SLACK_DENY_ACTION, value: sent.id }),
    ]);
    expect([SLACK_APPROVE_ACTION, SLACK_DENY_ACTION]).toEqual(['agent_safe_approve', 'agent_safe_deny']);
  });
});
