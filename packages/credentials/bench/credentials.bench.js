// Just-in-time Kubernetes credentials on a real kube-apiserver: how long KubernetesCredentialProvider takes
// to issue one (ServiceAccount + Role + RoleBinding + TokenRequest: four API calls) and to revoke it
// (RoleBinding, ServiceAccount, Role: three deletes), for scale-deployment's scope; and the runner's cost
// of a credential: Runner.execute of scale-deployment with the KubernetesExecutor, with
// credentialResolver(provider) vs without (same runner, in-memory audit sink, interleaved runs).
// Run: pnpm --filter @agent-safe/credentials bench (after `pnpm turbo run build --filter=@agent-safe/executor-k8s`;
// the root `pnpm bench` builds it first). Cluster: BENCH_KUBECONFIG (its user must manage ServiceAccounts,
// RBAC objects and tokens), else the bench starts one with `scripts/services.sh up k8s` on port
// BENCH_K8S_PORT (default 16953) and stops it. Env: BENCH_ITERATIONS (default 100).
import { execFileSync } from 'node:child_process';
import { request as httpsRequest } from 'node:https';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
// Packages that depend on this one (the runner, the executor) are loaded from their built dist/ by path:
// as dependencies of @agent-safe/credentials they would make a cycle in the workspace graph.
import {
  KubernetesExecutor,
  kubeconfigFromOptions,
  loadKubernetesClient,
} from '../../executor-k8s/dist/index.js';
import { ActionRegistry } from '../../registry/dist/index.js';
import { Runner, credentialResolver } from '../../runner/dist/index.js';
import { TicketIssuer, TicketValidator } from '../../tickets/dist/index.js';
import { KubernetesCredentialProvider, renderScope } from '../dist/index.js';

const iterations = Number(process.env.BENCH_ITERATIONS ?? 100);
const root = join(import.meta.dirname, '..', '..', '..');
const services = join(root, 'scripts', 'services.sh');
const port = process.env.BENCH_K8S_PORT ?? '16953';
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
  const p95 = percentile(sorted, 0.95);
  console.log(
    `${name.padEnd(52)} p50 ${p50.toFixed(1)} ms  p95 ${p95.toFixed(1)} ms  (${samples.length} runs)`,
  );
  return { p50, p95 };
}

const load = () =>
  loadavg()
    .map((value) => value.toFixed(2))
    .join(' ');

/** The provider's client on the kubeconfig (its user authenticates; TLS verified as it says). */
function credentialApi(config) {
  const server = new URL(config.getCurrentCluster().server);
  return {
    async request(method, path, body) {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const options = {
        method,
        headers: {
          Accept: 'application/json',
          ...(payload === undefined
            ? {}
            : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) }),
        },
      };
      await config.applyToHTTPSOptions(options);
      return await new Promise((resolve, reject) => {
        const req = httpsRequest(new URL(path, server), options, (res) => {
          const chunks = [];
          res.on('data', (chunk) => chunks.push(chunk));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed;
            try {
              parsed = text === '' ? undefined : JSON.parse(text);
            } catch {
              parsed = undefined;
            }
            resolve({ status: res.statusCode ?? 0, body: parsed });
          });
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end(payload);
      });
    },
  };
}

try {
  console.log(`load average at start: ${load()}`);
  const k8s = await loadKubernetesClient();
  const config = await kubeconfigFromOptions({ kubeconfig });
  const core = config.makeApiClient(k8s.CoreV1Api);
  const apps = config.makeApiClient(k8s.AppsV1Api);
  const suffix = Date.now().toString(36);
  const namespace = `bench-${suffix}`;
  const credentialNamespace = `bench-credentials-${suffix}`;
  for (const name of [namespace, credentialNamespace]) {
    await core.createNamespace({ body: { metadata: { name } } });
  }
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
  const actions = await ActionRegistry.load(join(root, 'catalog', 'kubernetes'));
  const definition = actions.get('scale-deployment');
  const provider = new KubernetesCredentialProvider({
    api: credentialApi(config),
    namespace: credentialNamespace,
  });
  const replicasOf = (index) => 1 + (index % 2);
  const params = (index) => ({ namespace, deployment: 'web', replicas: replicasOf(index) });

  // 1. Issue and revoke, alone.
  const issueRequest = (index) => {
    const scope = renderScope(definition, params(index));
    return {
      action: 'scale-deployment@1.0.0',
      target: `${namespace}/web`,
      params: params(index),
      scope,
      ttlSeconds: scope.ttl,
      requestId: `evt_bench_issue_${index}`,
    };
  };
  for (let index = 0; index < 10; index += 1) {
    await provider.revoke(await provider.issue({ ...issueRequest(index), requestId: `evt_warm_${index}` }));
  }
  const issued = [];
  const revoked = [];
  for (let index = 0; index < iterations; index += 1) {
    let begin = performance.now();
    const credential = await provider.issue(issueRequest(index));
    issued.push(performance.now() - begin);
    begin = performance.now();
    await provider.revoke(credential);
    revoked.push(performance.now() - begin);
  }
  const issue = report('issue (SA + Role + RoleBinding + TokenRequest)', issued);
  const revoke = report('revoke (RoleBinding, SA, Role deleted)', revoked);
  console.log(`${''.padEnd(52)} issue + revoke: p50 ${(issue.p50 + revoke.p50).toFixed(1)} ms`);

  // 2. The runner with and without a credential, interleaved (the machine's drift hits both alike).
  const secret = 'benchmark ticket secret of at least 32 bytes';
  const issuer = new TicketIssuer({ algorithm: 'HS256', key: secret });
  const memory = {
    append: async (event) => ({ ...event, sequence: 0, prev_hash: '', hash: '' }),
    close: async () => {},
  };
  const runnerOf = (credentials) =>
    new Runner({
      actions,
      validator: new TicketValidator({ algorithm: 'HS256', key: secret }),
      auditSink: memory,
      ...(credentials ? { credentials } : {}),
    });
  const plain = runnerOf(undefined);
  const withCredential = runnerOf(credentialResolver(provider));
  const executor = new KubernetesExecutor({ kubeConfig: config });
  let ticketCount = 0;
  const runOnce = async (runner, index) => {
    ticketCount += 1;
    const { token } = await issuer.issue({
      action: 'scale-deployment',
      target: `${namespace}/web`,
      caller: 'bench',
      params: params(index),
      auditId: `evt_bench_run_${ticketCount}`,
      policyRevision: 'bench',
    });
    const begin = performance.now();
    const result = await runner.execute(token, { params: params(index), executor });
    const elapsed = performance.now() - begin;
    if (result.status !== 'succeeded') {
      throw new Error(`run ${result.status}: ${result.error?.code} ${result.error?.message}`);
    }
    return elapsed;
  };
  for (let index = 0; index < 10; index += 1) {
    await runOnce(plain, index);
    await runOnce(withCredential, index);
  }
  const without = [];
  const withIt = [];
  for (let index = 0; index < iterations; index += 1) {
    without.push(await runOnce(plain, index));
    withIt.push(await runOnce(withCredential, index));
  }
  const bare = report('Runner + KubernetesExecutor, no credential', without);
  const scoped = report('Runner + KubernetesExecutor, just-in-time credential', withIt);
  console.log(
    `${''.padEnd(52)} a credential adds p50 ${(scoped.p50 - bare.p50).toFixed(1)} ms, p95 ${(scoped.p95 - bare.p95).toFixed(1)} ms`,
  );

  for (const name of [namespace, credentialNamespace]) await core.deleteNamespace({ name });
  console.log(`load average at end: ${load()}`);
} finally {
  if (started) execFileSync(services, ['down', 'k8s'], { env: servicesEnv, stdio: 'ignore' });
}
