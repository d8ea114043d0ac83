// Runner overhead over the bare executor call, on the DryRunExecutor: the whole pipeline (ticket
// validation with single use, prechecks, state capture, audit events) against `executor.execute` alone,
// with an in-memory audit sink and with an AuditLog file (fsync and write durability).
// Run: pnpm --filter @agent-safe/runner bench (after building). Env: BENCH_ITERATIONS (default 1000).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { AuditLog } from '@agent-safe/audit';
import { ActionRegistry } from '@agent-safe/registry';
import { TicketIssuer, TicketValidator } from '@agent-safe/tickets';
import { DryRunExecutor, Runner } from '../dist/index.js';

const iterations = Number(process.env.BENCH_ITERATIONS ?? 1000);
const secret = 'benchmark ticket secret of at least 32 bytes';
const actions = await ActionRegistry.load(
  join(import.meta.dirname, '..', '..', '..', 'catalog', 'kubernetes'),
);
const issuer = new TicketIssuer({ algorithm: 'HS256', key: secret });
const executor = new DryRunExecutor();
const params = { namespace: 'prod', deployment: 'web', replicas: 3 };

function percentile(sorted, fraction) {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))];
}

function report(name, samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const p50 = percentile(sorted, 0.5);
  console.log(
    `${name.padEnd(40)} p50 ${p50.toFixed(3)} ms  p99 ${percentile(sorted, 0.99).toFixed(3)} ms  (${iterations} runs)`,
  );
  return p50;
}

async function tokens() {
  const list = [];
  for (let index = 0; index < iterations; index += 1) {
    list.push(
      (
        await issuer.issue({
          action: 'scale-deployment',
          target: 'prod/web',
          caller: 'bench',
          params,
          auditId: `evt_${index}`,
          policyRevision: 'bench',
        })
      ).token,
    );
  }
  return list;
}

const request = {
  action: actions.get('scale-deployment'),
  target: 'prod/web',
  params,
  ticket: { auditId: 'evt_bare' },
};
const bare = [];
for (let index = 0; index < iterations; index += 1) {
  const started = performance.now();
  await executor.execute(request, { signal: new AbortController().signal });
  bare.push(performance.now() - started);
}
const bareP50 = report('bare DryRunExecutor.execute', bare);

async function scenario(name, auditSink) {
  const runner = new Runner({
    actions,
    validator: new TicketValidator({ algorithm: 'HS256', key: secret }),
    auditSink,
  });
  const samples = [];
  for (const token of await tokens()) {
    const started = performance.now();
    const result = await runner.execute(token, { params, executor });
    samples.push(performance.now() - started);
    if (result.status !== 'succeeded') throw new Error(`run ${result.status}: ${result.error?.message}`);
  }
  const p50 = report(name, samples);
  console.log(`${''.padEnd(40)} overhead over the bare call: ${(p50 - bareP50).toFixed(3)} ms (p50)`);
}

const memory = {
  append: async (event) => ({ ...event, sequence: 0, prev_hash: '', hash: '' }),
  close: async () => {},
};
await scenario('Runner + DryRun, in-memory audit', memory);
for (const durability of ['write', 'fsync']) {
  const directory = mkdtempSync(join(tmpdir(), 'agent-safe-runner-bench-'));
  const log = await AuditLog.open(join(directory, 'audit.jsonl'), { durability });
  await scenario(`Runner + DryRun, AuditLog (${durability})`, log);
  await log.close();
  rmSync(directory, { recursive: true, force: true });
}
