// Against a real kube-apiserver + etcd (RBAC on) started privately for this file: scripts/services.sh
// install k8s builds the binaries once per machine. Never skipped: a missing cluster fails the suite.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { KubeConfig } from '@kubernetes/client-node';
import { type KubernetesClientModule, kubeconfigFromOptions, loadKubernetesClient } from '../src/index.js';
import { type K8sCluster, startK8sCluster } from './k8s-cluster.js';

let cluster: K8sCluster;
let k8s: KubernetesClientModule;
let admin: KubeConfig;
const ns = 'executor-k8s-test';

beforeAll(async () => {
  cluster = await startK8sCluster();
  k8s = await loadKubernetesClient();
  admin = await kubeconfigFromOptions({ kubeconfig: cluster.kubeconfigPath });
}, 150_000);

afterAll(async () => {
  await cluster?.stop();
});

/** A client config that authenticates with `token` only (no admin fallback). */
function tokenConfig(token: string): KubeConfig {
  const config = new k8s.KubeConfig();
  config.loadFromOptions({
    clusters: [{ name: 'test', server: cluster.url, caFile: cluster.caPath }],
    users: [{ name: 'sa', token }],
    contexts: [{ name: 'sa', cluster: 'test', user: 'sa' }],
    currentContext: 'sa',
  });
  return config;
}

async function status(call: Promise<unknown>): Promise<number> {
  try {
    await call;
    return 200;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'number') return code;
    throw error;
  }
}

describe('a real API server', () => {
  it('creates a namespace and a Deployment, scales it with a merge patch, reads it back (API and kubectl)', async () => {
    const core = admin.makeApiClient(k8s.CoreV1Api);
    const apps = admin.makeApiClient(k8s.AppsV1Api);
    await core.createNamespace({ body: { metadata: { name: ns } } });
    const labels = { app: 'web' };
    await apps.createNamespacedDeployment({
      namespace: ns,
      body: {
        metadata: { name: 'web', labels },
        spec: {
          replicas: 1,
          selector: { matchLabels: labels },
          template: { metadata: { labels }, spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] } },
        },
      },
    });

    await apps.patchNamespacedDeploymentScale(
      { name: 'web', namespace: ns, body: { spec: { replicas: 3 } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );

    const read = await apps.readNamespacedDeployment({ name: 'web', namespace: ns });
    expect(read.spec?.replicas).toBe(3);
    expect(read.metadata?.generation).toBe(2);
    const scale = await apps.readNamespacedDeploymentScale({ name: 'web', namespace: ns });
    expect(scale.spec?.replicas).toBe(3);

    const kubectl = await cluster.kubectl([
      '-n',
      ns,
      'get',
      'deployment',
      'web',
      '-o',
      'jsonpath={.spec.replicas}',
    ]);
    expect(kubectl).toEqual({ code: 0, stdout: '3', stderr: '' });
  });

  it('enforces RBAC: a TokenRequest token gets 403 until a Role and RoleBinding grant get on deployments', async () => {
    const core = admin.makeApiClient(k8s.CoreV1Api);
    const rbac = admin.makeApiClient(k8s.RbacAuthorizationV1Api);
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'reader' } } });
    const minted = await core.createNamespacedServiceAccountToken({
      name: 'reader',
      namespace: ns,
      body: { spec: { audiences: [], expirationSeconds: 600 } },
    });
    const token = minted.status?.token;
    expect(typeof token).toBe('string');
    const apps = tokenConfig(token as string).makeApiClient(k8s.AppsV1Api);

    expect(await status(apps.readNamespacedDeployment({ name: 'web', namespace: ns }))).toBe(403);

    await rbac.createNamespacedRole({
      namespace: ns,
      body: {
        metadata: { name: 'deployment-reader' },
        rules: [{ apiGroups: ['apps'], resources: ['deployments'], verbs: ['get'] }],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: ns,
      body: {
        metadata: { name: 'deployment-reader' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'deployment-reader' },
        subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace: ns }],
      },
    });

    // The authorizer sees new bindings through an informer: allow it a moment.
    let allowed = 0;
    for (let i = 0; i < 50 && allowed !== 200; i += 1) {
      allowed = await status(apps.readNamespacedDeployment({ name: 'web', namespace: ns }));
      if (allowed !== 200) await new Promise((wait) => setTimeout(wait, 100));
    }
    expect(allowed).toBe(200);
    expect((await apps.readNamespacedDeployment({ name: 'web', namespace: ns })).spec?.replicas).toBe(3);

    // Only get, only deployments, only this namespace.
    expect(await status(apps.deleteNamespacedDeployment({ name: 'web', namespace: ns }))).toBe(403);
    expect(await status(apps.listNamespacedDeployment({ namespace: ns }))).toBe(403);
    expect(await status(apps.readNamespacedDeployment({ name: 'web', namespace: 'default' }))).toBe(403);
    const secrets = tokenConfig(token as string).makeApiClient(k8s.CoreV1Api);
    expect(await status(secrets.listNamespacedSecret({ namespace: ns }))).toBe(403);
  });

  it('rejects a token it did not issue with 401', async () => {
    const apps = tokenConfig('not-a-token').makeApiClient(k8s.AppsV1Api);
    expect(await status(apps.readNamespacedDeployment({ name: 'web', namespace: ns }))).toBe(401);
  });
});

describe('with kube-controller-manager', () => {
  it('turns a Deployment into a ReplicaSet and Pods (startK8sCluster({ controllerManager: true }))', async () => {
    const withControllers = await startK8sCluster({ controllerManager: true });
    try {
      const created = await withControllers.kubectl([
        'create',
        'deployment',
        'web',
        '--image=nginx:1.27',
        '--replicas=2',
      ]);
      expect(created.code).toBe(0);
      let pods = '';
      for (let i = 0; i < 100 && pods.split(' ').filter(Boolean).length !== 2; i += 1) {
        await new Promise((wait) => setTimeout(wait, 200));
        pods = (
          await withControllers.kubectl([
            'get',
            'pods',
            '-l',
            'app=web',
            '-o',
            'jsonpath={.items[*].metadata.name}',
          ])
        ).stdout;
      }
      expect(pods.split(' ').filter(Boolean)).toHaveLength(2);
      const rs = await withControllers.kubectl([
        'get',
        'rs',
        '-l',
        'app=web',
        '-o',
        'jsonpath={.items[0].spec.replicas}',
      ]);
      expect(rs.stdout).toBe('2');
    } finally {
      await withControllers.stop();
    }
  }, 150_000);
});
