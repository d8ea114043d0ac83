// Just-in-time credentials end to end, with the runner's own identity exactly as shipped in
// examples/kubernetes/runner-rbac.yaml: that file is applied to a real kube-apiserver (RBAC on, with the
// controller manager), a kubeconfig is built for its ServiceAccount (TokenRequest), and the real Runner
// with credentialResolver(KubernetesCredentialProvider) and the KubernetesExecutor runs catalogue actions.
// Prechecks read with the runner's identity (they look beyond the action's object); the action and its
// state reads use only the run's narrow token. Static checks keep the file in step with the code.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { AuditLog } from '@agent-safe/audit';
import type { Credential, CredentialProvider, ExecutionRequest } from '@agent-safe/core';
import {
  type KubernetesCredentialApi,
  type KubernetesCredentialMaterial,
  KubernetesCredentialProvider,
  type PolicyRule,
  httpsKubernetesApi,
  kubernetesCredentialPlan,
  renderScope,
  testKubernetesProvider,
} from '@agent-safe/credentials';
import type { ActionRegistry } from '@agent-safe/registry';
import { Runner, credentialResolver } from '@agent-safe/runner';
import { TicketIssuer, TicketValidator } from '@agent-safe/tickets';
import type { AppsV1Api, AutoscalingV2Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import type { KubernetesApis } from '../src/apis.js';
import {
  KubernetesExecutor,
  type KubernetesClientModule,
  kubeconfigFromOptions,
  loadKubernetesClient,
  PRECHECK_READ_RULES,
} from '../src/index.js';
import { Session } from '../src/session.js';
import { readActionState } from '../src/state.js';
import { catalogue, context, rawRequestFor, requestFor, sleep } from './executor-helpers.js';
import { type K8sCluster, startK8sCluster } from './k8s-cluster.js';

const RBAC_FILE = join(import.meta.dirname, '..', '..', '..', 'examples', 'kubernetes', 'runner-rbac.yaml');
const RUNNER_NAMESPACE = 'agent-safe';
const RUNNER = 'agent-safe-runner';
const SECRET = 'executor-k8s jit credentials test secret (32+ bytes)';
const NS = 'shop';
const THROWAWAY = 'jit-throwaway';
/** Actions the runner identity deliberately cannot mint credentials for (the executor refuses them). */
const NOT_GRANTABLE = ['exec-pod', 'port-forward'];

/** Params naming one object of each kind: enough to render every catalogue credentials block. */
const SAMPLE: Record<string, unknown> = {
  namespace: NS,
  deployment: 'web',
  container: 'app',
  pod: 'web-1',
  configmap: 'settings',
  key: 'mode',
  secret: 'db',
  hpa: 'api',
  node: 'node-a',
  policy_name: 'deny-ingress',
};

interface RbacObject {
  kind: string;
  metadata: { name: string; namespace?: string };
  rules?: PolicyRule[];
}

/** (group, resource, verb) of every combination a set of rules grants (RBAC's own breakdown). */
function triples(rules: readonly PolicyRule[]): Set<string> {
  const out = new Set<string>();
  for (const rule of rules) {
    for (const group of rule.apiGroups)
      for (const resource of rule.resources)
        for (const verb of rule.verbs) out.add(`${group}/${resource}:${verb}`);
  }
  return out;
}

/** The rules of a ClusterRole or Role of the shipped file. */
function rulesOf(objects: readonly RbacObject[], kind: string, name: string): PolicyRule[] {
  const found = objects.find((object) => object.kind === kind && object.metadata.name === name);
  if (found?.rules === undefined) throw new Error(`${RBAC_FILE} has no ${kind} ${name}`);
  return found.rules;
}

/** The rules of an action's credential for the sample params, as the provider would create them. */
function credentialRules(actions: ActionRegistry, name: string) {
  const definition = actions.get(name);
  if (definition === undefined) throw new Error(`no action ${name}`);
  const scope = renderScope(definition, SAMPLE);
  if (scope === null) return undefined;
  return kubernetesCredentialPlan(scope, { requestId: `evt_fit_${name}`, namespace: RUNNER_NAMESPACE });
}

/** One API read, as RBAC sees it. */
interface Read {
  verb: string;
  group: string;
  resource: string;
  namespace?: string;
  name?: string;
}

const GROUP_OF: Record<string, string> = {
  core: '',
  apps: 'apps',
  autoscaling: 'autoscaling',
  policy: 'policy',
  networking: 'networking.k8s.io',
};

/**
 * The reads `readActionState` makes for a request, recorded from the code itself: every client method
 * called is turned into (verb, group, resource, namespace, name), e.g. `apps.readNamespacedDeployment`
 * into `get apps/deployments`. Reads answer `{}` (lists: no items), so every read of every field runs.
 */
async function stateReads(k8s: KubernetesClientModule, request: ExecutionRequest, fields: string[]) {
  const reads: Read[] = [];
  const group = (api: string) =>
    new Proxy(
      {},
      {
        get: (_target, method: string) => (args: { name?: string; namespace?: string }) => {
          const match = /^(read|list)(Namespaced)?([A-Za-z]+?)(ForAllNamespaces)?$/.exec(method);
          if (match === null) throw new Error(`unexpected call ${api}.${method}`);
          const kind = match[3] as string;
          const resource = `${kind.toLowerCase().replace(/y$/, 'ie')}s`;
          reads.push({
            verb: match[1] === 'read' ? 'get' : 'list',
            group: GROUP_OF[api] as string,
            resource,
            ...(args?.namespace !== undefined ? { namespace: args.namespace } : {}),
            ...(match[1] === 'read' && args?.name !== undefined ? { name: args.name } : {}),
          });
          return Promise.resolve(match[1] === 'list' ? { items: [], metadata: {} } : {});
        },
      },
    );
  const apis = {
    config: { getCurrentCluster: () => null },
    ...Object.fromEntries(Object.keys(GROUP_OF).map((api) => [api, group(api)])),
  } as unknown as KubernetesApis;
  const session = new Session({
    k8s,
    apis,
    signal: new AbortController().signal,
    requestTimeoutMs: 1000,
    pollIntervalMs: 10,
  });
  try {
    await readActionState(session, request, fields);
  } catch {
    // A missing object ends the read; what was asked for is recorded.
  }
  return reads;
}

const CLUSTER_SCOPED = new Set(['nodes', 'namespaces']);

/** Whether a credential plan grants a read: a rule of a Role in its namespace, or of the ClusterRole. */
function grants(plan: ReturnType<typeof kubernetesCredentialPlan>, read: Read): boolean {
  const roles = plan.roles.filter((role) =>
    role.kind === 'ClusterRole'
      ? true
      : !CLUSTER_SCOPED.has(read.resource) &&
        read.namespace !== undefined &&
        role.metadata.namespace === read.namespace,
  );
  return roles.some((role) =>
    (role.rules as PolicyRule[]).some(
      (rule) =>
        rule.apiGroups.includes(read.group) &&
        rule.resources.includes(read.resource) &&
        rule.verbs.includes(read.verb) &&
        (rule.resourceNames === undefined ||
          (read.name !== undefined && rule.resourceNames.includes(read.name))),
    ),
  );
}

describe('the shipped runner identity and the credential scopes (no cluster)', () => {
  let objects: RbacObject[];
  let actions: ActionRegistry;
  let k8s: KubernetesClientModule;

  beforeAll(async () => {
    k8s = await loadKubernetesClient();
    objects = k8s.loadAllYaml(await readFile(RBAC_FILE, 'utf8')) as RbacObject[];
    actions = await catalogue();
  });

  it('its precheck ClusterRole is exactly PRECHECK_READ_RULES', () => {
    expect(rulesOf(objects, 'ClusterRole', 'agent-safe-runner-prechecks')).toEqual(
      PRECHECK_READ_RULES.map((rule) => ({
        apiGroups: [...rule.apiGroups],
        resources: [...rule.resources],
        verbs: [...rule.verbs],
      })),
    );
  });

  it('its grantable rights cover every catalogue credential except exec-pod and port-forward, and nothing more', () => {
    const grantable = triples(rulesOf(objects, 'ClusterRole', 'agent-safe-runner-grantable'));
    const needed = new Set<string>();
    for (const definition of actions.list()) {
      const plan = credentialRules(actions, definition.name);
      if (plan === undefined) continue;
      const wanted = triples(plan.roles.flatMap((role) => role.rules as PolicyRule[]));
      const missing = [...wanted].filter((triple) => !grantable.has(triple));
      if (NOT_GRANTABLE.includes(definition.name)) {
        expect({ action: definition.name, missing: missing.length > 0 }).toEqual({
          action: definition.name,
          missing: true,
        });
        continue;
      }
      expect({ action: definition.name, missing }).toEqual({ action: definition.name, missing: [] });
      for (const triple of wanted) needed.add(triple);
    }
    expect([...grantable].filter((triple) => !needed.has(triple))).toEqual([]);
  });

  it('manages credential objects only: ServiceAccounts and tokens in its own namespace, RBAC objects', () => {
    expect(triples(rulesOf(objects, 'Role', 'agent-safe-runner-credentials'))).toEqual(
      new Set(['/serviceaccounts:create', '/serviceaccounts:delete', '/serviceaccounts/token:create']),
    );
    const rbac = [...triples(rulesOf(objects, 'ClusterRole', 'agent-safe-runner-credential-rbac'))];
    expect(rbac.every((triple) => triple.startsWith('rbac.authorization.k8s.io/'))).toBe(true);
    expect(rbac.some((triple) => /:(escalate|bind|impersonate|\*)$/.test(triple))).toBe(false);
    // Every role of the file is bound to the runner's ServiceAccount, and nothing else is bound.
    const bindings = objects.filter((object) => object.kind.endsWith('Binding')) as unknown as {
      roleRef: { name: string };
      subjects: { kind: string; name: string; namespace: string }[];
    }[];
    expect(bindings.map((binding) => binding.roleRef.name).sort()).toEqual(
      objects
        .filter((object) => object.kind === 'ClusterRole' || object.kind === 'Role')
        .map((object) => object.metadata.name)
        .sort(),
    );
    for (const binding of bindings) {
      expect(binding.subjects).toEqual([
        { kind: 'ServiceAccount', name: RUNNER, namespace: RUNNER_NAMESPACE },
      ]);
    }
  });

  it("every catalogue action's state reads fit its own credential (readState keeps the run's token)", async () => {
    const withState = actions.list().filter((definition) => definition.stateFields.length > 0);
    expect(withState.length).toBeGreaterThanOrEqual(12);
    for (const definition of withState) {
      const request = await rawRequestFor(definition.name, SAMPLE);
      const fields = definition.stateFields.map((field) => field.name);
      const reads = await stateReads(k8s, request, fields);
      if (definition.name === 'drain-node') {
        // The recorder sees the real calls: the node by name, then its pods across namespaces.
        expect(reads).toEqual([
          { verb: 'get', group: '', resource: 'nodes', name: 'node-a' },
          { verb: 'list', group: '', resource: 'pods' },
        ]);
      }
      expect({ action: definition.name, reads: reads.length > 0 }).toEqual({
        action: definition.name,
        reads: true,
      });
      const plan = credentialRules(actions, definition.name);
      expect({ action: definition.name, credentials: plan !== undefined }).toEqual({
        action: definition.name,
        credentials: true,
      });
      const refused = reads.filter((read) => !grants(plan as NonNullable<typeof plan>, read));
      expect({ action: definition.name, refused }).toEqual({ action: definition.name, refused: [] });
    }
  });

  it('the check itself refuses a read outside the scope (another name, another namespace, a list)', () => {
    const plan = credentialRules(actions, 'scale-deployment') as NonNullable<
      ReturnType<typeof credentialRules>
    >;
    const read = { verb: 'get', group: 'apps', resource: 'deployments', namespace: NS, name: 'web' };
    expect(grants(plan, read)).toBe(true);
    expect(grants(plan, { ...read, name: 'api' })).toBe(false);
    expect(grants(plan, { ...read, namespace: 'other' })).toBe(false);
    expect(
      grants(plan, {
        verb: 'list',
        group: 'autoscaling',
        resource: 'horizontalpodautoscalers',
        namespace: NS,
      }),
    ).toBe(false);
  });
});

describe('just-in-time credentials with the shipped runner identity (real API server)', () => {
  let cluster: K8sCluster;
  let k8s: KubernetesClientModule;
  let admin: KubeConfig;
  let core: CoreV1Api;
  let apps: AppsV1Api;
  let autoscaling: AutoscalingV2Api;
  let adminApi: KubernetesCredentialApi;
  let runnerApi: KubernetesCredentialApi;
  let runnerToken: string;
  let runnerKubeconfig: string;
  let directory: string;
  let auditPath: string;
  let audit: AuditLog;
  let actions: ActionRegistry;
  let runner: Runner;
  let executor: KubernetesExecutor;
  const tokens: string[] = [];
  const issuer = new TicketIssuer({ algorithm: 'HS256', key: SECRET });
  let decisions = 0;

  async function kubectl(args: readonly string[], input?: string): Promise<string> {
    const result = await cluster.kubectl(args, input === undefined ? {} : { input });
    if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${result.stderr}`);
    return result.stdout;
  }

  async function run(action: string, params: Record<string, unknown>) {
    const checked = actions.validateParams(action, params);
    if (!checked.ok) throw new Error(JSON.stringify(checked.errors));
    decisions += 1;
    const { token } = await issuer.issue({
      action,
      target: `jit/${action}`,
      caller: 'agent-1',
      params: checked.params,
      auditId: `evt_jit_${decisions}`,
      policyRevision: 'test',
    });
    return await runner.execute(token, { params: checked.params, executor, timeoutMs: 60_000 });
  }

  /** Every object of a credential still on the server (each carries the managed-by label). */
  async function leftovers(): Promise<string[]> {
    const selector = '?labelSelector=app.kubernetes.io%2Fmanaged-by%3Dagent-safe';
    const found: string[] = [];
    for (const path of [
      `/api/v1/namespaces/${RUNNER_NAMESPACE}/serviceaccounts`,
      '/apis/rbac.authorization.k8s.io/v1/rolebindings',
      '/apis/rbac.authorization.k8s.io/v1/roles',
      '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings',
      '/apis/rbac.authorization.k8s.io/v1/clusterroles',
    ]) {
      const response = await adminApi.request('GET', `${path}${selector}`);
      expect(response.status).toBe(200);
      for (const item of (response.body as { items: { metadata: { name: string } }[] }).items) {
        found.push(`${path.split('/').pop()}/${item.metadata.name}`);
      }
    }
    return found;
  }

  beforeAll(async () => {
    cluster = await startK8sCluster({ controllerManager: true });
    k8s = await loadKubernetesClient();
    admin = await kubeconfigFromOptions({ kubeconfig: cluster.kubeconfigPath });
    core = admin.makeApiClient(k8s.CoreV1Api);
    apps = admin.makeApiClient(k8s.AppsV1Api);
    autoscaling = admin.makeApiClient(k8s.AutoscalingV2Api);
    const ca = await readFile(cluster.caPath, 'utf8');
    adminApi = httpsKubernetesApi({ server: cluster.url, ca, token: cluster.adminToken });

    // The runner identity: exactly the shipped file, and a token of its ServiceAccount.
    await kubectl(['apply', '-f', RBAC_FILE]);
    runnerToken = (
      await core.createNamespacedServiceAccountToken({
        name: RUNNER,
        namespace: RUNNER_NAMESPACE,
        body: { spec: { audiences: [], expirationSeconds: 3600 } },
      })
    ).status?.token as string;
    directory = await mkdtemp(join(tmpdir(), 'agent-safe-jit-'));
    runnerKubeconfig = join(directory, 'runner.kubeconfig');
    await writeFile(
      runnerKubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        '- name: test',
        `  cluster: {server: "${cluster.url}", certificate-authority: "${cluster.caPath}"}`,
        'users:',
        `- name: ${RUNNER}`,
        `  user: {token: "${runnerToken}"}`,
        'contexts:',
        `- name: runner`,
        `  context: {cluster: test, user: ${RUNNER}}`,
        'current-context: runner',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    runnerApi = httpsKubernetesApi({ server: cluster.url, ca, token: runnerToken });

    // The objects the actions act on.
    await core.createNamespace({ body: { metadata: { name: NS } } });
    await core.createNamespace({ body: { metadata: { name: THROWAWAY } } });
    await core.createNamespacedConfigMap({
      namespace: THROWAWAY,
      body: { metadata: { name: 'leftover' }, data: { a: '1' } },
    });
    await core.createNamespacedResourceQuota({
      namespace: NS,
      body: { metadata: { name: 'pods' }, spec: { hard: { pods: '50' } } },
    });
    for (const [name, replicas] of [
      ['web', 1],
      ['api', 1],
    ] as const) {
      const labels = { app: name };
      await apps.createNamespacedDeployment({
        namespace: NS,
        body: {
          metadata: { name },
          spec: {
            replicas,
            selector: { matchLabels: labels },
            template: { metadata: { labels }, spec: { containers: [{ name: 'app', image: 'nginx:1.27' }] } },
          },
        },
      });
    }
    await core.createNamespacedConfigMap({
      namespace: NS,
      body: { metadata: { name: 'settings' }, data: { mode: 'blue' } },
    });
    await autoscaling.createNamespacedHorizontalPodAutoscaler({
      namespace: NS,
      body: {
        metadata: { name: 'api' },
        spec: {
          scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'api' },
          minReplicas: 1,
          maxReplicas: 3,
          metrics: [
            {
              type: 'Resource',
              resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } },
            },
          ],
        },
      },
    });
    for (const node of ['node-a', 'node-b']) {
      await core.createNode({
        body: { metadata: { name: node, labels: { 'kubernetes.io/hostname': node } } },
      });
      await kubectl([
        'patch',
        'node',
        node,
        '--subresource=status',
        '--type=merge',
        '-p',
        JSON.stringify({
          status: {
            conditions: [
              {
                type: 'Ready',
                status: 'True',
                reason: 'KubeletReady',
                message: 'marked ready by the test',
                lastHeartbeatTime: new Date().toISOString(),
                lastTransitionTime: new Date().toISOString(),
              },
            ],
            allocatable: { cpu: '4', memory: '8Gi', pods: '110' },
            capacity: { cpu: '4', memory: '8Gi', pods: '110' },
          },
        }),
      ]);
      // TaintNodesByCondition taints a new node not-ready; no node lifecycle controller lifts it here.
      await cluster.kubectl(['taint', 'node', node, 'node.kubernetes.io/not-ready:NoSchedule-']);
    }

    actions = await catalogue();
    auditPath = join(directory, 'audit.jsonl');
    audit = await AuditLog.open(auditPath);
    const provider = new KubernetesCredentialProvider({ api: runnerApi, namespace: RUNNER_NAMESPACE });
    // The provider as the runner uses it; the test only keeps each token to look for it afterwards.
    const recording: CredentialProvider<KubernetesCredentialMaterial> = {
      type: provider.type,
      issue: async (request) => {
        const credential = await provider.issue(request);
        tokens.push(credential.material.token);
        return credential;
      },
      revoke: (credential: Credential<KubernetesCredentialMaterial>) => provider.revoke(credential),
    };
    runner = new Runner({
      actions,
      validator: new TicketValidator({ algorithm: 'HS256', key: SECRET }),
      auditSink: audit,
      credentials: credentialResolver(recording),
    });
    executor = new KubernetesExecutor({ kubeconfig: runnerKubeconfig, pollIntervalMs: 200 });
  }, 150_000);

  afterAll(async () => {
    await audit?.close();
    await cluster?.stop();
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  it('the shipped identity passes testKubernetesProvider, and holds no right to act itself beyond the file', async () => {
    const checked = await testKubernetesProvider(runnerApi, RUNNER_NAMESPACE);
    expect(checked.checks.filter((check) => !check.ok)).toEqual([]);
    const review = async (attributes: Record<string, string>) => {
      const response = await runnerApi.request(
        'POST',
        '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
        {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SelfSubjectAccessReview',
          spec: { resourceAttributes: attributes },
        },
      );
      return (response.body as { status: { allowed: boolean } }).status.allowed;
    };
    const refused: Record<string, string>[] = [
      { verb: 'escalate', group: 'rbac.authorization.k8s.io', resource: 'clusterroles' },
      { verb: 'bind', group: 'rbac.authorization.k8s.io', resource: 'clusterroles' },
      { verb: 'impersonate', group: '', resource: 'users' },
      { verb: 'create', group: '', resource: 'pods', subresource: 'exec', namespace: NS },
      { verb: 'create', group: 'apps', resource: 'deployments', namespace: NS },
      { verb: 'delete', group: 'apps', resource: 'deployments', namespace: NS },
      { verb: 'update', group: '', resource: 'secrets', namespace: NS },
      { verb: 'create', group: '', resource: 'serviceaccounts', namespace: NS },
    ];
    for (const attributes of refused) {
      expect({ ...attributes, allowed: await review(attributes) }).toEqual({ ...attributes, allowed: false });
    }
  });

  it('prechecks read with the runner identity; execute and readState use only the credential', async () => {
    // A credential with no rights at all: the prechecks still pass (they are the runner's reads), while
    // the action and its state reads get 403 — the runner's identity is never a fallback for them.
    await core.createNamespacedServiceAccount({
      namespace: RUNNER_NAMESPACE,
      body: { metadata: { name: 'nobody' } },
    });
    const nobody = (
      await core.createNamespacedServiceAccountToken({
        name: 'nobody',
        namespace: RUNNER_NAMESPACE,
        body: { spec: { audiences: [], expirationSeconds: 600 } },
      })
    ).status?.token as string;
    const request = await requestFor('scale-deployment', { namespace: NS, deployment: 'web', replicas: 2 });
    for (const check of ['deployment-exists', 'hpa-not-managing', 'quota-allows']) {
      const outcome = await executor.precheck(check, request, context({ credentials: { token: nobody } }));
      expect({ check, status: outcome.status, reason: outcome.reason }).toEqual({
        check,
        status: 'pass',
        reason: expect.not.stringMatching(/403|forbidden/) as unknown as string,
      });
    }
    const outcome = await executor.execute(request, context({ credentials: { token: nobody } }));
    expect(outcome.ok).toBe(false);
    expect(outcome.error).toMatch(/^HTTP 403: .*system:serviceaccount:agent-safe:nobody/);
    await expect(
      executor.readState(request, ['replicas'], context({ credentials: { token: nobody } })),
    ).rejects.toThrow(/^HTTP 403: /);
    expect((await apps.readNamespacedDeployment({ name: 'web', namespace: NS })).spec?.replicas).toBe(1);
  });

  const cases: {
    action: string;
    params: Record<string, unknown>;
    changed: () => Promise<void>;
  }[] = [
    {
      action: 'scale-deployment',
      params: { namespace: NS, deployment: 'web', replicas: 3 },
      changed: async () => {
        expect((await apps.readNamespacedDeployment({ name: 'web', namespace: NS })).spec?.replicas).toBe(3);
      },
    },
    {
      action: 'update-configmap',
      params: { namespace: NS, configmap: 'settings', key: 'mode', value: 'green' },
      changed: async () => {
        expect((await core.readNamespacedConfigMap({ name: 'settings', namespace: NS })).data).toEqual({
          mode: 'green',
        });
      },
    },
    {
      action: 'cordon-node',
      params: { node: 'node-a' },
      changed: async () => {
        expect((await core.readNode({ name: 'node-a' })).spec?.unschedulable).toBe(true);
      },
    },
    {
      action: 'scale-hpa',
      params: { namespace: NS, hpa: 'api', min_replicas: 2, max_replicas: 4 },
      changed: async () => {
        const hpa = await autoscaling.readNamespacedHorizontalPodAutoscaler({ name: 'api', namespace: NS });
        expect({ min: hpa.spec?.minReplicas, max: hpa.spec?.maxReplicas }).toEqual({ min: 2, max: 4 });
      },
    },
    {
      action: 'delete-namespace',
      params: { namespace: THROWAWAY },
      changed: async () => {
        // The namespace controller empties it, then it is gone.
        for (let attempt = 0; attempt < 240; attempt += 1) {
          const found = await adminApi.request('GET', `/api/v1/namespaces/${THROWAWAY}`);
          if (found.status === 404) return;
          await sleep(250);
        }
        throw new Error(`namespace ${THROWAWAY} was not deleted within 60 s`);
      },
    },
  ];

  it.each(cases.map((entry) => [entry.action, entry] as const))(
    '%s: succeeds with a just-in-time credential, every precheck passing or warning, nothing left behind',
    async (action, { params, changed }) => {
      const issuedBefore = tokens.length;
      const result = await run(action, params);
      expect({ status: result.status, error: result.error }).toEqual({
        status: 'succeeded',
        error: undefined,
      });
      expect(tokens).toHaveLength(issuedBefore + 1);
      const token = tokens[tokens.length - 1] as string;

      const step = (name: string) => result.steps.find((entry) => entry.name === name);
      expect(step('credentials')).toMatchObject({
        status: 'ok',
        detail: expect.stringContaining('kubernetes-token'),
      });
      const prechecks = result.steps.filter((entry) => entry.name.startsWith('precheck:'));
      expect(prechecks.map((entry) => entry.name)).toEqual(
        actions.get(action)?.prechecks.map((check) => `precheck:${check.name}`),
      );
      for (const entry of prechecks) {
        expect({ name: entry.name, ok: ['ok', 'warned'].includes(entry.status) }).toEqual({
          name: entry.name,
          ok: true,
        });
        expect(entry.detail ?? '').not.toMatch(/403|forbidden/i);
      }
      expect(step('execute')).toMatchObject({ status: 'ok' });
      expect(step('revoke')).toMatchObject({ status: 'ok' });
      await changed();

      // The credential is gone: no object left, the token no longer works (403 at once, 401 later).
      expect(await leftovers()).toEqual([]);
      const after = await httpsKubernetesApi({
        server: cluster.url,
        ca: await readFile(cluster.caPath, 'utf8'),
        token,
      }).request('GET', `/api/v1/namespaces/${NS}`);
      expect([401, 403]).toContain(after.status);

      // The token never reaches the audit file or the result.
      expect(await readFile(auditPath, 'utf8')).not.toContain(token);
      expect(JSON.stringify(result)).not.toContain(token);
    },
    90_000,
  );

  it('the runner identity token is in no audit record either', async () => {
    expect(await readFile(auditPath, 'utf8')).not.toContain(runnerToken);
  });
});
