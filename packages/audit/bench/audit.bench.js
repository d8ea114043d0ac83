// Benchmarks the built package (run `pnpm build` first): group-committed appends with fsync
// durability at 64 concurrent callers, and verification speed on a large log, each without and with
// signed checkpoints (HS256, one every 1000 events).
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditLog, checkpointKeyFrom, verifyAuditLog } from '../dist/index.js';

const KEY = checkpointKeyFrom('bench-checkpoint-secret-0123456789abcdef-0123', 'env:BENCH', {
  keyId: 'bench',
});

const APPEND_EVENTS = Number(process.env.BENCH_APPEND_EVENTS ?? 20_000);
const CONCURRENCY = 64;
const VERIFY_LINES = Number(process.env.BENCH_VERIFY_LINES ?? 200_000);

/** A decision event of realistic size (~600 bytes once the chain members are added). */
function body(index) {
  return {
    event_id: `evt-${index.toString(16).padStart(20, '0')}`,
    timestamp: new Date(1_750_000_000_000 + index).toISOString(),
    event_type: 'decision',
    action: 'k8s.scale_deployment@1.2.0',
    target: 'prod-eu-1/payments/api-gateway',
    caller: 'agent:deploy-bot',
    caller_authenticated: true,
    params: { namespace: 'payments', deployment: 'api-gateway', replicas: 4 + (index % 8) },
    decision: index % 5 === 0 ? 'REQUIRE_APPROVAL' : 'ALLOW',
    reason: 'Scaling within the approved range',
    matched_rule: 'prod-scale-within-range',
    risk_class: 'medium',
    effective_risk: 'high',
    policy_revision: 'rev-2024-06-01',
    context: { source_ip: '192.0.2.10' },
  };
}

function percentile(sorted, fraction) {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))];
}

async function benchAppends(directory, checkpoints) {
  const path = join(directory, `append-${checkpoints ? 'checkpoints' : 'plain'}.jsonl`);
  const log = await AuditLog.open(path, {
    durability: 'fsync',
    ...(checkpoints ? { checkpoints: { key: KEY, every: 1000 } } : {}),
  });
  const latencies = new Float64Array(APPEND_EVENTS);
  let next = 0;
  const started = performance.now();
  async function caller() {
    while (true) {
      const index = next++;
      if (index >= APPEND_EVENTS) return;
      const t0 = performance.now();
      await log.append(body(index));
      latencies[index] = performance.now() - t0;
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, caller));
  const seconds = (performance.now() - started) / 1000;
  const stats = log.stats;
  await log.close();
  const { size } = await stat(path);
  const sorted = Array.from(latencies).sort((a, b) => a - b);
  console.log(
    `append (durability fsync, ${checkpoints ? 'checkpoints every 1000' : 'no checkpoints'}, ${CONCURRENCY} concurrent callers, ${APPEND_EVENTS} events, ${Math.round(size / APPEND_EVENTS)} bytes/event):`,
  );
  console.log(`  ${Math.round(APPEND_EVENTS / seconds)} appends/s`);
  console.log(
    `  latency p50 ${percentile(sorted, 0.5).toFixed(2)} ms, p99 ${percentile(sorted, 0.99).toFixed(2)} ms`,
  );
  console.log(
    `  ${stats.batches} batches, ${stats.fsyncs} fsyncs (${(APPEND_EVENTS / stats.fsyncs).toFixed(1)} events/fsync)`,
  );
}

async function benchVerify(directory, checkpoints) {
  const path = join(directory, `verify-${checkpoints ? 'checkpoints' : 'plain'}.jsonl`);
  const log = await AuditLog.open(path, {
    durability: 'write',
    maxBatch: 4096,
    ...(checkpoints ? { checkpoints: { key: KEY, every: 1000 } } : {}),
  });
  const pending = [];
  for (let index = 0; index < VERIFY_LINES; index++) {
    pending.push(log.append(body(index)));
    if (pending.length === 4096) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);
  await log.close();
  const { size } = await stat(path);
  const started = performance.now();
  const report = await verifyAuditLog(
    path,
    checkpoints ? { checkpoints: `${path}.checkpoints`, key: KEY } : {},
  );
  const seconds = (performance.now() - started) / 1000;
  if (!report.ok || report.events < VERIFY_LINES)
    throw new Error(`verify failed: ${JSON.stringify(report.problems[0])}`);
  if (checkpoints && report.checkpoints.verified === 0) throw new Error('no checkpoint verified');
  console.log(
    `verify (${checkpoints ? `checkpoints and key, ${report.checkpoints.verified} signatures checked` : 'chain only'}, ${report.lines} lines, ${(size / 1024 / 1024).toFixed(0)} MiB):`,
  );
  console.log(
    `  ${Math.round(report.lines / seconds)} lines/s (${(size / 1024 / 1024 / seconds).toFixed(0)} MiB/s, ${seconds.toFixed(2)} s)`,
  );
}

// Other work on the machine skews every figure below; print how busy it was so noisy runs stand out.
console.log(
  `load average ${loadavg()
    .map((load) => load.toFixed(2))
    .join(' ')} (1, 5, 15 min) on ${availableParallelism()} CPUs, node ${process.version}`,
);
const directory = await mkdtemp(join(tmpdir(), 'agent-safe-audit-bench-'));
try {
  // Alternated, so drift in the machine's load affects both setups alike.
  await benchAppends(directory, false);
  await benchAppends(directory, true);
  await benchVerify(directory, false);
  await benchVerify(directory, true);
} finally {
  await rm(directory, { recursive: true, force: true });
}
