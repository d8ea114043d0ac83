// safe.execute with the kubernetes executor and a just-in-time credential provider, end to end on a real
// kube-apiserver (started privately for this file; `scripts/services.sh install k8s` builds the binaries
// once per machine; never skipped). The runner's identity is examples/kubernetes/runner-rbac.yaml as
// shipped, through a kubeconfig of its ServiceAccount; the action runs with the run's scoped token only.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type K8sCluster, startK8sCluster } from '../../executor-k8s/test/k8s-cluster.js';
import { AgentSafe, KubernetesCredentialProvider, kubernetesCredentialApi } from '../src/index.js';

const REPO = join(import.meta.dirname, '..', '..', '..');
const CATALOG = join(REPO, 'catalog', 'kubernetes');
const RBAC_FILE = join(REPO, 'examples', 'kubernetes', 'runner-rbac.yaml');
const SECRET = 'sdk-jit-ticket-secret-with-at-least-32-bytes';
const NS = 'shop';

let cluster: K8sCluster;
let dir: string;
let runnerKubeconfig: string;
let safe: AgentSafe;

async function kubectl(args: readonly string[], input?: string): Promise<string> {
  const result = await cluster.kubectl(args, input === undefined ? {} : { input });
  if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

beforeAll(async () => {
  cluster = await startK8sCluster();
  await kubectl(['apply', '-f', RBAC_FILE]);
  await kubectl(['create', 'namespace', NS]);
  await kubectl(
    ['apply', '-f', '-'],
    JSON.stringify({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: NS },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { containers: [{ name: 'app', image: 'nginx' }] },
        },
      },
    }),
  );
  const token = (
    await kubectl(['create', 'token', 'agent-safe-runner', '-n', 'agent-safe', '--duration=1h'])
  ).trim();
  dir = mkdtempSync(join(tmpdir(), 'agent-safe-sdk-jit-'));
  runnerKubeconfig = join(dir, 'runner.kubeconfig');
  writeFileSync(
    runnerKubeconfig,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: test',
      `  cluster: {server: "${cluster.url}", certificate-authority: "${cluster.caPath}"}`,
      'users:',
      '- name: runner',
      `  user: {token: "${token}"}`,
      'contexts:',
      '- name: runner',
      '  context: {cluster: test, user: runner}',
      'current-context: runner',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  writeFileSync(
    join(dir, 'inventory.yaml'),
    JSON.stringify({
      targets: [
        {
          id: 'jit/deploy-web',
          type: 'k8s-deployment',
          identifiers: { namespace: NS, name: 'web' },
          environment: 'dev',
          sensitivity: 'internal',
        },
      ],
    }),
  );
  writeFileSync(
    join(dir, 'policy.yaml'),
    'rules:\n  - { name: jit-allow, priority: 100, match: { actions: ["scale-deployment"] }, decision: allow, reason: jit }\n',
  );
  mkdirSync(join(dir, 'audit'));
  writeFileSync(
    join(dir, 'agent-safe.yaml'),
    `registry: ${JSON.stringify(CATALOG)}\npolicies: ./policy.yaml\ninventory: ./inventory.yaml\naudit_log: ./audit/audit.jsonl\nenforce_target_binding: true\n`,
  );
  safe = new AgentSafe({ cwd: dir, security: { signingKey: SECRET, allowPlainCallers: true } });
}, 150_000);

afterAll(async () => {
  await safe?.close();
  await cluster?.stop();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe("safe.execute({ executor: 'kubernetes', credentials: provider })", () => {
  it('scales with a just-in-time credential; prechecks pass as the runner; the credential is revoked and never logged', async () => {
    const params = { namespace: NS, deployment: 'web', replicas: 4 };
    const decision = await safe.check({
      action: 'scale-deployment',
      target: 'jit/deploy-web',
      caller: 'jit-agent',
      params,
    });
    expect({ result: decision.result, errors: decision.errors }).toEqual({ result: 'ALLOW', errors: [] });

    const tokens: string[] = [];
    const provider = new KubernetesCredentialProvider({
      api: await kubernetesCredentialApi({ kubeconfig: runnerKubeconfig }),
      namespace: 'agent-safe',
    });
    const issue = provider.issue.bind(provider);
    provider.issue = async (request) => {
      const credential = await issue(request);
      tokens.push(credential.material.token);
      return credential;
    };

    const result = await safe.execute(decision, {
      executor: 'kubernetes',
      kubeconfig: runnerKubeconfig,
      credentials: provider,
    });
    expect({ status: result.status, error: result.error }).toEqual({ status: 'succeeded', error: undefined });
    expect(result.steps.map((step) => `${step.name}:${step.status}`)).toEqual([
      'ticket:ok',
      'credentials:ok',
      'precheck:deployment-exists:ok',
      'precheck:hpa-not-managing:ok',
      'precheck:quota-allows:ok',
      'before_state:ok',
      'execute:ok',
      'after_state:ok',
      'revoke:ok',
    ]);
    expect(result.diff).toEqual({ replicas: { before: 1, after: 4 } });
    expect(
      JSON.parse(await kubectl(['get', 'deployment', 'web', '-n', NS, '-o', 'json'])).spec.replicas,
    ).toBe(4);

    // The credential was minted for this run and is gone; its token is nowhere in the log or result.
    expect(tokens).toHaveLength(1);
    const left = await kubectl([
      'get',
      'serviceaccounts,rolebindings,roles',
      '-A',
      '-l',
      'app.kubernetes.io/managed-by=agent-safe',
      '-o',
      'name',
    ]);
    expect(left.trim()).toBe('');
    const log = readFileSync(join(dir, 'audit', 'audit.jsonl'), 'utf8');
    expect(log).toContain('kubernetes-token');
    expect(log).not.toContain(tokens[0]);
    expect(JSON.stringify(result)).not.toContain(tokens[0]);
  });
});
