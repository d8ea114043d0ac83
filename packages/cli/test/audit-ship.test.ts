// `agent-safe audit ship` (issue 10): filesystem and webhook backends through the built CLI, resume
// after the shipping process is killed with SIGKILL mid-run (at least once, contiguous ranges),
// --status, --json-output and refusals of bad options.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { type Server, createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { AuditLog, verifyShipment } from '@agent-safe/sdk';
import { BIN } from './run-cli.js';

const SECRET = randomBytes(48).toString('base64');
let directory: string;

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'agent-safe-ship-cli-'));
});
afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI without blocking this process's event loop (the test's HTTP receiver must answer). */
function start(
  args: string[],
  env: Record<string, string> = {},
): { child: ChildProcess; done: Promise<Run> } {
  const base: Record<string, string | undefined> = { ...process.env };
  delete base.NO_COLOR;
  delete base.FORCE_COLOR;
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: directory,
    env: { ...base, AGENT_SAFE_SHIP_SECRET: SECRET, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const done = new Promise<Run>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return { child, done };
}

const runCli = (args: string[], env: Record<string, string> = {}) => start(args, env).done;

async function writeLog(path: string, count: number): Promise<void> {
  const log = await AuditLog.open(path, { durability: 'write' });
  await Promise.all(
    Array.from({ length: count }, (_, index) =>
      log.append({
        event_id: `evt-${index}`,
        timestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, index % 60)).toISOString(),
        event_type: 'decision',
        action: 'k8s.restart_pod',
        target: 'staging/web',
        caller: 'agent:tester',
        decision: 'ALLOW',
        reason: 'test',
      }),
    ),
  );
  await log.close();
}

interface Receiver {
  url: string;
  batches: { first: number; last: number; sequences: number[] }[];
  status: number;
  delayMs: number;
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const receiver = { batches: [], status: 200, delayMs: 0 } as unknown as Receiver;
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const valid = verifyShipment({
        secret: SECRET,
        timestamp: request.headers['x-agent-safe-timestamp'] as string,
        signature: request.headers['x-agent-safe-signature'] as string,
        body,
      });
      setTimeout(() => {
        if (!valid) return void response.writeHead(401).end();
        if (receiver.status === 200) {
          // application/x-ndjson: the batch header, then the log's lines.
          const [header, ...lines] = body.split('\n');
          const batch = JSON.parse(header!) as { first_sequence: number; last_sequence: number };
          receiver.batches.push({
            first: batch.first_sequence,
            last: batch.last_sequence,
            sequences: lines.filter(Boolean).map((line) => JSON.parse(line).sequence as number),
          });
        }
        response.writeHead(receiver.status).end();
      }, receiver.delayMs);
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  receiver.url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/ingest`;
  receiver.close = async () => {
    server.closeAllConnections();
    await new Promise<void>((done) => server.close(() => done()));
  };
  return receiver;
}

describe('agent-safe audit ship', () => {
  it('copies to a directory, resumes, reports up to date, and shows --status (text and JSON)', async () => {
    const log = join(directory, 'fs.jsonl');
    const copy = join(directory, 'copy');
    await mkdir(copy);
    await writeLog(log, 30);
    const first = await runCli([
      'audit',
      'ship',
      log,
      '--backend',
      'filesystem',
      '--path',
      copy,
      '--log-id',
      'box1',
      '--batch-size',
      '12',
    ]);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(
      /filesystem: shipped 30 lines in 3 batch\(es\) to .*; acknowledged up to sequence 30/,
    );
    expect(first.stderr).not.toContain('\r'); // no progress bar when stderr is not a terminal
    expect((await readdir(join(copy, 'box1'))).filter((file) => file.endsWith('.jsonl'))).toEqual([
      '000000000001-000000000012.jsonl',
      '000000000013-000000000024.jsonl',
      '000000000025-000000000030.jsonl',
    ]);
    const again = await runCli([
      'audit',
      'ship',
      log,
      '--backend',
      'filesystem',
      '--path',
      copy,
      '--log-id',
      'box1',
    ]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/up to date \(sequence 30\)/);
    const status = await runCli(['audit', 'ship', log, '--status']);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/filesystem/);
    expect(status.stdout).toMatch(/acknowledged 30 {2}head 30 {2}lag 0/);
    const json = await runCli(['audit', 'ship', log, '--status', '--json-output']);
    const envelope = JSON.parse(json.stdout);
    expect(envelope).toMatchObject({ command: 'audit ship', ok: true, exitCode: 0, errors: [] });
    expect(envelope.data.shippers[0]).toMatchObject({
      shipper: 'filesystem',
      acknowledgedSequence: 30,
      headSequence: 30,
      lag: 0,
      failures: 0,
      lastError: null,
    });
  });

  it('refuses bad options with the fix, as text and as a JSON envelope', async () => {
    const log = join(directory, 'fs.jsonl');
    const noBackend = await runCli(['audit', 'ship', log]);
    expect(noBackend.code).toBe(1);
    expect(noBackend.stderr).toMatch(/needs --backend \(or --status\)/);
    const wrong = await runCli([
      'audit',
      'ship',
      log,
      '--backend',
      'filesystem',
      '--path',
      directory,
      '--url',
      'https://x',
    ]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/--url does not apply to --backend filesystem/);
    const literal = await runCli([
      'audit',
      'ship',
      log,
      '--backend',
      'webhook',
      '--url',
      'https://a.example/x',
      '--secret-source',
      'my-secret-value',
      '--json-output',
    ]);
    expect(literal.code).toBe(1);
    const envelope = JSON.parse(literal.stdout);
    expect(envelope).toMatchObject({ command: 'audit ship', ok: false, exitCode: 1 });
    expect(JSON.stringify(envelope.errors)).toMatch(/env:NAME or file:PATH/);
    expect(literal.stdout + literal.stderr).not.toContain('my-secret-value');
    const missing = await runCli([
      'audit',
      'ship',
      join(directory, 'nope.jsonl'),
      '--backend',
      'filesystem',
      '--path',
      directory,
    ]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/nope\.jsonl/);
    expect(missing.stderr).not.toMatch(/\n\s+at /);
  });

  it('validate reports audit_shippers settings that check would refuse, and accepts good ones', async () => {
    const project = join(directory, 'validate-project');
    const init = await runCli(['init', project]);
    expect(init.code).toBe(0);
    const { appendFile } = await import('node:fs/promises');
    await appendFile(
      join(project, 'agent-safe.yaml'),
      'audit_shippers:\n  webhook_url: https://a.example/x\n',
    );
    const bad = await new Promise<Run>((resolve) => {
      const child = spawn(process.execPath, [BIN, 'validate', '--json-output'], {
        cwd: project,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString('utf8');
      });
      child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr: '' }));
    });
    expect(bad.code).toBe(1);
    expect(JSON.stringify(JSON.parse(bad.stdout).errors)).toMatch(/audit_shippers\.webhook_secret/);
    await appendFile(join(project, 'agent-safe.yaml'), '  webhook_secret: env:AGENT_SAFE_SHIP_SECRET\n');
    const good = await new Promise<Run>((resolve) => {
      const child = spawn(process.execPath, [BIN, 'validate'], {
        cwd: project,
        env: { ...process.env, AGENT_SAFE_SHIP_SECRET: SECRET },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString('utf8');
      });
      child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr: '' }));
    });
    expect(good.code).toBe(0);
    expect(good.stdout).toMatch(/audit shippers: ships to webhook/);
  });

  it('a refused webhook delivery exits 1 with the error in the envelope and the status', async () => {
    const receiver = await startReceiver();
    try {
      const log = join(directory, 'refused.jsonl');
      await writeLog(log, 3);
      receiver.status = 403;
      const run = await runCli([
        'audit',
        'ship',
        log,
        '--backend',
        'webhook',
        '--url',
        receiver.url,
        '--secret-source',
        'env:AGENT_SAFE_SHIP_SECRET',
        '--json-output',
      ]);
      expect(run.code).toBe(1);
      const envelope = JSON.parse(run.stdout);
      expect(envelope).toMatchObject({
        ok: false,
        exitCode: 1,
        data: { shipper: 'webhook', acknowledgedSequence: 0 },
      });
      expect(envelope.errors[0]).toMatchObject({ code: 'AUDIT_WRITE_FAILED' });
      expect(envelope.errors[0].message).toMatch(/HTTP 403/);
      const status = JSON.parse((await runCli(['audit', 'ship', log, '--status', '--json-output'])).stdout);
      expect(status.data.shippers[0]).toMatchObject({ shipper: 'webhook', failures: 1, lag: 3 });
      expect(status.data.shippers[0].lastError).toMatch(/HTTP 403/);
    } finally {
      await receiver.close();
    }
  });

  it('resumes after the shipping process is killed with SIGKILL mid-run: every sequence arrives, ranges contiguous', async () => {
    const receiver = await startReceiver();
    try {
      const log = join(directory, 'crash.jsonl');
      const total = 600;
      await writeLog(log, total);
      const args = [
        'audit',
        'ship',
        log,
        '--backend',
        'webhook',
        '--url',
        receiver.url,
        '--secret-source',
        'env:AGENT_SAFE_SHIP_SECRET',
        '--batch-size',
        '20',
      ];
      for (let round = 0; round < 3; round++) {
        receiver.delayMs = 15;
        const { child, done } = start(args);
        const seen = receiver.batches.length;
        const deadline = Date.now() + 20_000;
        while (receiver.batches.length < seen + 4 && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
        child.kill('SIGKILL');
        const killed = await done;
        expect(killed.signal).toBe('SIGKILL');
      }
      expect(receiver.batches.at(-1)!.last).toBeLessThan(total);
      receiver.delayMs = 0;
      const finished = await runCli(args);
      expect(finished.code).toBe(0);
      const delivered = new Set<number>();
      let highest = 0;
      for (const batch of receiver.batches) {
        // Contiguous: no batch starts beyond what was already delivered (a re-sent batch may overlap).
        expect(batch.first).toBeLessThanOrEqual(highest + 1);
        expect(batch.sequences).toEqual(
          Array.from({ length: batch.last - batch.first + 1 }, (_, i) => batch.first + i),
        );
        for (const sequence of batch.sequences) delivered.add(sequence);
        highest = Math.max(highest, batch.last);
      }
      expect(delivered.size).toBe(total);
      expect(highest).toBe(total);
    } finally {
      await receiver.close();
    }
  });
});
