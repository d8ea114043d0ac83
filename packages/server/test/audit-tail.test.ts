import { readdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { type AgentSafeServer, type RequestLogEntry, startServer } from '../src/index.js';
import { TEST_KEY, copyProject, post } from './helpers.js';

const STAGING = {
  action: 'scale-deployment',
  target: 'staging/app',
  params: { namespace: 'staging', deployment: 'app', replicas: 2 },
};

let running: AgentSafeServer | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
});

async function serve(
  extra: { auditRotate?: { maxBytes: number }; onRequest?: (e: RequestLogEntry) => void } = {},
) {
  const cwd = copyProject();
  running = await startServer({
    port: 0,
    adminRoles: ['auditor'],
    ...(extra.onRequest ? { onRequest: extra.onRequest } : {}),
    config: {
      cwd,
      config: false,
      auditDurability: 'write',
      security: { signingKey: TEST_KEY },
      ...(extra.auditRotate ? { auditRotate: extra.auditRotate } : {}),
    },
  });
  const identity = running.safe.identity;
  const tokens = {
    agent: await identity.createToken({ agentId: 'deploy-bot', roles: ['deployer'] }),
    auditor: await identity.createToken({ agentId: 'audrey', roles: ['auditor'] }),
  };
  const url = running.url;
  const check = async (): Promise<string> => {
    const answer = await post(`${url}/v1/check`, STAGING, { token: tokens.agent });
    expect(answer.status).toBe(200);
    return answer.body.auditId as string;
  };
  return { url, tokens, check, cwd };
}

interface SseEvent {
  id?: string;
  event?: string;
  // biome-ignore lint/suspicious/noExplicitAny: tests read events loosely
  data?: any;
}

/** Opens the stream and hands out its events one by one (comments are counted, not returned). */
async function openTail(url: string, token: string, headers: Record<string, string> = {}) {
  const controller = new AbortController();
  const response = await fetch(url, {
    headers: { authorization: `Bearer ${token}`, ...headers },
    signal: controller.signal,
  });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  let comments = 0;
  let ended = false;
  const queue: SseEvent[] = [];
  const next = async (): Promise<SseEvent | undefined> => {
    while (queue.length === 0) {
      const boundary = text.indexOf('\n\n');
      if (boundary >= 0) {
        const block = text.slice(0, boundary);
        text = text.slice(boundary + 2);
        if (block.startsWith(':')) {
          comments++;
          continue;
        }
        const event: SseEvent = {};
        for (const line of block.split('\n')) {
          const colon = line.indexOf(': ');
          const [name, value] = [line.slice(0, colon), line.slice(colon + 2)];
          if (name === 'id') event.id = value;
          if (name === 'event') event.event = value;
          if (name === 'data') event.data = JSON.parse(value);
        }
        queue.push(event);
        continue;
      }
      if (ended) return undefined;
      const { value, done } = await reader.read();
      if (done) ended = true;
      else text += decoder.decode(value, { stream: true });
    }
    return queue.shift();
  };
  const take = async (count: number): Promise<SseEvent[]> => {
    const events: SseEvent[] = [];
    while (events.length < count) {
      const event = await next();
      if (!event) throw new Error(`the stream ended after ${events.length} of ${count} events`);
      events.push(event);
    }
    return events;
  };
  return { next, take, abort: () => controller.abort(), comments: () => comments };
}

describe('GET /v1/audit/tail', () => {
  it('is for admins only, and checks its query', async () => {
    const { url, tokens } = await serve();
    const tail = `${url}/v1/audit/tail`;
    const anonymous = await fetch(tail);
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as { error: { code: string } }).error.code).toBe('IDENTITY_INVALID');
    const agent = await fetch(tail, { headers: { authorization: `Bearer ${tokens.agent}` } });
    expect(agent.status).toBe(403);
    expect(((await agent.json()) as { error: { message: string } }).error.message).toContain(
      'deploy-bot may not tail the audit log',
    );
    for (const query of ['limit=-1', 'limit=1001', 'limit=ten', 'since=%0a']) {
      const bad = await fetch(`${tail}?${query}`, { headers: { authorization: `Bearer ${tokens.auditor}` } });
      expect(bad.status).toBe(400);
      await bad.body?.cancel();
    }
    const unknown = await fetch(`${tail}?since=evt-00000000000000000000000000000000`, {
      headers: { authorization: `Bearer ${tokens.auditor}` },
    });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { message: string } }).error.message).toContain(
      'cannot resume',
    );
  });

  it('sends the backlog, then each event as it is appended, and resumes after an event id', async () => {
    const { url, tokens, check } = await serve();
    const ids = [await check(), await check(), await check()];
    const tail = await openTail(`${url}/v1/audit/tail?limit=2`, tokens.auditor);
    const backlog = await tail.take(2);
    expect(backlog.map((event) => event.id)).toEqual(ids.slice(1));
    expect(backlog[0]).toMatchObject({ event: 'audit', data: { event_type: 'decision', decision: 'ALLOW' } });
    const live = await check();
    const [appended] = await tail.take(1);
    expect(appended!.id).toBe(live);
    expect(appended!.data).toMatchObject({
      event_id: live,
      caller: 'deploy-bot',
      action: 'scale-deployment',
    });
    expect(appended!.data.sequence).toBe(backlog[1]!.data.sequence + 1);
    tail.abort();

    // Resuming (as EventSource does with Last-Event-ID) sends what followed that event, no more.
    const resumed = await openTail(`${url}/v1/audit/tail`, tokens.auditor, { 'last-event-id': ids[1]! });
    expect((await resumed.take(2)).map((event) => event.id)).toEqual([ids[2], live]);
    const after = await check();
    expect((await resumed.take(1))[0]!.id).toBe(after);
    resumed.abort();
    const since = await openTail(`${url}/v1/audit/tail?since=${live}&limit=0`, tokens.auditor);
    expect((await since.take(1))[0]!.id).toBe(after);
    since.abort();
  });

  it('follows the log across rotation', async () => {
    const { url, tokens, check, cwd } = await serve({ auditRotate: { maxBytes: 1024 } });
    const first = await check();
    const tail = await openTail(`${url}/v1/audit/tail?limit=1`, tokens.auditor);
    expect((await tail.take(1))[0]!.id).toBe(first);
    const ids: string[] = [];
    for (let index = 0; index < 4; index++) ids.push(await check());
    // Each decision event is longer than 1 KiB, so the writer rotated the file several times.
    expect(readdirSync(cwd).filter((name) => name.startsWith('audit.jsonl.')).length).toBeGreaterThan(1);
    // Each rotation adds a log_continued event at the head of the new file; the decisions arrive in order.
    const followed: string[] = [];
    const types = new Set<string>();
    while (followed.length < ids.length) {
      const event = await tail.next();
      if (!event) throw new Error(`the stream ended after ${followed.length} decisions`);
      types.add(event.data.event_type);
      if (event.data.event_type === 'decision') followed.push(event.id!);
    }
    expect(followed).toEqual(ids);
    expect(types).toContain('log_continued');
    tail.abort();
  });

  it('after a rotation sends only what followed the start, not the history in rotated files', async () => {
    const { url, tokens, check } = await serve({ auditRotate: { maxBytes: 1024 } });
    for (let index = 0; index < 3; index++) await check();
    const tail = await openTail(`${url}/v1/audit/tail?limit=0`, tokens.auditor);
    const fresh = [await check(), await check()];
    const decisions: string[] = [];
    while (decisions.length < fresh.length) {
      const event = await tail.next();
      if (!event) throw new Error('the stream ended');
      if (event.data.event_type === 'decision') decisions.push(event.id!);
    }
    expect(decisions).toEqual(fresh);
    tail.abort();
  });

  it('follows a rename by another program (logrotate)', async () => {
    const { url, tokens, check, cwd } = await serve();
    const before = await check();
    const tail = await openTail(`${url}/v1/audit/tail?limit=1`, tokens.auditor);
    expect((await tail.take(1))[0]!.id).toBe(before);
    renameSync(join(cwd, 'audit.jsonl'), join(cwd, 'audit.jsonl.1'));
    const after = [await check(), await check()];
    const decisions: string[] = [];
    while (decisions.length < after.length) {
      const event = await tail.next();
      if (!event) throw new Error('the stream ended');
      if (event.data.event_type === 'decision') decisions.push(event.id!);
    }
    expect(decisions).toEqual(after);
    tail.abort();
  });

  it('ends the stream when the server closes, and when the client goes away', async () => {
    const answered: RequestLogEntry[] = [];
    let tailAnswered: () => void = () => undefined;
    const logged = new Promise<void>((done) => {
      tailAnswered = done;
    });
    const { url, tokens } = await serve({
      onRequest: (entry) => {
        answered.push(entry);
        if (entry.route === '/v1/audit/tail') tailAnswered();
      },
    });
    const gone = await openTail(`${url}/v1/audit/tail`, tokens.auditor);
    gone.abort();
    // The server noticed the disconnect: the request was answered (and logged) while the server runs.
    await logged;
    expect(answered.find((entry) => entry.route === '/v1/audit/tail')).toMatchObject({ status: 200 });

    const open = await openTail(`${url}/v1/audit/tail`, tokens.auditor);
    const closing = running!.close();
    expect(await open.next()).toBeUndefined();
    await closing;
    running = undefined;
  });
});
