import { mkdtempSync } from 'node:fs';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { type Socket, connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { AuditLog } from '@agent-safe/sdk';
import { AgentSafe } from '@agent-safe/sdk/facade';
import { auditTailRoutes } from '../src/audit-tail-routes.js';
import { TEST_KEY, copyProject } from './helpers.js';

// The tail route on a bare node:http server, so a test can set its heartbeat and poll intervals and look
// at the response's own buffer.

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function tailServer(options: { heartbeatMs: number }) {
  const safe = new AgentSafe({
    cwd: copyProject(),
    config: false,
    auditLog: false,
    security: { signingKey: TEST_KEY },
  });
  const token = await safe.identity.createToken({ agentId: 'audrey', roles: ['auditor'] });
  const logPath = join(mkdtempSync(join(tmpdir(), 'agent-safe-tail-')), 'audit.jsonl');
  const log = await AuditLog.open(logPath, { durability: 'write' });
  const [route] = auditTailRoutes({
    safe: () => safe,
    auditLogPath: () => logPath,
    adminRoles: ['auditor'],
    bearerToken: (request: IncomingMessage) => request.headers.authorization?.slice('Bearer '.length),
    pollMs: 20,
    heartbeatMs: options.heartbeatMs,
  });
  const shutdown = new AbortController();
  const responses: ServerResponse[] = [];
  const server: Server = createServer((request, response) => {
    void (async () => {
      const answer = await route!.handle({
        request,
        query: new URL(request.url ?? '/', 'http://localhost').searchParams,
        signal: shutdown.signal,
      });
      responses.push(response);
      await answer.stream(response);
    })();
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const port = (server.address() as AddressInfo).port;
  cleanups.push(async () => {
    shutdown.abort();
    server.closeAllConnections();
    await new Promise((done) => server.close(done));
    await log.close();
    await safe.close();
  });
  return { port, token, log, responses };
}

/** A raw HTTP client: sends the request, then reads only when told to. */
function rawClient(port: number, token: string): Promise<{ socket: Socket; text: () => string }> {
  return new Promise((done) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(
        `GET /v1/audit/tail?limit=0 HTTP/1.1\r\nhost: localhost\r\nauthorization: Bearer ${token}\r\n\r\n`,
      );
      done({ socket, text: () => received });
    });
    let received = '';
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
    });
    cleanups.push(async () => {
      socket.destroy();
    });
  });
}

const until = async (condition: () => boolean): Promise<void> => {
  while (!condition()) await new Promise((done) => setTimeout(done, 10));
};

describe('the audit tail stream', () => {
  it('sends a heartbeat comment while nothing is appended', async () => {
    const { port, token } = await tailServer({ heartbeatMs: 50 });
    const { text } = await rawClient(port, token);
    await until(() => text().includes(': heartbeat\n\n'));
    expect(text()).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(text()).toContain('content-type: text/event-stream; charset=utf-8');
  });

  it('holds no more than about one read for a client that does not read, and loses nothing', async () => {
    const { port, token, log, responses } = await tailServer({ heartbeatMs: 60_000 });
    const { socket, text } = await rawClient(port, token);
    await until(() => text().includes(': agent-safe audit tail'));
    socket.pause();
    // Far more than the kernel's socket buffers hold on loopback: ~24 MB of events.
    const count = 12_000;
    const padding = 'x'.repeat(2000);
    const appends: Promise<unknown>[] = [];
    for (let index = 0; index < count; index++) {
      appends.push(
        log.append({
          event_id: `evt-${index}`,
          event_type: 'test',
          timestamp: new Date().toISOString(),
          padding,
        }),
      );
    }
    await Promise.all(appends);
    const response = responses[0]!;
    // The server stops at the client's pace: what waits in the response is bounded by a read or so.
    await until(() => response.writableNeedDrain);
    await new Promise((done) => setTimeout(done, 300));
    expect(response.writableLength).toBeLessThan(256 * 1024);
    socket.resume();
    await until(() => text().includes(`id: evt-${count - 1}\n`));
    const ids = [...text().matchAll(/^id: (evt-\d+)$/gm)].map((match) => match[1]);
    expect(ids).toHaveLength(count);
    expect(ids[0]).toBe('evt-0');
    expect(new Set(ids).size).toBe(count);
  }, 60_000);
});
