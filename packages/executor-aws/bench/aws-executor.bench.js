// Runner overhead over the bare AWS SDK call on moto: ecs-scale-service as one UpdateService with the
// bare ECS client, against AwsExecutor.execute alone, and against Runner.execute with the AwsExecutor
// (ticket validation, the service-exists precheck, before- and after-state reads: 3 DescribeServices,
// audit events).
// Run: pnpm --filter @agent-safe/executor-aws bench (after building). moto: BENCH_MOTO_URL, else the bench
// starts one with `scripts/services.sh up moto` on port BENCH_MOTO_PORT (default 15075) and stops it.
// Env: BENCH_ITERATIONS (default 200).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { AuditLog } from '@agent-safe/audit';
import { ActionRegistry } from '@agent-safe/registry';
import { Runner } from '@agent-safe/runner';
import { TicketIssuer, TicketValidator } from '@agent-safe/tickets';
import {
  CreateClusterCommand,
  CreateServiceCommand,
  DescribeServicesCommand,
  ECSClient,
  RegisterTaskDefinitionCommand,
  UpdateServiceCommand,
} from '@aws-sdk/client-ecs';
import { AwsExecutor } from '../dist/index.js';

const iterations = Number(process.env.BENCH_ITERATIONS ?? 200);
const root = join(import.meta.dirname, '..', '..', '..');
const services = join(root, 'scripts', 'services.sh');
const port = process.env.BENCH_MOTO_PORT ?? '15075';
const servicesEnv = { ...process.env, AGENT_SAFE_MOTO_PORT: port };
const region = 'us-east-1';
const keys = { accessKeyId: 'AKIDBENCH', secretAccessKey: 'bench-secret' };

let url = process.env.BENCH_MOTO_URL;
let started = false;
if (!url) {
  const out = execFileSync(services, ['up', 'moto'], { env: servicesEnv, encoding: 'utf8' });
  url = /AWS_ENDPOINT_URL=(\S+)/.exec(out)?.[1];
  if (!url) throw new Error(`scripts/services.sh up moto printed no AWS_ENDPOINT_URL:\n${out}`);
  started = true;
}

function percentile(sorted, fraction) {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))];
}

function report(name, samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const p50 = percentile(sorted, 0.5);
  console.log(
    `${name.padEnd(44)} p50 ${p50.toFixed(3)} ms  p99 ${percentile(sorted, 0.99).toFixed(3)} ms  (${samples.length} runs)`,
  );
  return p50;
}

try {
  await fetch(`${url}/moto-api/reset`, { method: 'POST' });
  const ecs = new ECSClient({ endpoint: url, region, credentials: { ...keys } });
  const cluster = `bench-${Date.now().toString(36)}`;
  await ecs.send(new CreateClusterCommand({ clusterName: cluster }));
  await ecs.send(
    new RegisterTaskDefinitionCommand({
      family: 'web',
      containerDefinitions: [{ name: 'app', image: 'nginx', essential: true, memory: 128 }],
    }),
  );
  await ecs.send(
    new CreateServiceCommand({ cluster, serviceName: 'web', taskDefinition: 'web', desiredCount: 1 }),
  );
  const countOf = (index) => 1 + (index % 2);

  // Warm-up: connections and the clients' lazy parts.
  for (let index = 0; index < 20; index += 1) {
    await ecs.send(new UpdateServiceCommand({ cluster, service: 'web', desiredCount: countOf(index) }));
  }

  const bare = [];
  for (let index = 0; index < iterations; index += 1) {
    const begin = performance.now();
    await ecs.send(new UpdateServiceCommand({ cluster, service: 'web', desiredCount: countOf(index) }));
    bare.push(performance.now() - begin);
  }
  const bareP50 = report('bare SDK UpdateService', bare);
  const describe = [];
  for (let index = 0; index < iterations; index += 1) {
    const begin = performance.now();
    await ecs.send(new DescribeServicesCommand({ cluster, services: ['web'] }));
    describe.push(performance.now() - begin);
  }
  const describeP50 = report('bare SDK DescribeServices', describe);

  const actions = await ActionRegistry.load(join(root, 'catalog', 'aws'));
  const executor = new AwsExecutor({ endpoint: url, credentials: keys });
  const definition = actions.get('ecs-scale-service');
  const alone = [];
  for (let index = 0; index < iterations + 20; index += 1) {
    const request = {
      action: definition,
      target: `aws:${region}:service/${cluster}/web`,
      params: { cluster, service: 'web', desired_count: countOf(index), region },
      ticket: { auditId: 'evt_bench' },
    };
    const begin = performance.now();
    const outcome = await executor.execute(request, { signal: new AbortController().signal });
    if (index >= 20) alone.push(performance.now() - begin); // the first 20 load the client and warm up
    if (!outcome.ok) throw new Error(`execute failed: ${outcome.error}`);
  }
  const aloneP50 = report('AwsExecutor.execute', alone);
  console.log(`${''.padEnd(44)} over the bare call: ${(aloneP50 - bareP50).toFixed(3)} ms (p50)`);

  const secret = 'benchmark ticket secret of at least 32 bytes';
  const issuer = new TicketIssuer({ algorithm: 'HS256', key: secret });
  async function scenario(name, auditSink) {
    const runner = new Runner({
      actions,
      validator: new TicketValidator({ algorithm: 'HS256', key: secret }),
      auditSink,
    });
    const runs = [];
    for (let index = 0; index < iterations; index += 1) {
      const params = { cluster, service: 'web', desired_count: countOf(index), region };
      const { token } = await issuer.issue({
        action: 'ecs-scale-service',
        target: `aws:${region}:service/${cluster}/web`,
        caller: 'bench',
        params,
        auditId: `evt_${index}`,
        policyRevision: 'bench',
      });
      runs.push({ token, params });
    }
    const samples = [];
    for (const { token, params } of runs) {
      const begin = performance.now();
      const result = await runner.execute(token, { params, executor });
      samples.push(performance.now() - begin);
      if (result.status !== 'succeeded') throw new Error(`run ${result.status}: ${result.error?.message}`);
    }
    const p50 = report(name, samples);
    console.log(
      `${''.padEnd(44)} runner overhead over the bare call: ${(p50 - bareP50).toFixed(3)} ms (p50); without its 3 DescribeServices: ${(p50 - bareP50 - 3 * describeP50).toFixed(3)} ms`,
    );
  }

  const memory = {
    append: async (event) => ({ ...event, sequence: 0, prev_hash: '', hash: '' }),
    close: async () => {},
  };
  await scenario('Runner + AwsExecutor, in-memory audit', memory);
  const directory = mkdtempSync(join(tmpdir(), 'agent-safe-aws-bench-'));
  const log = await AuditLog.open(join(directory, 'audit.jsonl'), { durability: 'fsync' });
  await scenario('Runner + AwsExecutor, AuditLog (fsync)', log);
  await log.close();
  rmSync(directory, { recursive: true, force: true });
  executor.close();
  ecs.destroy();
} finally {
  if (started) execFileSync(services, ['down', 'moto'], { env: servicesEnv, stdio: 'ignore' });
}
