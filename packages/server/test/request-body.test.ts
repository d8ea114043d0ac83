import { request } from 'node:http';
import { afterEach, expect, it } from '@jest/globals';
import { type AgentSafeServer, startServer } from '../src/index.js';
import { copyProject } from './helpers.js';

let running: AgentSafeServer | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
});

/** POSTs `chunks` with chunked transfer encoding (no content-length), one write each. */
function postChunked(url: string, chunks: string[]): Promise<{ status: number; body: string }> {
  return new Promise((done, fail) => {
    const call = request(
      `${url}/v1/check`,
      { method: 'POST', headers: { 'content-type': 'application/json' } },
      (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          body += chunk;
        });
        response.on('end', () => done({ status: response.statusCode ?? 0, body }));
      },
    );
    call.on('error', fail);
    for (const chunk of chunks) call.write(chunk);
    call.end();
  });
}

async function serve(maxBodyBytes?: number): Promise<string> {
  running = await startServer({
    port: 0,
    config: { cwd: copyProject(), config: false, auditDurability: 'write' },
    ...(maxBodyBytes === undefined ? {} : { maxBodyBytes }),
  });
  return running.url;
}

it('reads a body sent in several chunks without a content-length', async () => {
  const url = await serve();
  const text = JSON.stringify({
    action: 'restart-deployment',
    target: 'dev/app',
    caller: 'deploy-agent',
    params: { namespace: 'dev', deployment: 'app' },
  });
  const answer = await postChunked(url, [text.slice(0, 10), text.slice(10, 40), text.slice(40)]);
  expect(answer.status).toBe(200);
  expect(JSON.parse(answer.body)).toMatchObject({ result: 'ALLOW', action: 'restart-deployment' });
});

it('answers 413 to a chunked body that grows past maxBodyBytes (no content-length to refuse it early)', async () => {
  const url = await serve(64);
  const answer = await postChunked(url, ['{"action":"', 'x'.repeat(40), 'y'.repeat(40), '"}']);
  expect(answer.status).toBe(413);
  expect(JSON.parse(answer.body)).toEqual({
    error: { code: 'INPUT_INVALID', message: 'the body is larger than 64 bytes; send a smaller request' },
  });
});
