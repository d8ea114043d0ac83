// Benchmarks AgentSafe.check() on dist: (1) without audit, one caller at a time (the policy path plus
// the facade), (2) with the durable audit log (fsync, group commit) at 64 concurrent callers.
// Run: pnpm --filter @agent-safe/sdk build && pnpm --filter @agent-safe/sdk bench
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { percentiles, requests } from './bench-requests.js';
import { AgentSafe } from '../dist/index.js';

const CHECKS = Number(process.env.BENCH_CHECKS ?? 50_000);
// BENCH_ONLY=memory|audit|redis runs one group of scenarios (default: all).
const ONLY = process.env.BENCH_ONLY;
const CONCURRENCY = 64;
const dir = mkdtempSync(join(tmpdir(), 'agent-safe-sdk-bench-'));
cpSync(join(import.meta.dirname, '..', 'test', 'fixtures', 'project'), dir, { recursive: true });

async function measureChecks(label, safe, list) {
  for (let i = 0; i < 200_000; i++) await safe.check(list[i % list.length]);
  const samples = new Float64Array(200_000);
  for (let i = 0; i < samples.length; i++) {
    const started = process.hrtime.bigint();
    await safe.check(list[i % list.length]);
    samples[i] = Number(process.hrtime.bigint() - started);
  }
  const at = percentiles(samples);
  const iterations = 500_000;
  const started = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) await safe.check(list[i % list.length]);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  console.log(
    `${label}: p50 ${Math.round(at(0.5))} ns, p99 ${Math.round(at(0.99))} ns, ${Math.round(iterations / seconds).toLocaleString('en-US')} checks/s`,
  );
  return at(0.5);
}

async function withoutAudit() {
  const plain = await measureChecks(
    'check() without audit, plain caller (seed-sized config, 1 caller)',
    new AgentSafe({ cwd: dir, config: false, auditLog: false, trustCallerObjects: true }),
    requests,
  );
  const security = { signingKey: 'b'.repeat(48), allowPlainCallers: true, tickets: false };
  const safe = new AgentSafe({
    cwd: dir,
    config: false,
    auditLog: false,
    security,
    trustCallerObjects: true,
  });
  const token = await safe.identity.createToken({ agentId: 'bench', roles: ['deployer'] });
  const tokenRequests = requests.map((request) => ({ ...request, caller: token }));
  const verified = await measureChecks(
    'check() without audit, token caller (verification cached)',
    safe,
    tokenRequests,
  );
  console.log(`  token caller / plain caller p50: ${(verified / plain).toFixed(2)}x`);
  // Tickets name their audit event, so they are issued only with an audit sink: one that discards.
  const ticketing = new AgentSafe({
    cwd: dir,
    config: false,
    auditLog: { append: async () => undefined, close: async () => undefined },
    security: { ...security, tickets: true },
  });
  await measureChecks(
    'check() without audit, token caller, HS256 ticket issued on ALLOW',
    ticketing,
    tokenRequests,
  );
}

async function withInMemoryGuards() {
  const guards = {
    rateLimit: {
      maxRequests: 1_000_000_000,
      windowSeconds: 60,
      circuitBreakerThreshold: 1_000_000_000,
      circuitBreakerCooldownSeconds: 60,
    },
    cumulativeRisk: { windowSeconds: 1, escalationThreshold: 1_000_000_000, denyThreshold: 2_000_000_000 },
  };
  const plain = new AgentSafe({ cwd: dir, config: false, auditLog: false, trustCallerObjects: true });
  const guarded = new AgentSafe({
    cwd: dir,
    config: false,
    auditLog: false,
    trustCallerObjects: true,
    ...guards,
  });
  for (let i = 0; i < 200_000; i++) {
    await plain.check(requests[i % requests.length]);
    await guarded.check(requests[i % requests.length]);
  }
  // Interleaved rounds, so that drift on a shared machine (frequency, neighbours) hits both alike.
  const rounds = 10;
  const perRound = 40_000;
  const samples = {
    plain: new Float64Array(rounds * perRound),
    guarded: new Float64Array(rounds * perRound),
  };
  for (let round = 0; round < rounds; round++) {
    for (const [name, safe] of [
      ['plain', plain],
      ['guarded', guarded],
    ]) {
      const into = samples[name];
      for (let i = 0; i < perRound; i++) {
        const started = process.hrtime.bigint();
        await safe.check(requests[i % requests.length]);
        into[round * perRound + i] = Number(process.hrtime.bigint() - started);
      }
    }
  }
  const at = { plain: percentiles(samples.plain), guarded: percentiles(samples.guarded) };
  console.log(
    `check() without audit, no guards (interleaved with the next): p50 ${Math.round(at.plain(0.5))} ns, p99 ${Math.round(at.plain(0.99))} ns`,
  );
  console.log(
    `check() without audit, in-memory rate limit + breaker + cumulative risk: p50 ${Math.round(at.guarded(0.5))} ns, p99 ${Math.round(at.guarded(0.99))} ns`,
  );
  console.log(`  guards add ${Math.round(at.guarded(0.5) - at.plain(0.5))} ns at p50`);
}

async function freePort() {
  return await new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function withRedisGuards() {
  const port = await freePort();
  const redis = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  redis.on('error', () => undefined);
  try {
    await new Promise((resolve) => setTimeout(resolve, 300));
    const safe = new AgentSafe({
      cwd: dir,
      config: false,
      auditLog: false,
      store: `redis://127.0.0.1:${port}`,
      rateLimit: {
        maxRequests: 1_000_000_000,
        windowSeconds: 60,
        circuitBreakerThreshold: 1_000_000_000,
        circuitBreakerCooldownSeconds: 60,
      },
      cumulativeRisk: { windowSeconds: 1, escalationThreshold: 1_000_000_000, denyThreshold: 2_000_000_000 },
    });
    // One caller per concurrent worker: 64 agents, each with its own windows and scores.
    const callerOf = (worker, index) => {
      const request = requests[index % requests.length];
      const caller =
        typeof request.caller === 'string'
          ? `agent-${worker}`
          : { ...request.caller, agentId: `agent-${worker}` };
      return { ...request, caller };
    };
    // Warm up (JIT, connection pool, Redis key sizes) before measuring.
    for (let i = 0; i < 10_000; i++) await safe.check(callerOf(i % CONCURRENCY, i));
    const total = CHECKS;
    const latencies = new Float64Array(total);
    let next = 0;
    const started = performance.now();
    async function caller(_, worker) {
      while (true) {
        const index = next++;
        if (index >= total) return;
        const t0 = performance.now();
        const decision = await safe.check(callerOf(worker, index));
        if (decision.errors.some((error) => error.code === 'INTERNAL')) throw new Error(decision.reason);
        latencies[index] = performance.now() - t0;
      }
    }
    await Promise.all(Array.from({ length: CONCURRENCY }, caller));
    const seconds = (performance.now() - started) / 1000;
    const at = percentiles(latencies);
    console.log(
      `check() with Redis guards (rate limit + breaker + cumulative risk), ${CONCURRENCY} concurrent, ${total} checks: ${Math.round(total / seconds).toLocaleString('en-US')} checks/s, p50 ${at(0.5).toFixed(2)} ms, p99 ${at(0.99).toFixed(2)} ms (closed loop: as fast as it goes)`,
    );
    // The same 64 callers offering a fixed 10k checks/s in total: latency at the target rate rather
    // than at saturation (a closed loop at full speed makes latency ≈ 64 ÷ throughput by construction).
    const rate = 10_000;
    const paced = new Float64Array(total);
    const interval = (CONCURRENCY / rate) * 1000;
    const pacedStart = performance.now();
    let issued = 0;
    async function pacedCaller(_, worker) {
      let due = pacedStart + (worker * interval) / CONCURRENCY;
      while (true) {
        const index = issued++;
        if (index >= total) return;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        const t0 = performance.now();
        const decision = await safe.check(callerOf(worker, index));
        if (decision.errors.some((error) => error.code === 'INTERNAL')) throw new Error(decision.reason);
        paced[index] = performance.now() - t0;
        due += interval;
      }
    }
    await Promise.all(Array.from({ length: CONCURRENCY }, pacedCaller));
    const pacedSeconds = (performance.now() - pacedStart) / 1000;
    await safe.close();
    const pacedAt = percentiles(paced);
    console.log(
      `check() with Redis guards, ${CONCURRENCY} concurrent callers offering ${rate.toLocaleString('en-US')} checks/s: achieved ${Math.round(total / pacedSeconds).toLocaleString('en-US')} checks/s, p50 ${pacedAt(0.5).toFixed(2)} ms, p99 ${pacedAt(0.99).toFixed(2)} ms`,
    );
  } finally {
    redis.kill('SIGKILL');
  }
}

async function withDurableAudit(checkpoints) {
  process.env.AGENT_SAFE_BENCH_CHECKPOINT_KEY = 'bench-checkpoint-secret-0123456789abcdef-0123';
  const safe = new AgentSafe({
    cwd: dir,
    config: false,
    auditLog: join(dir, `bench-audit-${checkpoints ? 'checkpoints' : 'plain'}.jsonl`),
    auditDurability: 'fsync',
    // Signed checkpoints (HS256) every 1000 events, as a production setup would have them.
    ...(checkpoints ? { auditCheckpoints: { key: 'env:AGENT_SAFE_BENCH_CHECKPOINT_KEY', every: 1000 } } : {}),
  });
  // Warm up (JIT, log file) before measuring, as the Redis scenario does.
  for (let i = 0; i < 10_000; i++) await safe.check(requests[i % requests.length]);
  const latencies = new Float64Array(CHECKS);
  let next = 0;
  const started = performance.now();
  async function caller() {
    while (true) {
      const index = next++;
      if (index >= CHECKS) return;
      const t0 = performance.now();
      await safe.check(requests[index % requests.length]);
      latencies[index] = performance.now() - t0;
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, caller));
  const seconds = (performance.now() - started) / 1000;
  await safe.close();
  const at = percentiles(latencies);
  console.log(
    `check() with durable audit (fsync, group commit${checkpoints ? ', signed checkpoints every 1000' : ''}), ${CONCURRENCY} concurrent, ${CHECKS} checks: ${Math.round(CHECKS / seconds).toLocaleString('en-US')} checks/s, p50 ${at(0.5).toFixed(2)} ms, p99 ${at(0.99).toFixed(2)} ms`,
  );
}

try {
  console.log(
    `node ${process.version}; load average ${loadavg()
      .map((value) => value.toFixed(2))
      .join(' ')}`,
  );
  if (ONLY === undefined || ONLY === 'memory') {
    await withoutAudit();
    await withInMemoryGuards();
  }
  if (ONLY === undefined || ONLY === 'audit') {
    // Alternated, so the machine's drifting load affects both alike.
    await withDurableAudit(false);
    await withDurableAudit(true);
  }
  if (ONLY === undefined || ONLY === 'redis') await withRedisGuards();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
