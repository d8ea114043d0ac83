// agent-safe serve --executor: POST /v1/execute runs a ticket for its own caller only, and once, also
// after the server restarts (nonces in .agent-safe/state beside agent-safe.yaml); flags that do not fit
// are refused before anything listens.
import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from '@jest/globals';
import { BIN, cli } from './run-cli.js';

const PARAMS = { namespace: 'dev', deployment: 'app' };

/** Starts `agent-safe serve` in `project`; resolves with its URL and a stop() that waits for exit 0. */
async function serve(project: string, args: readonly string[]) {
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', ...args], {
    cwd: project,
    env: { ...process.env, AGENT_SAFE_SIGNING_KEY: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  const line = await new Promise<string>((done, fail) => {
    let text = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      if (text.includes('\n')) done(text.slice(0, text.indexOf('\n')));
    });
    child.once('exit', (code) => fail(new Error(`serve exited with ${code} before printing its URL`)));
  });
  const url = /listening on (http:\/\/\S+)$/.exec(line)?.[1] as string;
  return {
    url,
    async stop() {
      child.kill('SIGTERM');
      const code = await exited;
      child.kill('SIGKILL');
      return code;
    },
  };
}

// biome-ignore lint/suspicious/noExplicitAny: answer bodies are asserted field by field
async function post(url: string, body: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

it('serve --executor dry-run: executes a ticket for its caller once, also across a restart', async () => {
  const project = join(mkdtempSync(join(tmpdir(), 'agent-safe-serve-execute-')), 'p');
  expect(cli(['init', project], tmpdir()).code).toBe(0);
  expect(cli(['identity', 'keygen', '--out', 'keys'], project).code).toBe(0);
  appendFileSync(
    join(project, 'agent-safe.yaml'),
    'signing_key: file:keys/signing-key.secret\nallow_plain_callers: true\n',
  );
  let server = await serve(project, ['--executor', 'dry-run']);
  try {
    const decision = await post(`${server.url}/v1/check`, {
      action: 'restart-deployment',
      target: 'dev/test-app',
      caller: 'deploy-agent',
      params: PARAMS,
    });
    expect(decision.body.result).toBe('ALLOW');
    const ticket = decision.body.ticket.token as string;
    const thief = await post(`${server.url}/v1/execute`, { ticket, params: PARAMS, caller: 'thief' });
    expect(thief.status).toBe(403);
    const run = await post(`${server.url}/v1/execute`, { ticket, params: PARAMS, caller: 'deploy-agent' });
    expect(run.status).toBe(200);
    expect(run.body).toMatchObject({ status: 'succeeded', executor: 'dry-run' });
    expect(await server.stop()).toBe(0);

    server = await serve(project, ['--executor', 'dry-run']);
    const replay = await post(`${server.url}/v1/execute`, { ticket, params: PARAMS, caller: 'deploy-agent' });
    expect(replay.body).toMatchObject({ status: 'refused', error: { code: 'TICKET_REPLAYED' } });
  } finally {
    await server.stop();
  }
  expect(cli(['audit', 'verify', 'audit.jsonl'], project).code).toBe(0);
});

it('serve: refuses runner flags without --executor, or that do not fit it', () => {
  const alone = cli(['serve', '--kubeconfig', 'kubeconfig.yaml'], tmpdir());
  expect(alone.code).toBe(1);
  expect(alone.stderr).toContain('--kubeconfig applies to POST /v1/execute: add --executor');
  const misfit = cli(['serve', '--executor', 'dry-run', '--region', 'eu-west-1'], tmpdir());
  expect(misfit.code).toBe(1);
  expect(misfit.stderr).toContain('--region and --endpoint apply to executor aws');
  const unknown = cli(['serve', '--executor', 'teleport'], tmpdir());
  expect(unknown.code).toBe(1);
  expect(unknown.stderr).toContain('--executor must be one of dry-run');
  const credentials = cli(['serve', '--executor', 'dry-run', '--credentials', 'kubernetes'], tmpdir());
  expect(credentials.code).toBe(1);
  expect(credentials.stderr).toContain('--credentials kubernetes needs --executor kubernetes');
  const role = cli(['serve', '--executor', 'aws', '--credentials', 'aws'], tmpdir());
  expect(role.code).toBe(1);
  expect(role.stderr).toContain('--credentials aws needs --role-arn ARN');
  const badRole = cli(
    ['serve', '--executor', 'aws', '--credentials', 'aws', '--role-arn', 'arn:aws:iam::1:role/x'],
    tmpdir(),
  );
  expect(badRole.code).toBe(1);
  expect(badRole.stderr).toContain('--role-arn must be an IAM role ARN');
  const roleAlone = cli(['serve', '--role-arn', 'arn:aws:iam::123456789012:role/x'], tmpdir());
  expect(roleAlone.code).toBe(1);
  expect(roleAlone.stderr).toContain('--role-arn applies to POST /v1/execute: add --executor');
  const long = cli(['serve', '--executor', 'dry-run', '--execute-timeout', '900'], tmpdir());
  expect(long.code).toBe(1);
  expect(long.stderr).toContain('--execute-timeout must be a whole number of seconds from 1 to 300');
});
