// Throughput and latency of RedisStore operations at 64 concurrent callers from one process, against a
// private redis-server started here (like the tests). Run: pnpm --filter @agent-safe/store-redis bench
// Env: BENCH_DURATION_MS (per scenario, default 3000), BENCH_CONCURRENCY (default 64).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { RedisStore } from '../dist/index.js';

const durationMs = Number(process.env.BENCH_DURATION_MS ?? 3000);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 64);

if (spawnSync('redis-server', ['--version']).status !== 0) {
  console.error('redis-server is not installed: apt-get install -y redis-server');
  process.exit(1);
}

const port = await new Promise((resolvePort) => {
  const server = createServer().listen(0, '127.0.0.1', () => {
    const { port: free } = server.address();
    server.close(() => resolvePort(free));
  });
});
const directory = mkdtempSync(join(tmpdir(), 'agent-safe-redis-bench-'));
const redis = spawn(
  'redis-server',
  ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', directory],
  { stdio: 'ignore' },
);

let store;
for (let attempt = 0; attempt < 100 && !store; attempt += 1) {
  try {
    store = await RedisStore.connect({ port, commandTimeoutMs: 2000 });
  } catch {
    await new Promise((wait) => setTimeout(wait, 50));
  }
}
if (!store) throw new Error('redis-server did not start');

const settings = { threshold: 1_000_000_000, windowMs: 60_000, cooldownMs: 1000 };
const callers = 200;
let counter = 0;
const caller = () => `caller-${counter++ % callers}`;

const scenarios = {
  // One store op per "check".
  take: () => store.take(caller(), 0, 60_000, 1_000_000_000),
  addBelow: () => store.addBelow(`risk-${caller()}`, 0, 1000, 1, Number.POSITIVE_INFINITY),
  // Two store ops per check.
  'admit+record': async () => {
    const key = `breaker-${caller()}`;
    const admission = await store.admit(key, 0, settings);
    await store.record(key, 0, false, admission.probe, settings);
  },
  // A guarded check done naively: three round trips.
  'take+admit+record': async () => {
    const who = caller();
    await store.take(who, 0, 60_000, 1_000_000_000);
    const admission = await store.admit(`breaker-${who}`, 0, settings);
    await store.record(`breaker-${who}`, 0, false, admission.probe, settings);
  },
  // The same check with guardCheck: two round trips (take on 2 windows + admit in one script, then record).
  'guardCheck+record': async () => {
    const who = caller();
    const result = await store.guardCheck({
      now: 0,
      windows: [
        { key: who, windowMs: 60_000, limit: 1_000_000_000 },
        { key: `action-${counter % 10}`, windowMs: 60_000, limit: 1_000_000_000 },
      ],
      breaker: { key: `breaker-${who}`, settings },
    });
    await store.record(`breaker-${who}`, 0, false, result.breaker?.probe ?? false, settings);
  },
  // What a guarded check uses: breaker admit, window take and risk weight in one step; concurrent steps
  // share one script run.
  guardStep: () => {
    const who = caller();
    return store.guardStep({
      now: 0,
      breaker: { key: who, settings },
      window: { key: `rate:${who}`, windowMs: 60_000, limit: 1_000_000_000 },
      weights: { key: `risk:${who}`, windowMs: 1000, weight: 1, ceiling: Number.POSITIVE_INFINITY },
    });
  },
};

/** CPU time (ms) redis-server has used, from /proc on Linux; undefined elsewhere. */
function redisCpuMs() {
  try {
    const fields = readFileSync(`/proc/${redis.pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return undefined;
  }
}

function percentile(sorted, fraction) {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))];
}

console.log(
  `RedisStore bench: ${concurrency} concurrent callers, ${durationMs} ms per scenario, redis ${port}`,
);
console.log(
  'scenario'.padEnd(20),
  'checks/s'.padStart(10),
  'p50 ms'.padStart(8),
  'p99 ms'.padStart(8),
  'redis µs/op'.padStart(12),
  'node µs/op'.padStart(11),
);
for (const [name, run] of Object.entries(scenarios)) {
  for (let warm = 0; warm < 500; warm += 1) await run();
  const latencies = [];
  const redisBefore = redisCpuMs();
  const nodeBefore = process.cpuUsage();
  const deadline = performance.now() + durationMs;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        const begin = performance.now();
        await run();
        latencies.push(performance.now() - begin);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  const nodeCpu = process.cpuUsage(nodeBefore);
  const redisAfter = redisCpuMs();
  const perOp = (ms) => (ms === undefined ? '-' : ((ms * 1000) / latencies.length).toFixed(1));
  latencies.sort((left, right) => left - right);
  console.log(
    name.padEnd(20),
    String(Math.round(latencies.length / elapsed)).padStart(10),
    percentile(latencies, 0.5).toFixed(2).padStart(8),
    percentile(latencies, 0.99).toFixed(2).padStart(8),
    perOp(redisBefore === undefined ? undefined : redisAfter - redisBefore).padStart(12),
    perOp((nodeCpu.user + nodeCpu.system) / 1000).padStart(11),
  );
}

await store.close();
redis.kill('SIGKILL');
rmSync(directory, { recursive: true, force: true });
