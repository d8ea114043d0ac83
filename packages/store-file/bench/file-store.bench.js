// Latency of FileGuardStore operations from one process: the guard step of one CLI check (breaker
// admit, rate-limit take, cumulative-risk add, breaker record: one locked read-modify-write), with a
// state file holding 1 and 1000 callers, fsync and write durability; then 4 processes contending.
// Run: pnpm --filter @agent-safe/store-file bench (after building). Env: BENCH_ITERATIONS (default 1000).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { FileGuardStore } from '../dist/index.js';

const iterations = Number(process.env.BENCH_ITERATIONS ?? 1000);
const settings = { threshold: 5, windowMs: 60_000, cooldownMs: 30_000 };

function step(caller, now) {
  return {
    now,
    breaker: { key: `breaker:${caller}`, settings },
    window: { key: `rate:${caller}`, windowMs: 60_000, limit: 1_000_000 },
    weights: { key: `risk:${caller}`, windowMs: 3_600_000, weight: 1, ceiling: Number.POSITIVE_INFINITY },
    record: { denied: false },
  };
}

function percentile(sorted, fraction) {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))];
}

async function scenario(name, { callers, durability }) {
  const directory = mkdtempSync(join(tmpdir(), 'agent-safe-file-bench-'));
  const store = new FileGuardStore({ directory, durability, maxEntriesPerKey: 100 });
  let now = Date.now();
  for (let caller = 0; caller < callers; caller += 1) await store.guardStep(step(`c${caller}`, now));
  const samples = [];
  for (let index = 0; index < iterations; index += 1) {
    now += 1;
    const started = performance.now();
    await store.guardStep(step(`c${index % callers}`, now));
    samples.push(performance.now() - started);
  }
  const size = statSync(join(directory, 'guard-state.json')).size;
  rmSync(directory, { recursive: true, force: true });
  samples.sort((a, b) => a - b);
  const mean = samples.reduce((sum, value) => sum + value, 0) / samples.length;
  console.log(
    `${name.padEnd(44)} mean ${mean.toFixed(3)} ms  p50 ${percentile(samples, 0.5).toFixed(3)} ms  p99 ${percentile(samples, 0.99).toFixed(3)} ms  (state file ${(size / 1024).toFixed(1)} KiB)`,
  );
}

async function contended(processes) {
  const directory = mkdtempSync(join(tmpdir(), 'agent-safe-file-bench-'));
  const perProcess = Math.ceil(iterations / processes);
  const source = `
    import { FileGuardStore } from ${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)};
    const store = new FileGuardStore({ directory: ${JSON.stringify(directory)}, lockTimeoutMs: 60000 });
    const settings = ${JSON.stringify(settings)};
    for (let index = 0; index < ${perProcess}; index += 1) {
      await store.guardStep({ now: Date.now(), breaker: { key: 'breaker:c', settings },
        window: { key: 'rate:c', windowMs: 60000, limit: 1e9 } });
    }`;
  const started = performance.now();
  await Promise.all(
    Array.from(
      { length: processes },
      () =>
        new Promise((resolve, reject) => {
          const child = spawn(process.execPath, ['--input-type=module', '-e', source], { stdio: 'inherit' });
          child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`worker exited ${code}`))));
        }),
    ),
  );
  const elapsed = performance.now() - started;
  rmSync(directory, { recursive: true, force: true });
  console.log(
    `${`${processes} processes, one caller, fsync`.padEnd(44)} ${Math.round((perProcess * processes) / (elapsed / 1000))} steps/s in total (incl. process start)`,
  );
}

await scenario('guard step, 1 caller, fsync', { callers: 1, durability: 'fsync' });
await scenario('guard step, 1 caller, write', { callers: 1, durability: 'write' });
await scenario('guard step, 1000 callers, fsync', { callers: 1000, durability: 'fsync' });
await scenario('guard step, 1000 callers, write', { callers: 1000, durability: 'write' });
await contended(4);
