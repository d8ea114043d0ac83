import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect, it } from '@jest/globals';
import { BIN, cli } from './run-cli.js';

const DEV = {
  action: 'restart-deployment',
  target: 'dev/test-app',
  caller: 'deploy-agent',
  params: { namespace: 'dev', deployment: 'app' },
};
const CLOSE_DEV = `rules:
  - name: dev-closed
    priority: 5000
    match:
      targets:
        environments: [dev]
    decision: deny
    reason: Dev is closed for the reload test
`;

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

// biome-ignore lint/suspicious/noExplicitAny: tests read answer bodies loosely
async function readyz(url: string): Promise<any> {
  return (await fetch(`${url}/readyz`)).json();
}

/** Polls /readyz until `done` holds; fails after 30 s (a deadline, not a measured duration). */
// biome-ignore lint/suspicious/noExplicitAny: tests read answer bodies loosely
async function until(url: string, done: (body: any) => boolean, what: string): Promise<any> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const body = await readyz(url);
    if (done(body)) return body;
    if (Date.now() > deadline) throw new Error(`${what}: /readyz still says ${JSON.stringify(body)}`);
    await sleep(50);
  }
}

// biome-ignore lint/suspicious/noExplicitAny: tests read answer bodies loosely
async function check(url: string): Promise<any> {
  const response = await fetch(`${url}/v1/check`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(DEV),
  });
  expect(response.status).toBe(200);
  return response.json();
}

it('serve: SIGHUP reloads the policies (a DENY becomes ALLOW); a broken file keeps the old ones and is reported', async () => {
  const project = join(mkdtempSync(join(tmpdir(), 'agent-safe-serve-reload-')), 'p');
  expect(cli(['init', project], tmpdir()).code).toBe(0);
  const extra = join(project, 'policies', 'zz-reload.yaml');
  writeFileSync(extra, CLOSE_DEV);
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0'], {
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
    const url = /listening on (http:\/\/\S+)$/.exec(await firstLine(child))?.[1];
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const before = await check(url!);
    expect(before).toMatchObject({ result: 'DENY' });
    expect((await readyz(url!)).policyRevision).toBe(before.policyRevision);

    rmSync(extra);
    child.kill('SIGHUP');
    const reloaded = await until(
      url!,
      (body) => body.policyRevision !== before.policyRevision,
      'the revision did not change after SIGHUP',
    );
    expect(reloaded).toMatchObject({ status: 'ok', lastReload: { ok: true, trigger: 'signal' } });
    const after = await check(url!);
    expect(after).toMatchObject({ result: 'ALLOW', policyRevision: reloaded.policyRevision });

    writeFileSync(extra, 'rules:\n  - name: [unclosed\n');
    child.kill('SIGHUP');
    const failed = await until(
      url!,
      (body) => body.lastReload?.ok === false,
      'the failed reload was not reported',
    );
    expect(failed).toMatchObject({ status: 'ok', policyRevision: reloaded.policyRevision });
    expect(failed.lastReload.error).toContain('zz-reload.yaml');
    expect(await check(url!)).toMatchObject({ result: 'ALLOW', policyRevision: reloaded.policyRevision });
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toContain('agent_safe_config_reload_total{result="ok"} 1');
    expect(metrics).toContain('agent_safe_config_reload_total{result="failed"} 1');

    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stderr).toContain('configuration reloaded (signal)');
    expect(stderr).toContain('configuration reload (signal) failed, still serving revision');
    expect(cli(['audit', 'verify', 'audit.jsonl'], project).code).toBe(0);
  } finally {
    child.kill('SIGKILL');
  }
});

it('serve --watch: reloads when a policy file changes, and --admin-role lets an admin token reload over HTTP', async () => {
  const project = join(mkdtempSync(join(tmpdir(), 'agent-safe-serve-watch-')), 'p');
  expect(cli(['init', project], tmpdir()).code).toBe(0);
  const extra = join(project, 'policies', 'zz-reload.yaml');
  writeFileSync(extra, CLOSE_DEV);
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--watch', '--admin-role', 'ops'], {
    cwd: project,
    env: { ...process.env, AGENT_SAFE_SIGNING_KEY: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  try {
    const url = /listening on (http:\/\/\S+)$/.exec(await firstLine(child))?.[1];
    const before = await check(url!);
    expect(before).toMatchObject({ result: 'DENY' });
    writeFileSync(extra, 'rules: []\n');
    const reloaded = await until(
      url!,
      (body) => body.policyRevision !== before.policyRevision,
      'the revision did not change after the policy file changed',
    );
    expect(reloaded.lastReload).toMatchObject({ ok: true, trigger: 'watch' });
    expect(await check(url!)).toMatchObject({ result: 'ALLOW', policyRevision: reloaded.policyRevision });
    // A policy that parses but names an unknown action is an error for `agent-safe validate`: refused too.
    writeFileSync(
      extra,
      'rules:\n  - name: typo\n    priority: 1\n    match:\n      actions: [no-such-action]\n    decision: allow\n    reason: A typo\n',
    );
    const refused = await until(
      url!,
      (body) => body.lastReload?.ok === false,
      'the refused reload was not reported',
    );
    expect(refused.policyRevision).toBe(reloaded.policyRevision);
    expect(refused.lastReload.error).toContain('no-such-action');
    expect(await check(url!)).toMatchObject({ result: 'ALLOW', policyRevision: reloaded.policyRevision });
    // Without identity configured no token can prove an admin role: the endpoint says so.
    const admin = await fetch(`${url}/v1/admin/reload`, { method: 'POST' });
    expect(admin.status).toBe(400);
    expect(((await admin.json()) as { error: { message: string } }).error.message).toContain('identity');
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  } finally {
    child.kill('SIGKILL');
  }
});
