// Benchmarks the approval workflow on dist:
//  1. check() on the ALLOW path with approvals configured vs not (interleaved rounds): approvals must
//     cost the ALLOW path nothing;
//  2. REQUIRE_APPROVAL checks that create a request, with the file store (fsync on), 64 concurrent;
//  3. time from approve() to a waiting agent's wake-up, with the file store and (when redis-server is
//     installed) with Redis.
// Run: pnpm --filter @agent-safe/sdk build && node bench/approvals.bench.js
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApprovalService, resolveApprovalSettings } from '@agent-safe/approvals';
import { FileApprovalStore } from '@agent-safe/store-file';
import { AgentSafe } from '../dist/index.js';

const SECRET = 'b'.repeat(48);
const dir = mkdtempSync(join(tmpdir(), 'agent-safe-approvals-bench-'));
cpSync(join(import.meta.dirname, '..', 'test', 'fixtures', 'project'), dir, { recursive: true });
const paths = {
  registry: join(dir, 'actions'),
  policies: join(dir, 'policies'),
  inventory: join(dir, 'inventory.yaml'),
  config: false,
};
const allow = {
  action: 'restart-deployment',
  target: 'dev/app',
  caller: 'bench',
  params: { namespace: 'dev', deployment: 'app' },
};

const percentile = (samples, q) => {
  const sorted = Float64Array.from(samples).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))];
};

async function allowPath() {
  const security = { signingKey: SECRET, allowPlainCallers: true, tickets: false };
  const without = new AgentSafe({ ...paths, auditLog: false, security });
  const withApprovals = new AgentSafe({
    ...paths,
    auditLog: false,
    security,
    approvals: { approverRoles: ['approver'], store: 'memory' },
  });
  await without.ready();
  await withApprovals.ready();
  for (let i = 0; i < 100_000; i++) {
    await without.check(allow);
    await withApprovals.check(allow);
  }
  const rounds = 10;
  const medians = { without: [], with: [] };
  for (let round = 0; round < rounds; round++) {
    for (const [name, safe] of [
      ['without', without],
      ['with', withApprovals],
    ]) {
      const samples = new Float64Array(20_000);
      for (let i = 0; i < samples.length; i++) {
        const started = process.hrtime.bigint();
        await safe.check(allow);
        samples[i] = Number(process.hrtime.bigint() - started);
      }
      medians[name].push(percentile(samples, 0.5));
    }
  }
  const median = (values) => percentile(values, 0.5);
  console.log(
    `check() ALLOW path, ${rounds} interleaved rounds: p50 ${Math.round(median(medians.without))} ns without approvals, ${Math.round(median(medians.with))} ns with (${((median(medians.with) / median(medians.without) - 1) * 100).toFixed(1)} %)`,
  );
}

async function requestCreation() {
  const store = join(dir, 'approvals-create');
  const safe = new AgentSafe({
    ...paths,
    auditLog: join(dir, 'audit-create.jsonl'),
    security: { signingKey: SECRET, allowPlainCallers: true },
    approvals: { approverRoles: ['approver'], store: `file:${store}` },
  });
  const request = (i) => ({
    action: 'restart-deployment',
    target: 'prod/app',
    caller: `agent-${i}`,
    params: { namespace: 'prod', deployment: 'app' },
  });
  for (let i = 0; i < 500; i++) await safe.check(request(-i - 1));
  const total = 10_000;
  const concurrency = 64;
  let next = 0;
  let created = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const decision = await safe.check(request(next++));
        if (decision.result === 'REQUIRE_APPROVAL' && decision.approvalId) created++;
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  console.log(
    `REQUIRE_APPROVAL creating a request (file store, fsync'd audit), ${concurrency} concurrent: ${Math.round(total / seconds).toLocaleString('en-US')} checks/s (${created} requests)`,
  );
  await safe.close();
}

async function storeCreation() {
  // The file store's own rate: ApprovalService.request with FileApprovalStore, no audit log.
  const service = new ApprovalService({
    store: new FileApprovalStore({ directory: join(dir, 'approvals-store-only') }),
    settings: resolveApprovalSettings({ approverRoles: ['approver'] }),
  });
  const input = (i) => ({
    action: 'restart-deployment',
    target: 'prod/app',
    caller: `agent-${i}`,
    callerAuthenticated: false,
    delegationChain: [],
    params: { namespace: 'prod', deployment: 'app' },
    maskedPaths: [],
    paramsDigest: 'a'.repeat(64),
    reason: 'Production needs approval',
    matchedRule: 'approve-prod',
    effectiveRisk: 'high',
    policyRevision: 'rev',
    ticketId: null,
    correlationId: null,
    auditId: 'evt-bench',
  });
  const total = 10_000;
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (next < total) await service.request(input(next++));
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  console.log(
    `ApprovalService.request on the file store alone (no audit log), 64 concurrent: ${Math.round(total / seconds).toLocaleString('en-US')} requests/s`,
  );
  await service.close();
}

async function wakeUp(label, approvalsStore) {
  const safe = new AgentSafe({
    ...paths,
    auditLog: join(dir, `audit-${label}.jsonl`),
    auditDurability: 'write',
    security: { signingKey: SECRET, allowPlainCallers: true },
    approvals: { approverRoles: ['approver'], store: approvalsStore },
  });
  // The approver acts from another AgentSafe (another process in real life), on the same store.
  const approverSide = new AgentSafe({
    ...paths,
    auditLog: join(dir, `audit-${label}-approver.jsonl`),
    auditDurability: 'write',
    security: { signingKey: SECRET, allowPlainCallers: true },
    approvals: { approverRoles: ['approver'], store: approvalsStore },
  });
  const token = await safe.identity.createToken({ agentId: 'alice', roles: ['approver'] });
  const samples = [];
  for (let i = 0; i < 60; i++) {
    const decision = await safe.check({
      action: 'restart-deployment',
      target: 'prod/app',
      caller: `waiter-${label}-${i}`,
      params: { namespace: 'prod', deployment: 'app' },
    });
    const id = decision.approvalId;
    let approvedAt = 0n;
    const waiting = safe.approvals.waitForApproval(id, { timeoutMs: 10_000 }).then((final) => {
      if (final.result !== 'ALLOW') throw new Error(`expected ALLOW, got ${final.result}`);
      return process.hrtime.bigint();
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    await approverSide.approvals.approve(id, { approverToken: token });
    approvedAt = process.hrtime.bigint();
    const woke = await waiting;
    if (i >= 10) samples.push(Number(woke - approvedAt) / 1e6);
  }
  console.log(
    `approve → waiting agent has its ALLOW (${label}): p50 ${percentile(samples, 0.5).toFixed(2)} ms, p99 ${percentile(samples, 0.99).toFixed(2)} ms (${samples.length} waits)`,
  );
  await safe.close();
  await approverSide.close();
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

async function withRedis(run) {
  if (spawnSync('redis-server', ['--version']).status !== 0) {
    console.log('redis-server not installed: Redis wake-up not measured');
    return;
  }
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  await new Promise((resolve) => setTimeout(resolve, 300));
  try {
    await run(`redis://127.0.0.1:${port}`);
  } finally {
    child.kill('SIGKILL');
  }
}

console.log(
  `node ${process.version}; load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
try {
  await allowPath();
  await requestCreation();
  await storeCreation();
  await wakeUp('file store', `file:${join(dir, 'approvals-wake')}`);
  await withRedis((url) => wakeUp('Redis', url));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
