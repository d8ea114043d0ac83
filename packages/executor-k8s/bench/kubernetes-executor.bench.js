// Runner overhead over the bare API call on a real kube-apiserver: scale-deployment as one merge patch of
// the scale subresource with client-node, against KubernetesExecutor.execute alone, and against
// Runner.execute with the KubernetesExecutor (ticket validation, the action's 3 prechecks, before- and
// after-state reads, audit events).
// Run: pnpm --filter @agent-safe/executor-k8s bench (after building). Cluster: BENCH_KUBECONFIG, else the
// bench starts one with `scripts/services.sh up k8s` on port BENCH_K8S_PORT (default 16943) and stops it.
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
import { KubernetesExecutor, kubeconfigFromOptions, loadKubernetesClient } from '../dist/index.js';

const iterations = Number(process.env.BENCH_ITERATIONS ?? 200);
const root = join(import.meta.dirname, '..', '..', '..');
const services = join(root, 'scripts', 'services.sh');
const port = process.env.BENCH_K8S_PORT ?? '16943';
const servicesEnv = {
  ...process.env,
  AGENT_SAFE_K8S_PORT: port,
  AGENT_SAFE_K8S_ETCD_PORT: String(Number(port) + 7000),
};

let kubeconfig = process.env.BENCH_KUBECONFIG;
let started = false;
if (!kubeconfig) {
  const out = execFileSync(services, ['up', 'k8s'], { env: servicesEnv, encoding: 'utf8' });
  kubeconfig = /KUBECONFIG=(\S+)/.exec(out)?.[1];
  if (!kubeconfig) throw new Error(`scripts/services.sh up k8s printed no KUBECONFIG:\n${out}`);
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
  const k8s = await loadKubernetesClient();
  const config = await kubeconfigFromOptions({ kubeconfig });
  const core = config.makeApiClient(k8s.CoreV1Api);
  const apps = config.makeApiClient(k8s.AppsV1Api);
  const namespace = `bench-${Date.now().toString(36)}`;
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  const labels = { app: 'web' };
  await apps.createNamespacedDeployment({
    namespace,
    body: {
      metadata: { name: 'web' },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        template: { metadata: { labels }, spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] } },
      },
    },
  });
  const replicasOf = (index) => 1 + (index % 2);

  // Warm-up: connections and the client's lazy parts.
  for (let index = 0; index < 20; index += 1) {
    await apps.patchNamespacedDeploymentScale(
      { name: 'web', namespace, body: { spec: { replicas: replicasOf(index) } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
  }

  const bare = [];
  for (let index = 0; index < iterations; index += 1) {
    const begin = performance.now();
    await apps.patchNamespacedDeploymentScale(
      { name: 'web', namespace, body: { spec: { replicas: replicasOf(index) } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    bare.push(performance.now() - begin);
  }
  const bareP50 = report('bare client-node patch (scale subresource)', bare);

  const actions = await ActionRegistry.load(join(root, 'catalog', 'kubernetes'));
  const executor = new KubernetesExecutor({ kubeConfig: config });
  const definition = actions.get('scale-deployment');
  const alone = [];
  for (let index = 0; index < iterations; index += 1) {
    const request = {
      action: definition,
      target: `${namespace}/web`,
      params: { namespace, deployment: 'web', replicas: replicasOf(index) },
      ticket: { auditId: 'evt_bench' },
    };
    const begin = performance.now();
    const outcome = await executor.execute(request, { signal: new AbortController().signal });
    alone.push(performance.now() - begin);
    if (!outcome.ok) throw new Error(`execute failed: ${outcome.error}`);
  }
  const aloneP50 = report('KubernetesExecutor.execute', alone);
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
      const params = { namespace, deployment: 'web', replicas: replicasOf(index) };
      const { token } = await issuer.issue({
        action: 'scale-deployment',
        target: `${namespace}/web`,
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
      `${''.padEnd(44)} runner overhead over the bare call: ${(p50 - bareP50).toFixed(3)} ms (p50)`,
    );
  }

  const memory = {
    append: async (event) => ({ ...event, sequence: 0, prev_hash: '', hash: '' }),
    close: async () => {},
  };
  await scenario('Runner + KubernetesExecutor, in-memory audit', memory);
  const directory = mkdtempSync(join(tmpdir(), 'agent-safe-k8s-bench-'));
  const log = await AuditLog.open(join(directory, 'audit.jsonl'), { durability: 'fsync' });
  await scenario('Runner + KubernetesExecutor, AuditLog (fsync)', log);
  await log.close();
  rmSync(directory, { recursive: true, force: true });
  await core.deleteNamespace({ name: namespace });
} finally {
  if (started) execFileSync(services, ['down', 'k8s'], { env: servicesEnv, stdio: 'ignore' });
}
