import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  type KubernetesCredentialApi,
  KubernetesCredentialProvider,
  httpsKubernetesApi,
  renderScope,
  testKubernetesProvider,
} from '../src/index.js';
import { type K8sCluster, startK8sCluster } from '../../executor-k8s/test/k8s-cluster.js';
import { catalogueAction, rejected } from './helpers.js';

// SelfSubjectAccessReviews on a real kube-apiserver with RBAC on: an admin, an identity with no rights,
// and a runner identity granted exactly what the provider needs in one target namespace.
let cluster: K8sCluster;
let ca: string;
let admin: KubernetesCredentialApi;
let nobodyToken: string;
let runnerToken: string;

const as = (token: string): KubernetesCredentialApi => httpsKubernetesApi({ server: cluster.url, ca, token });

async function ok(response: Promise<{ status: number; body: unknown }>): Promise<unknown> {
  const { status, body } = await response;
  if (status < 200 || status > 299) throw new Error(`setup failed: HTTP ${status} ${JSON.stringify(body)}`);
  return body;
}

async function serviceAccountToken(name: string): Promise<string> {
  await ok(
    admin.request('POST', '/api/v1/namespaces/agent-safe/serviceaccounts', {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name },
    }),
  );
  const body = (await ok(
    admin.request('POST', `/api/v1/namespaces/agent-safe/serviceaccounts/${name}/token`, {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: { expirationSeconds: 3600 },
    }),
  )) as { status: { token: string } };
  return body.status.token;
}

async function grant(namespace: string, name: string, rules: unknown[], subject: string): Promise<void> {
  const rbac = `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}`;
  await ok(admin.request('POST', `${rbac}/roles`, { metadata: { name }, rules }));
  await ok(
    admin.request('POST', `${rbac}/rolebindings`, {
      metadata: { name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
      subjects: [{ kind: 'ServiceAccount', name: subject, namespace: 'agent-safe' }],
    }),
  );
}

beforeAll(async () => {
  cluster = await startK8sCluster();
  ca = await readFile(cluster.caPath, 'utf8');
  admin = as(cluster.adminToken);
  for (const name of ['agent-safe', 'shop']) {
    await ok(
      admin.request('POST', '/api/v1/namespaces', {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name },
      }),
    );
  }
  await ok(
    admin.request('POST', '/apis/apps/v1/namespaces/shop/deployments', {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web' },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { containers: [{ name: 'c', image: 'nginx' }] },
        },
      },
    }),
  );
  nobodyToken = await serviceAccountToken('nobody');
  runnerToken = await serviceAccountToken('runner');
  // The runner's own rights: ServiceAccounts and tokens in agent-safe; Roles and RoleBindings in shop,
  // plus the rights it grants there (RBAC lets it grant only what it holds).
  await grant(
    'agent-safe',
    'runner',
    [
      { apiGroups: [''], resources: ['serviceaccounts'], verbs: ['create', 'delete'] },
      { apiGroups: [''], resources: ['serviceaccounts/token'], verbs: ['create'] },
    ],
    'runner',
  );
  await grant(
    'shop',
    'runner',
    [
      {
        apiGroups: ['rbac.authorization.k8s.io'],
        resources: ['roles', 'rolebindings'],
        verbs: ['create', 'delete'],
      },
      { apiGroups: ['apps'], resources: ['deployments', 'deployments/scale'], verbs: ['get', 'patch'] },
    ],
    'runner',
  );
}, 180_000);

afterAll(async () => {
  await cluster?.stop();
});

const names = (result: { checks: readonly { name: string; ok: boolean }[] }, wanted: boolean) =>
  result.checks.filter((check) => check.ok === wanted).map((check) => check.name);

describe('testKubernetesProvider (real API server)', () => {
  it('an admin may do everything the provider needs', async () => {
    const result = await testKubernetesProvider(admin, 'agent-safe');
    expect(result.ok).toBe(true);
    expect(names(result, false)).toEqual([]);
    expect(result.checks.map((check) => `${check.name} ${check.required ? 'required' : 'optional'}`)).toEqual(
      [
        'namespace agent-safe exists required',
        'create serviceaccounts in agent-safe required',
        'delete serviceaccounts in agent-safe required',
        'create serviceaccounts/token in agent-safe required',
        'create roles in every namespace required',
        'delete roles in every namespace required',
        'create rolebindings in every namespace required',
        'delete rolebindings in every namespace required',
        'create clusterroles cluster-wide optional',
        'delete clusterroles cluster-wide optional',
        'create clusterrolebindings cluster-wide optional',
        'delete clusterrolebindings cluster-wide optional',
        'list roles in every namespace optional',
        'list rolebindings in every namespace optional',
      ],
    );
  });

  it('an identity without rights fails every check and is told why', async () => {
    const result = await testKubernetesProvider(as(nobodyToken), 'agent-safe');
    expect(result.ok).toBe(false);
    expect(names(result, true)).toEqual([]);
    expect(result.checks[0]!.detail).toMatch(/could not be read \(HTTP 403.*nor probed \(HTTP 403/);
    const token = result.checks.find((check) => check.name === 'create serviceaccounts/token in agent-safe')!;
    expect(token.detail).toBe('not allowed: tokens are minted with the TokenRequest API');
    const cluster = result.checks.find((check) => check.name === 'create clusterroles cluster-wide')!;
    expect(cluster).toMatchObject({ ok: false, required: false });
    expect(cluster.detail).toMatch(/needed only for actions whose scope names no namespace \(cordon-node/);
    expect(JSON.stringify(result)).not.toContain(nobodyToken);
  });

  it('readRules: the read rights of the prechecks are required, checked in every namespace', async () => {
    const readRules = [
      { apiGroups: [''], resources: ['pods', 'nodes'], verbs: ['get', 'list'] },
      { apiGroups: ['apps'], resources: ['deployments'], verbs: ['get'] },
    ];
    const asAdmin = await testKubernetesProvider(admin, 'agent-safe', { readRules });
    expect(asAdmin.ok).toBe(true);
    expect(asAdmin.checks.slice(-5).map((check) => [check.name, check.ok, check.required])).toEqual([
      ['get pods in every namespace', true, true],
      ['list pods in every namespace', true, true],
      ['get nodes in every namespace', true, true],
      ['list nodes in every namespace', true, true],
      ['get deployments in every namespace', true, true],
    ]);
    // The runner identity below holds the provider's rights in shop but no cluster-wide reads.
    const runner = await testKubernetesProvider(as(runnerToken), 'agent-safe', {
      targetNamespaces: ['shop'],
      readRules,
    });
    expect(runner.ok).toBe(false);
    expect(runner.checks.find((check) => check.name === 'list pods in every namespace')).toEqual({
      name: 'list pods in every namespace',
      ok: false,
      required: true,
      detail:
        "not allowed: the Kubernetes executor's prechecks read it with the runner's own identity (PRECHECK_READ_RULES)",
    });
  });

  it('readRules must be read-only and bounded', async () => {
    for (const readRules of [
      [{ apiGroups: [''], resources: ['pods'], verbs: ['delete'] }],
      [{ apiGroups: [''], resources: ['pods; rm'], verbs: ['get'] }],
      Array.from({ length: 65 }, () => ({ apiGroups: [''], resources: ['pods'], verbs: ['get'] })),
      'pods',
    ]) {
      await expect(
        testKubernetesProvider(admin, 'agent-safe', { readRules: readRules as never }),
      ).rejects.toMatchObject({ code: 'USAGE' });
    }
  });

  it('a token the server does not accept: every review fails with its HTTP status', async () => {
    const result = await testKubernetesProvider(as('not-a-token'), 'agent-safe');
    expect(result.ok).toBe(false);
    expect(
      result.checks.slice(1).every((check) => /^the access review failed \(HTTP 401/.test(check.detail)),
    ).toBe(true);
  });

  it('a runner granted exactly what the provider needs in its target namespace passes, and really issues', async () => {
    const runner = as(runnerToken);
    const scoped = await testKubernetesProvider(runner, 'agent-safe', { targetNamespaces: ['shop'] });
    expect(names(scoped, false)).toEqual([
      'create clusterroles cluster-wide',
      'delete clusterroles cluster-wide',
      'create clusterrolebindings cluster-wide',
      'delete clusterrolebindings cluster-wide',
      'list roles in every namespace',
      'list rolebindings in every namespace',
    ]);
    // Only optional rights are missing; it may not read namespaces, so a dry-run create found its own.
    expect(scoped.ok).toBe(true);
    expect(scoped.checks[0]).toMatchObject({
      ok: true,
      detail: 'found (by a dry-run ServiceAccount create)',
    });
    expect(scoped.checks.find((check) => check.name === 'create roles in shop')).toMatchObject({ ok: true });
    // Checked in every namespace instead, the Role rights are missing.
    const everywhere = await testKubernetesProvider(runner, 'agent-safe');
    expect(everywhere.checks.find((check) => check.name === 'create roles in every namespace')).toMatchObject(
      {
        ok: false,
        detail: expect.stringMatching(/Role and RoleBinding in the namespaces its action acts in/),
      },
    );
    // What the checks said holds: this identity issues and revokes a scale credential in shop.
    const provider = new KubernetesCredentialProvider({ api: runner, namespace: 'agent-safe' });
    const params = { namespace: 'shop', deployment: 'web', replicas: 2 };
    const scope = renderScope(catalogueAction('scale-deployment'), params)!;
    const credential = await provider.issue({
      action: 'scale-deployment@1.0.0',
      target: null,
      params,
      scope,
      ttlSeconds: scope.ttl,
      requestId: 'evt-runner-identity',
    });
    const minted = as(credential.material.token);
    expect((await minted.request('GET', '/apis/apps/v1/namespaces/shop/deployments/web')).status).toBe(200);
    await provider.revoke(credential);
    expect((await minted.request('GET', '/apis/apps/v1/namespaces/shop/deployments/web')).status).toBe(403);
  });

  it('reports a namespace that does not exist', async () => {
    const result = await testKubernetesProvider(admin, 'nowhere');
    expect(result.ok).toBe(false);
    expect(result.checks[0]).toEqual({
      name: 'namespace nowhere exists',
      ok: false,
      required: true,
      detail: expect.stringMatching(/^not found: create it \(kubectl create namespace nowhere\)/),
    });
    // An identity with no rights there can tell nothing, and says so (authorization comes first).
    const runner = await testKubernetesProvider(as(runnerToken), 'nowhere');
    expect(runner.ok).toBe(false);
    expect(runner.checks[0]!.detail).toMatch(/could not be read \(HTTP 403.*nor probed \(HTTP 403/);
    // The dry runs stored nothing.
    const accounts = await admin.request('GET', '/api/v1/namespaces/agent-safe/serviceaccounts');
    const found = (accounts.body as { items: { metadata: { name: string } }[] }).items.map(
      (item) => item.metadata.name,
    );
    expect(found.filter((name) => name.startsWith('agent-safe-probe-'))).toEqual([]);
  });

  it('refuses bad arguments before asking the server', async () => {
    expect((await rejected(() => testKubernetesProvider(admin, 'Bad_NS'))).message).toMatch(
      /credential namespace is not a DNS-1123 label/,
    );
    expect(
      (await rejected(() => testKubernetesProvider(admin, 'agent-safe', { targetNamespaces: ['../x'] })))
        .message,
    ).toMatch(/target namespace is not a DNS-1123 label/);
    expect(
      (await rejected(() => testKubernetesProvider({} as KubernetesCredentialApi, 'a'))).message,
    ).toMatch(/needs a KubernetesCredentialApi/);
  });
});
