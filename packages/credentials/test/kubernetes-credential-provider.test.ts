import { readFile } from 'node:fs/promises';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { CredentialRequest } from '@agent-safe/core';
import {
  KubernetesCredentialProvider,
  type KubernetesCredentialApi,
  httpsKubernetesApi,
  renderScope,
} from '../src/index.js';
import { catalogueAction, rejected } from './helpers.js';
import { type K8sCluster, startK8sCluster } from '../../executor-k8s/test/k8s-cluster.js';

// Against a real kube-apiserver with RBAC on (never skipped: without the binaries this fails and says
// which command installs them).
let cluster: K8sCluster;
let admin: KubernetesCredentialApi;
let ca: string;

const as = (token: string): KubernetesCredentialApi => httpsKubernetesApi({ server: cluster.url, ca, token });

function deployment(namespace: string, name: string): unknown {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'c', image: 'nginx' }] },
      },
    },
  };
}

async function ok(response: Promise<{ status: number; body: unknown }>): Promise<void> {
  const { status, body } = await response;
  if (status < 200 || status > 299) throw new Error(`setup failed: HTTP ${status} ${JSON.stringify(body)}`);
}

beforeAll(async () => {
  cluster = await startK8sCluster();
  ca = await readFile(cluster.caPath, 'utf8');
  admin = as(cluster.adminToken);
  for (const name of ['agent-safe', 'shop', 'other']) {
    await ok(
      admin.request('POST', '/api/v1/namespaces', {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name },
      }),
    );
  }
  for (const [namespace, name] of [
    ['shop', 'web'],
    ['shop', 'api'],
    ['other', 'web'],
  ] as const) {
    await ok(
      admin.request('POST', `/apis/apps/v1/namespaces/${namespace}/deployments`, deployment(namespace, name)),
    );
  }
  await ok(
    admin.request('POST', '/api/v1/namespaces/shop/secrets', {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'db' },
      stringData: { password: 'x' },
    }),
  );
}, 180_000);

afterAll(async () => {
  await cluster?.stop();
});

function scaleRequest(requestId: string, namespace = 'shop'): CredentialRequest {
  const params = { namespace, deployment: 'web', replicas: 3 };
  const scope = renderScope(catalogueAction('scale-deployment'), params)!;
  return {
    action: 'scale-deployment@1.0.0',
    target: 'shop-web',
    params,
    scope,
    ttlSeconds: scope.ttl,
    requestId,
  };
}

describe('KubernetesCredentialProvider on a real API server', () => {
  it('mints a least-privilege token that dies on revoke', async () => {
    const provider = new KubernetesCredentialProvider({ api: admin, namespace: 'agent-safe' });
    const credential = await provider.issue(scaleRequest('evt-least-privilege-1'));
    const token = credential.material.token;
    expect(token.length).toBeGreaterThan(20);
    // Kubernetes' minimum: the catalogue's 300 s became at least 600 s (the server may round).
    expect(credential.expiresAt - credential.issuedAt).toBeGreaterThanOrEqual(590_000);
    expect(credential.notes[0]).toMatch(/ttl 300 s raised to 600 s/);

    const minted = as(token);
    // Allowed: read and scale the named deployment in its namespace.
    expect((await minted.request('GET', '/apis/apps/v1/namespaces/shop/deployments/web')).status).toBe(200);
    expect(
      await patchAs(token, '/apis/apps/v1/namespaces/shop/deployments/web/scale', { spec: { replicas: 3 } }),
    ).toBe(200);
    // resource_names: the same patch on ANOTHER deployment of the same namespace is refused, as is
    // reading it; so is the named deployment of another namespace.
    expect(
      await patchAs(token, '/apis/apps/v1/namespaces/shop/deployments/api/scale', { spec: { replicas: 3 } }),
    ).toBe(403);
    expect(
      await patchAs(token, '/apis/apps/v1/namespaces/shop/deployments/api', { spec: { replicas: 3 } }),
    ).toBe(403);
    expect((await minted.request('GET', '/apis/apps/v1/namespaces/shop/deployments/api')).status).toBe(403);
    expect((await minted.request('GET', '/apis/apps/v1/namespaces/shop/deployments')).status).toBe(403);
    expect(
      await patchAs(token, '/apis/apps/v1/namespaces/other/deployments/web/scale', { spec: { replicas: 3 } }),
    ).toBe(403);
    const after = await admin.request('GET', '/apis/apps/v1/namespaces/shop/deployments/web');
    expect((after.body as { spec: { replicas: number } }).spec.replicas).toBe(3);
    const untouched = await admin.request('GET', '/apis/apps/v1/namespaces/shop/deployments/api');
    expect((untouched.body as { spec: { replicas: number } }).spec.replicas).toBe(1);
    // Refused: another namespace, deleting another deployment, secrets, creating anything.
    expect((await minted.request('GET', '/apis/apps/v1/namespaces/other/deployments/web')).status).toBe(403);
    expect((await minted.request('DELETE', '/apis/apps/v1/namespaces/shop/deployments/api')).status).toBe(
      403,
    );
    expect((await minted.request('GET', '/api/v1/namespaces/shop/secrets/db')).status).toBe(403);
    expect((await minted.request('GET', '/api/v1/namespaces/shop/secrets')).status).toBe(403);
    expect(
      (await minted.request('POST', '/apis/apps/v1/namespaces/shop/deployments', deployment('shop', 'x')))
        .status,
    ).toBe(403);
    // The deployment survived the refused delete.
    expect((await admin.request('GET', '/apis/apps/v1/namespaces/shop/deployments/api')).status).toBe(200);

    // Never printed.
    for (const output of [
      JSON.stringify(credential),
      inspect(credential, { depth: 10, showHidden: true }),
      String(credential),
    ]) {
      expect(output).not.toContain(token);
    }

    const name = credential.id.split('/')[1]!;
    await provider.revoke(credential);
    // The rights go at once (the bindings are deleted first); the token stops authenticating once the
    // API server's token cache forgets it (the ServiceAccount is gone).
    expect((await minted.request('GET', '/apis/apps/v1/namespaces/shop/deployments/web')).status).toBe(403);
    expect(
      await patchAs(token, '/apis/apps/v1/namespaces/shop/deployments/web/scale', { spec: { replicas: 1 } }),
    ).toBe(403);
    await expectUnauthenticated(minted, '/apis/apps/v1/namespaces/shop/deployments/web');
    expect((await admin.request('GET', `/api/v1/namespaces/agent-safe/serviceaccounts/${name}`)).status).toBe(
      404,
    );
    expect(
      (await admin.request('GET', `/apis/rbac.authorization.k8s.io/v1/namespaces/shop/rolebindings/${name}`))
        .status,
    ).toBe(404);
    expect(
      (await admin.request('GET', `/apis/rbac.authorization.k8s.io/v1/namespaces/shop/roles/${name}`)).status,
    ).toBe(404);
    expect(() => credential.material).toThrow(/was revoked/);
    await provider.revoke(credential); // idempotent
  });

  it('gives cluster-scoped actions a ClusterRole limited to their verbs and resources', async () => {
    await ok(
      admin.request('POST', '/api/v1/nodes', {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name: 'node-1' },
      }),
    );
    await ok(
      admin.request('POST', '/api/v1/nodes', {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name: 'node-2' },
      }),
    );
    const provider = new KubernetesCredentialProvider({ api: admin, namespace: 'agent-safe' });
    const params = { node: 'node-1' };
    const scope = renderScope(catalogueAction('cordon-node'), params)!;
    const credential = await provider.issue({
      action: 'cordon-node@1.0.0',
      target: 'node-1',
      params,
      scope,
      ttlSeconds: scope.ttl,
      requestId: 'evt-cordon-1',
    });
    const minted = as(credential.material.token);
    expect((await minted.request('GET', '/api/v1/nodes/node-1')).status).toBe(200);
    expect((await minted.request('DELETE', '/api/v1/nodes/node-1')).status).toBe(403);
    expect((await minted.request('GET', '/api/v1/namespaces/shop/pods')).status).toBe(403);
    // resource_names: only the named node.
    expect(
      await patchAs(credential.material.token, '/api/v1/nodes/node-1', { spec: { unschedulable: true } }),
    ).toBe(200);
    expect(
      await patchAs(credential.material.token, '/api/v1/nodes/node-2', { spec: { unschedulable: true } }),
    ).toBe(403);
    expect((await minted.request('GET', '/api/v1/nodes/node-2')).status).toBe(403);
    expect((await minted.request('GET', '/api/v1/nodes')).status).toBe(403);
    await provider.revoke(credential);
    expect((await minted.request('GET', '/api/v1/nodes/node-1')).status).toBe(403);
    await expectUnauthenticated(minted, '/api/v1/nodes/node-1');
  });

  it('refuses a second credential for the same request and keeps the first working', async () => {
    const provider = new KubernetesCredentialProvider({ api: admin, namespace: 'agent-safe' });
    const first = await provider.issue(scaleRequest('evt-duplicate'));
    const error = await rejected(() => provider.issue(scaleRequest('evt-duplicate')));
    expect(error.code).toBe('INPUT_INVALID');
    expect(error.message).toMatch(/already exists/);
    expect(
      (await as(first.material.token).request('GET', '/apis/apps/v1/namespaces/shop/deployments/web')).status,
    ).toBe(200);
    await provider.revoke(first);
  });

  it('deletes what it created when a step fails half-way, and names the step', async () => {
    const provider = new KubernetesCredentialProvider({ api: admin, namespace: 'agent-safe' });
    // The Role cannot be created in a namespace that does not exist; the ServiceAccount was created first.
    const error = await rejected(() => provider.issue(scaleRequest('evt-half-way', 'missing-namespace')));
    expect(error.message).toMatch(
      /Creating Role missing-namespace\/agent-safe-evt-half-way-[0-9a-f]{12} .*failed \(HTTP 404/,
    );
    const accounts = await admin.request('GET', '/api/v1/namespaces/agent-safe/serviceaccounts');
    const names = (accounts.body as { items: { metadata: { name: string } }[] }).items.map(
      (item) => item.metadata.name,
    );
    expect(names.filter((name) => name.includes('half-way'))).toEqual([]);
  });

  it('fails with a clear error when its own identity lacks the rights (no token, nothing left behind)', async () => {
    const provider = new KubernetesCredentialProvider({
      api: as('not-a-valid-token'),
      namespace: 'agent-safe',
    });
    const error = await rejected(() => provider.issue(scaleRequest('evt-no-rights')));
    expect(error.message).toMatch(/Creating ServiceAccount agent-safe\/.* failed \(HTTP 401/);
    expect(error.message).toMatch(/needs rights to manage credential objects/);
  });
});

describe('resource_names and the verbs Kubernetes authorizes without a name (real API server)', () => {
  const issueFor = async (action: string, params: Record<string, unknown>, requestId: string) => {
    const provider = new KubernetesCredentialProvider({ api: admin, namespace: 'agent-safe' });
    const scope = renderScope(catalogueAction(action), params)!;
    const credential = await provider.issue({
      action: `${action}@1.0.0`,
      target: null,
      params,
      scope,
      ttlSeconds: scope.ttl,
      requestId,
    });
    return { provider, credential, token: credential.material.token };
  };
  const policy = (name: string) => ({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name, namespace: 'shop' },
    spec: { podSelector: {}, policyTypes: ['Ingress'] },
  });

  it('apply-network-policy: server-side apply creates and updates the named policy only', async () => {
    const { provider, credential, token } = await issueFor(
      'apply-network-policy',
      { namespace: 'shop', policy_name: 'deny-all' },
      'evt-netpol-1',
    );
    const path = '/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies';
    const apply = (name: string) =>
      patchAs(
        token,
        `${path}/${name}?fieldManager=agent-safe&force=true`,
        policy(name),
        'application/apply-patch+yaml',
      );
    // Server-side apply names the object it creates, so the named create rule covers it.
    expect(await apply('deny-all')).toBe(201);
    expect(await apply('deny-all')).toBe(200);
    expect(await apply('other')).toBe(403);
    // A POST to the collection names no object: refused, as the plan's note says.
    expect((await as(token).request('POST', path, policy('posted'))).status).toBe(403);
    expect(credential.notes.join('\n')).toMatch(/create on networkpolicies only where the request names/);
    await provider.revoke(credential);
    expect((await admin.request('GET', `${path}/other`)).status).toBe(404);
  });

  it('create-namespace: create is granted without names (unnamed_verbs), get only on the named namespace', async () => {
    const { provider, credential, token } = await issueFor(
      'create-namespace',
      { namespace: 'fresh' },
      'evt-create-ns-1',
    );
    const minted = as(token);
    const namespace = (name: string) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
    expect((await minted.request('POST', '/api/v1/namespaces', namespace('fresh'))).status).toBe(201);
    expect((await minted.request('GET', '/api/v1/namespaces/fresh')).status).toBe(200);
    expect((await minted.request('GET', '/api/v1/namespaces/shop')).status).toBe(403);
    expect((await minted.request('DELETE', '/api/v1/namespaces/fresh')).status).toBe(403);
    expect(credential.notes.join('\n')).toMatch(/create on namespaces granted without resource names/);
    await provider.revoke(credential);
  });

  it('rollout-undo: lists ReplicaSets (unnamed_verbs) but patches only the named deployment', async () => {
    const { provider, credential, token } = await issueFor(
      'rollout-undo',
      { namespace: 'shop', deployment: 'web' },
      'evt-undo-1',
    );
    const minted = as(token);
    expect((await minted.request('GET', '/apis/apps/v1/namespaces/shop/replicasets')).status).toBe(200);
    expect((await minted.request('GET', '/apis/apps/v1/namespaces/shop/deployments/web')).status).toBe(200);
    expect(
      await patchAs(token, '/apis/apps/v1/namespaces/shop/deployments/web', {
        metadata: { labels: { a: 'b' } },
      }),
    ).toBe(200);
    expect(
      await patchAs(token, '/apis/apps/v1/namespaces/shop/deployments/api', {
        metadata: { labels: { a: 'b' } },
      }),
    ).toBe(403);
    expect((await minted.request('GET', '/apis/apps/v1/namespaces/other/replicasets')).status).toBe(403);
    await provider.revoke(credential);
  });
});

/** A merge patch as the given token (the provider's interface has no PATCH: it never patches). */
async function patchAs(
  token: string,
  path: string,
  patch: unknown,
  contentType = 'application/merge-patch+json',
): Promise<number> {
  const { request } = await import('node:https');
  const body = JSON.stringify(patch);
  return await new Promise<number>((resolve, reject) => {
    const req = request(
      new URL(path, cluster.url),
      {
        method: 'PATCH',
        ca,
        headers: {
          Authorization: `Bearer ${token}`,
          'Content-Type': contentType,
          'Content-Length': Buffer.byteLength(body),
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('revoking after a restart', () => {
  it('a fresh provider finds a credential it did not issue by its label and revokes all of it', async () => {
    const first = new KubernetesCredentialProvider({ api: admin, namespace: 'agent-safe' });
    const credential = await first.issue(scaleRequest('evt-restart'));
    const name = credential.id.split('/')[1]!;
    const minted = as(credential.material.token);
    expect((await minted.request('GET', '/apis/apps/v1/namespaces/shop/deployments/web')).status).toBe(200);
    await new KubernetesCredentialProvider({ api: admin, namespace: 'agent-safe' }).revoke(credential);
    expect((await minted.request('GET', '/apis/apps/v1/namespaces/shop/deployments/web')).status).toBe(403);
    for (const path of [
      `/api/v1/namespaces/agent-safe/serviceaccounts/${name}`,
      `/apis/rbac.authorization.k8s.io/v1/namespaces/shop/rolebindings/${name}`,
      `/apis/rbac.authorization.k8s.io/v1/namespaces/shop/roles/${name}`,
    ]) {
      expect((await admin.request('GET', path)).status).toBe(404);
    }
    await expectUnauthenticated(minted, '/apis/apps/v1/namespaces/shop/deployments/web');
  });
});

/** The API server caches a token's authentication for about 10 s: within 20 s it must answer 401. */
async function expectUnauthenticated(api: KubernetesCredentialApi, path: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  let status = 0;
  while (Date.now() < deadline) {
    status = (await api.request('GET', path)).status;
    if (status === 401) return;
    expect(status).toBe(403);
    await new Promise((wait) => setTimeout(wait, 250));
  }
  expect(status).toBe(401);
}
