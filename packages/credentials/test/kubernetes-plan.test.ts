import { describe, expect, it } from '@jest/globals';
import {
  DNS1123_LABEL,
  KUBERNETES_MIN_TOKEN_TTL_SECONDS,
  credentialObjectName,
  kubernetesCredentialPlan,
  renderScope,
} from '../src/index.js';
import { catalogueAction, loadCatalogue, thrown } from './helpers.js';

const scale = renderScope(catalogueAction('scale-deployment'), { namespace: 'shop', deployment: 'web' })!;

describe('kubernetesCredentialPlan', () => {
  it('plans a ServiceAccount, a Role and RoleBinding in the scope namespace, and a TokenRequest', () => {
    const plan = kubernetesCredentialPlan(scale, {
      requestId: 'evt-3f2a0011',
      namespace: 'agent-safe-system',
      action: 'scale-deployment@1.0.0',
    });
    expect(plan.name).toMatch(/^agent-safe-evt-3f2a0011-[0-9a-f]{12}$/);
    expect(plan.serviceAccount).toMatchObject({
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: plan.name, namespace: 'agent-safe-system' },
    });
    expect(plan.serviceAccount.metadata.annotations).toEqual({
      'agent-safe.dev/request-id': 'evt-3f2a0011',
      'agent-safe.dev/action': 'scale-deployment@1.0.0',
    });
    expect(plan.clusterScoped).toBe(false);
    expect(plan.roles).toEqual([
      expect.objectContaining({
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: expect.objectContaining({ name: plan.name, namespace: 'shop' }),
        rules: [
          {
            apiGroups: ['apps'],
            resources: ['deployments', 'deployments/scale'],
            verbs: ['get', 'patch'],
            resourceNames: ['web'],
          },
        ],
      }),
    ]);
    expect(plan.roleBindings).toEqual([
      expect.objectContaining({
        kind: 'RoleBinding',
        metadata: expect.objectContaining({ namespace: 'shop' }),
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: plan.name },
        subjects: [{ kind: 'ServiceAccount', name: plan.name, namespace: 'agent-safe-system' }],
      }),
    ]);
    expect(plan.tokenRequest).toMatchObject({
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: { expirationSeconds: 600 },
    });
    expect(plan.deleteOrder).toEqual([
      `RoleBinding shop/${plan.name}`,
      `ServiceAccount agent-safe-system/${plan.name}`,
      `Role shop/${plan.name}`,
    ]);
  });

  it("clamps the seeds' 300 s to Kubernetes' minimum of 600 s and says so", () => {
    const plan = kubernetesCredentialPlan(scale, { requestId: 'r1', namespace: 'agent-safe' });
    expect(plan.requestedTtlSeconds).toBe(300);
    expect(plan.ttlSeconds).toBe(KUBERNETES_MIN_TOKEN_TTL_SECONDS);
    expect(plan.tokenRequest.spec.expirationSeconds).toBe(600);
    expect(plan.notes).toEqual([expect.stringMatching(/ttl 300 s raised to 600 s/)]);
    const long = kubernetesCredentialPlan(scale, {
      requestId: 'r1',
      namespace: 'agent-safe',
      ttlSeconds: 900,
    });
    expect(long.ttlSeconds).toBe(900);
    expect(long.notes).toEqual([]);
    const huge = kubernetesCredentialPlan(scale, {
      requestId: 'r1',
      namespace: 'agent-safe',
      ttlSeconds: 10 ** 7,
    });
    expect(huge.ttlSeconds).toBe(86_400);
  });

  it('plans every catalogue action; cluster-wide scopes get a ClusterRole and ClusterRoleBinding', () => {
    for (const action of loadCatalogue()) {
      const scope = renderScope(action, {
        namespace: 'shop',
        deployment: 'web',
        pod: 'web-1',
        node: 'node-1',
        configmap: 'settings',
        secret: 'db',
        hpa: 'web',
        policy_name: 'deny-all',
      })!;
      const plan = kubernetesCredentialPlan(scope, {
        requestId: `req-${action.name}`,
        namespace: 'agent-safe',
      });
      expect(plan.ttlSeconds).toBe(Math.max(600, action.credentials!.ttl));
      const namespaced = scope.fields.namespaces !== undefined;
      expect(plan.clusterScoped).toBe(!namespaced);
      expect(plan.roles.map((role) => role.kind)).toEqual([namespaced ? 'Role' : 'ClusterRole']);
      expect(plan.roleBindings.map((binding) => binding.kind)).toEqual([
        namespaced ? 'RoleBinding' : 'ClusterRoleBinding',
      ]);
    }
    const drain = renderScope(catalogueAction('drain-node'), { node: 'n1' })!;
    const plan = kubernetesCredentialPlan(drain, { requestId: 'd', namespace: 'agent-safe' });
    expect(plan.roles[0]).toMatchObject({
      kind: 'ClusterRole',
      rules: [{ verbs: ['get', 'list', 'patch', 'create'] }],
    });
    expect(plan.roles[0]!.metadata.namespace).toBeUndefined();
  });

  it('refuses a bad credential namespace, prefix or request id', () => {
    expect(
      thrown(() => kubernetesCredentialPlan(scale, { requestId: 'r', namespace: 'Agent_Safe' })).message,
    ).toMatch(/credential namespace is not a DNS-1123 label/);
    expect(
      thrown(() =>
        kubernetesCredentialPlan(scale, { requestId: 'r', namespace: 'a', namePrefix: 'x'.repeat(31) }),
      ).message,
    ).toMatch(/name prefix is longer than 30/);
    expect(
      thrown(() => kubernetesCredentialPlan(scale, { requestId: 'a\nb', namespace: 'a' })).message,
    ).toMatch(/request id must not contain control characters/);
    expect(thrown(() => kubernetesCredentialPlan(scale, { requestId: '', namespace: 'a' })).message).toMatch(
      /must not be empty/,
    );
  });
});

describe('credentialObjectName', () => {
  const hostileIds = [
    'evt-3f2a0011',
    'EVT_UPPER/../../etc',
    'prod; kubectl delete ns prod',
    'ticket.with.dots',
    'а-cyrillic-ид',
    '***',
    'x'.repeat(256),
    '-leading-and-trailing-',
  ];

  it.each(hostileIds)('%s becomes a DNS-1123 label of at most 63 characters, the same every time', (id) => {
    const name = credentialObjectName(id);
    expect(name.length).toBeLessThanOrEqual(63);
    expect(name).toMatch(DNS1123_LABEL);
    expect(name.startsWith('agent-safe-')).toBe(true);
    expect(credentialObjectName(id)).toBe(name);
  });

  it('keeps ids that differ only in case or punctuation apart', () => {
    const names = new Set(
      ['Run-1', 'run-1', 'run_1', 'run.1', 'run 1'].map((id) => credentialObjectName(id)),
    );
    expect(names.size).toBe(5);
    // Long ids sharing a 200-character prefix still differ.
    expect(credentialObjectName(`${'a'.repeat(200)}1`)).not.toBe(credentialObjectName(`${'a'.repeat(200)}2`));
  });

  it('uses the prefix and stays within 63 characters with the longest prefix', () => {
    const name = credentialObjectName('x'.repeat(100), 'p'.repeat(30));
    expect(name).toHaveLength(63);
    expect(name).toMatch(DNS1123_LABEL);
  });
});
