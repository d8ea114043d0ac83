import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from '@jest/globals';
import { BIN, cli } from './run-cli.js';

/** Resolves with the first line the child prints on stdout. */
function firstLine(child: ReturnType<typeof spawn>): Promise<string> {
  return new Promise((done, fail) => {
    let text = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      if (text.includes('\n')) done(text.slice(0, text.indexOf('\n')));
    });
    child.once('exit', (code) => fail(new Error(`serve exited with ${code} before printing its URL`)));
  });
}

it('serve: prints its URL, decides over HTTP, logs requests to stderr, exits 0 on SIGTERM with the audit log intact', async () => {
  const project = join(mkdtempSync(join(tmpdir(), 'agent-safe-serve-')), 'p');
  expect(cli(['init', project], tmpdir()).code).toBe(0);
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--log-requests'], {
    cwd: project,
    env: { ...process.env, AGENT_SAFE_SIGNING_KEY: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  try {
    await exercise(child, project, () => stderr, exited);
  } finally {
    child.kill('SIGKILL');
  }
});

async function exercise(
  child: ReturnType<typeof spawn>,
  project: string,
  stderr: () => string,
  exited: Promise<number | null>,
): Promise<void> {
  const line = await firstLine(child);
  const url = /^agent-safe serve listening on (http:\/\/127\.0\.0\.1:\d+)$/.exec(line)?.[1];
  expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  const response = await fetch(`${url}/v1/check`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      action: 'restart-deployment',
      target: 'dev/test-app',
      caller: 'deploy-agent',
      params: { namespace: 'dev', deployment: 'app' },
    }),
  });
  expect(response.status).toBe(200);
  expect(((await response.json()) as { result: string }).result).toBe('ALLOW');
  child.kill('SIGTERM');
  expect(await exited).toBe(0);
  const logged = stderr()
    .trim()
    .split('\n')
    .map((entry) => JSON.parse(entry) as Record<string, unknown>);
  expect(logged).toEqual([expect.objectContaining({ method: 'POST', route: '/v1/check', status: 200 })]);
  const verify = cli(['audit', 'verify', 'audit.jsonl'], project);
  expect(verify.code).toBe(0);
}

it('serve: refuses a port that is not a number', () => {
  const result = cli(['serve', '--port', 'http'], tmpdir());
  expect(result.code).toBe(1);
  expect(result.stderr).toContain('--port must be a TCP port number');
});
