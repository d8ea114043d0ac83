import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from '@jest/globals';
import { verifyAuditLog } from '@agent-safe/sdk';
import { copyProject } from './helpers.js';

// Graceful shutdown under load: a server in a child process does what `agent-safe serve` does on SIGTERM
// (server.close(): stop accepting, finish the requests in flight, flush the audit log, exit 0) while
// workers keep sending checks. Every request that got an answer must be in the audit log, and the log
// must verify. Correctness only: nothing here measures time.

const DIST = join(import.meta.dirname, '..', 'dist', 'index.js');
const WORKERS = 24;

// The child: the packaged server (run `pnpm turbo run build --filter=@agent-safe/server` first; the
// test task depends on the build) with the audit log fsynced, as `agent-safe serve` runs by default.
const CHILD = `
const { startServer } = await import(process.argv[1]);
const server = await startServer({ port: 0, config: { cwd: process.argv[2], config: false, auditDurability: 'fsync' } });
process.stdout.write(server.url + '\\n');
process.once('SIGTERM', async () => {
  await server.close();
  process.exit(0);
});
`;

function start(cwd: string): { child: ChildProcess; url: Promise<string>; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD, DIST, cwd], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  const url = new Promise<string>((done, fail) => {
    let text = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      if (text.includes('\n')) done(text.slice(0, text.indexOf('\n')));
    });
    void exited.then((code) => fail(new Error(`the server exited with ${code} before listening: ${stderr}`)));
  });
  return { child, url, exited };
}

it('SIGTERM under load: exits 0, every answered check is in the audit log, and the log verifies', async () => {
  const cwd = copyProject();
  const { child, url: listening, exited } = start(cwd);
  try {
    const url = await listening;
    const answered: string[] = [];
    const refused: string[] = [];
    const wrong: string[] = [];
    let signalled = false;
    const worker = async (index: number) => {
      for (;;) {
        try {
          const response = await fetch(`${url}/v1/check`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({
              action: 'restart-deployment',
              target: 'dev/app',
              caller: `agent-${index}`,
              params: { namespace: 'dev', deployment: 'app' },
            }),
          });
          const body = (await response.json()) as { result?: string; auditId?: string };
          if (response.status === 200 && body.result === 'ALLOW' && body.auditId) answered.push(body.auditId);
          else wrong.push(`${response.status} ${JSON.stringify(body)}`);
        } catch (error) {
          const cause = String((error as Error).cause ?? error);
          if (!signalled) wrong.push(`before SIGTERM: ${cause}`);
          // After SIGTERM: the connection was refused or closed before an answer. Not answered; this
          // worker is done.
          else refused.push(cause);
          return;
        }
      }
    };
    const workers = Array.from({ length: WORKERS }, (_, index) => worker(index));
    // Load first, then the signal while requests are in flight.
    while (answered.length < 300 && wrong.length === 0) await new Promise((done) => setTimeout(done, 5));
    signalled = true;
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    await Promise.all(workers);
    expect(refused).toHaveLength(WORKERS);

    expect(wrong).toEqual([]);
    const log = join(cwd, 'audit.jsonl');
    const report = await verifyAuditLog(log);
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
    const logged = new Set(
      readFileSync(log, 'utf8')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { event_type: string; event_id: string })
        .filter((event) => event.event_type === 'decision')
        .map((event) => event.event_id),
    );
    const missing = answered.filter((id) => !logged.has(id));
    expect({ answered: answered.length, missing }).toEqual({ answered: answered.length, missing: [] });
    // A decision can be logged without its answer arriving (the connection cut after the write), never
    // the other way round.
    expect(logged.size).toBeGreaterThanOrEqual(answered.length);
  } finally {
    child.kill('SIGKILL');
  }
}, 120_000);
