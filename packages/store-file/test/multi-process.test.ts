import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { FileGuardStore } from '../src/index.js';
import { temporaryDirectory } from './helpers.js';

// Several processes on one state directory, as concurrent `agent-safe check` runs are. The workers run
// the built package (dist): build it first (`pnpm turbo run build --filter=@agent-safe/store-file`).

const WORKER = join(import.meta.dirname, 'fixtures', 'take-worker.mjs');
const directories: { remove(): void }[] = [];
const children: ChildProcess[] = [];

afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  for (const directory of directories.splice(0)) directory.remove();
});

function directory(): string {
  const created = temporaryDirectory();
  directories.push(created);
  return created.path;
}

function start(args: string[]): {
  child: ChildProcess;
  line: (text: string) => Promise<string>;
  exit: Promise<number | null>;
} {
  const child = spawn(process.execPath, [WORKER, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(child);
  let buffer = '';
  const waiters: ((line: string) => void)[] = [];
  const lines: string[] = [];
  child.stdout!.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    let end = buffer.indexOf('\n');
    while (end >= 0) {
      const line = buffer.slice(0, end);
      buffer = buffer.slice(end + 1);
      const waiter = waiters.shift();
      if (waiter) waiter(line);
      else lines.push(line);
      end = buffer.indexOf('\n');
    }
  });
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    exit,
    line: (expected) =>
      new Promise<string>((resolve, reject) => {
        const deliver = (line: string) =>
          line === expected || expected === '*' ? resolve(line) : reject(new Error(`worker said ${line}`));
        const queued = lines.shift();
        if (queued !== undefined) deliver(queued);
        else waiters.push(deliver);
        void exit.then((code) => reject(new Error(`worker exited with ${code}`)));
      }),
  };
}

async function race(
  path: string,
  mode: string,
  workers: number,
  limit: number,
  attempts: number,
  inFlight: number,
) {
  const started = Array.from({ length: workers }, () =>
    start([path, mode, 'caller-1', String(limit), String(attempts), String(inFlight)]),
  );
  await Promise.all(started.map((worker) => worker.line('ready')));
  for (const worker of started) worker.child.stdin!.write('go\n');
  const counts = await Promise.all(started.map((worker) => worker.line('*')));
  return counts.map(Number);
}

describe('FileGuardStore across processes', () => {
  it('admits exactly `limit` takes among 6 processes racing on one key', async () => {
    const path = directory();
    const counts = await race(path, 'take', 6, 25, 15, 3);
    expect(counts.reduce((sum, count) => sum + count, 0)).toBe(25);
    // Every process was refused at some point and nobody got more than its attempts.
    for (const count of counts) expect(count).toBeLessThanOrEqual(15);
    const store = new FileGuardStore({ directory: path });
    expect((await store.take('caller-1', 1_800_000_000_000, 3_600_000, 25)).count).toBe(25);
  }, 60_000);

  it('keeps the fused guard step exact too: 4 processes, limit 10, and every admitted request weighed once', async () => {
    const path = directory();
    const counts = await race(path, 'step', 4, 10, 8, 2);
    expect(counts.reduce((sum, count) => sum + count, 0)).toBe(10);
    const store = new FileGuardStore({ directory: path });
    const weights = await store.addBelow(
      'caller-1:risk',
      1_800_000_000_000,
      3_600_000,
      0,
      Number.POSITIVE_INFINITY,
    );
    expect(weights.before).toBe(10);
  }, 60_000);
});

describe('FileGuardStore after a crash', () => {
  it('recovers the lock of a process killed with SIGKILL inside its critical section, and ignores its torn file', async () => {
    const path = directory();
    const store = new FileGuardStore({ directory: path, staleLockMs: 60_000 });
    const now = 1_800_000_000_000;
    expect((await store.take('k', now, 60_000, 5)).count).toBe(1);
    const before = readFileSync(join(path, 'guard-state.json'), 'utf8');

    const holder = start([path, 'hold', 'k', '5', '0', '0']);
    await holder.line('locked');
    holder.child.kill('SIGKILL');
    await holder.exit;
    expect(existsSync(join(path, 'guard-state.lock'))).toBe(true);
    expect(readdirSync(path).some((name) => name.includes('.tmp-'))).toBe(true);

    // The lock is not old (staleLockMs is a minute), but its process is gone: recovered at once.
    const started = Date.now();
    expect(await store.take('k', now + 1, 60_000, 5)).toEqual({ allowed: true, count: 2, retryAfterMs: 0 });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(store.staleLocksRemoved).toBe(1);
    // The state the killed process never replaced is intact; its torn temporary file is gone.
    expect(JSON.parse(before)[1][0][0]).toBe('k');
    expect(readdirSync(path).filter((name) => name.includes('.tmp-'))).toEqual([]);
    expect(existsSync(join(path, 'guard-state.lock'))).toBe(false);
  }, 30_000);

  it('stays valid and usable when writers are killed with SIGKILL at random moments', async () => {
    const path = directory();
    for (let round = 0; round < 4; round += 1) {
      const worker = start([path, 'step-crash', `caller-${round % 2}`, '1000000', '100000', '2']);
      await worker.line('ready');
      worker.child.stdin!.write('go\n');
      // Killed at a random moment after its first step is stored (however slow the machine), so each
      // caller has steps to count.
      await worker.line('stepped');
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 150));
      worker.child.kill('SIGKILL');
      await worker.exit;
    }
    const store = new FileGuardStore({ directory: path, lockTimeoutMs: 10_000 });
    const taken = await store.take('caller-0', 1_800_000_000_000, 3_600_000, 1_000_000);
    expect(taken.allowed).toBe(true);
    // Every admitted step was weighed in the same write: the two counts agree after any crash.
    const weighed = await store.addBelow(
      'caller-1:risk',
      1_800_000_000_000,
      3_600_000,
      0,
      Number.POSITIVE_INFINITY,
    );
    const counted = await store.take('caller-1', 1_800_000_000_000, 3_600_000, 0);
    expect(weighed.before).toBe(counted.count);
    expect(counted.count).toBeGreaterThan(0);
  }, 60_000);

  it('recovers a lock left by a writer that vanished without a trace (empty lock file) once it is stale', async () => {
    const path = directory();
    const store = new FileGuardStore({ directory: path, staleLockMs: 300 });
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(path, 'guard-state.lock'), '', { mode: 0o600 });
    const started = Date.now();
    expect((await store.take('k', 1_800_000_000_000, 60_000, 5)).allowed).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(store.staleLocksRemoved).toBe(1);
  }, 30_000);

  it('fails with a clear error naming the lock file when a live process holds it too long', async () => {
    const path = directory();
    const store = new FileGuardStore({ directory: path, lockTimeoutMs: 200, staleLockMs: 60_000 });
    const holder = start([path, 'hold', 'k', '5', '0', '0']);
    await holder.line('locked');
    await expect(store.take('k', 1_800_000_000_000, 60_000, 5)).rejects.toMatchObject({
      code: 'INTERNAL',
      message: expect.stringContaining(
        `could not take its lock within 200 ms (lock file ${join(path, 'guard-state.lock')} is held by pid ${holder.child.pid}`,
      ),
    });
  }, 30_000);
});
