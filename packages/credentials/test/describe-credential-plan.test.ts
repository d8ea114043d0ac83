import { describe, expect, it } from '@jest/globals';
import type { ActionDefinition } from '@agent-safe/core';
import { EnvVault, describeCredentialPlan, testEnvVault } from '../src/index.js';
import { catalogueAction, thrown } from './helpers.js';

const OPTIONS = { namespace: 'agent-safe', requestId: 'evt_0001' };

describe('describeCredentialPlan', () => {
  it('describes scope, ttl and every object of a Kubernetes credential, JSON-able', () => {
    const description = describeCredentialPlan(
      catalogueAction('scale-deployment'),
      { namespace: 'shop', deployment: 'web', replicas: 3 },
      OPTIONS,
    );
    expect(JSON.parse(JSON.stringify(description))).toEqual(description);
    const name = description.objects[0]!.name;
    expect(name).toMatch(/^agent-safe-evt-0001-[0-9a-f]{12}$/);
    expect(description).toEqual({
      action: 'scale-deployment@1.0.0',
      type: 'kubernetes',
      scope: {
        type: 'kubernetes',
        fields: {
          verbs: ['get', 'patch'],
          resources: ['deployments', 'deployments/scale'],
          resource_names: ['web'],
          namespaces: ['shop'],
          api_groups: ['apps'],
        },
        ttl: 300,
      },
      ttl: { requestedSeconds: 300, grantedSeconds: 600 },
      objects: [
        { kind: 'ServiceAccount', name, namespace: 'agent-safe' },
        {
          kind: 'Role',
          name,
          namespace: 'shop',
          rules: [
            {
              apiGroups: ['apps'],
              resources: ['deployments', 'deployments/scale'],
              verbs: ['get', 'patch'],
              resourceNames: ['web'],
            },
          ],
        },
        {
          kind: 'RoleBinding',
          name,
          namespace: 'shop',
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
          subjects: [{ kind: 'ServiceAccount', name, namespace: 'agent-safe' }],
        },
        { kind: 'TokenRequest', name, namespace: 'agent-safe', expirationSeconds: 600 },
      ],
      deleteOrder: [`RoleBinding shop/${name}`, `ServiceAccount agent-safe/${name}`, `Role shop/${name}`],
      notes: [expect.stringMatching(/^ttl 300 s raised to 600 s/)],
    });
  });

  it('uses the name prefix, and describes a cluster-scoped credential with its notes', () => {
    const description = describeCredentialPlan(
      catalogueAction('create-namespace'),
      { namespace: 'fresh' },
      { ...OPTIONS, namePrefix: 'runner' },
    );
    expect(description.objects.map((object) => `${object.kind} ${object.name.split('-')[0]}`)).toEqual([
      'ServiceAccount runner',
      'ClusterRole runner',
      'ClusterRoleBinding runner',
      'TokenRequest runner',
    ]);
    expect(description.objects[1]!.rules).toEqual([
      { apiGroups: [''], resources: ['namespaces'], verbs: ['get'], resourceNames: ['fresh'] },
      { apiGroups: [''], resources: ['namespaces'], verbs: ['create'] },
    ]);
    expect(description.notes).toEqual([
      expect.stringMatching(/ttl 300 s raised/),
      expect.stringMatching(/^create on namespaces granted without resource names/),
    ]);
  });

  it('refuses bad params exactly as the runner would (PARAMS_INVALID, value not echoed)', () => {
    const error = thrown(() =>
      describeCredentialPlan(
        catalogueAction('scale-deployment'),
        { namespace: 'shop', deployment: '../x' },
        OPTIONS,
      ),
    );
    expect(error.code).toBe('PARAMS_INVALID');
    expect(error.message).toContain('credentials.fields.resource_names[0]');
    expect(error.message).not.toContain('../x');
    expect(
      thrown(() =>
        describeCredentialPlan(
          catalogueAction('scale-deployment'),
          { namespace: 'shop', deployment: 'web' },
          {
            namespace: 'Bad_NS',
            requestId: 'r',
          },
        ),
      ).message,
    ).toMatch(/credential namespace is not a DNS-1123 label/);
  });

  it('says when the action has no credentials block', () => {
    const action = { ...catalogueAction('cordon-node'), credentials: null } as ActionDefinition;
    expect(describeCredentialPlan(action, { node: 'n1' }, OPTIONS)).toEqual({
      action: 'cordon-node@1.0.0',
      type: null,
      scope: null,
      ttl: null,
      objects: [],
      deleteOrder: [],
      notes: [expect.stringMatching(/declares no credentials block/)],
    });
  });

  it('shows another type’s scope with its templates filled in, plans nothing and says so', () => {
    const action = {
      ...catalogueAction('scale-deployment'),
      credentials: {
        type: 'gcp',
        fields: { actions: ['ecs:UpdateService'], resources: ['{{ params.deployment }}'] },
        ttl: 900,
      },
    } as ActionDefinition;
    const description = describeCredentialPlan(action, { namespace: 'shop', deployment: 'web' }, OPTIONS);
    expect(description).toMatchObject({
      type: 'gcp',
      scope: { type: 'gcp', fields: { actions: ['ecs:UpdateService'], resources: ['web'] }, ttl: 900 },
      ttl: null,
      objects: [],
    });
    expect(description.notes[0]).toMatch(/type "gcp" has no renderer or provider here/);
  });

  it('masks values that come from sensitive params', () => {
    const base = catalogueAction('get-secret');
    const action = {
      ...base,
      parameters: base.parameters.map((parameter) =>
        parameter.name === 'secret' ? { ...parameter, sensitive: true } : parameter,
      ),
    } as ActionDefinition;
    const description = describeCredentialPlan(action, { namespace: 'shop', secret: 'payroll-db' }, OPTIONS);
    const text = JSON.stringify(description);
    expect(text).not.toContain('payroll-db');
    expect(description.scope?.fields.resource_names).toEqual(['[masked: sensitive param]']);
    expect(description.objects[1]!.rules).toEqual([
      expect.objectContaining({ resourceNames: ['[masked: sensitive param]'] }),
    ]);
  });
});

describe('testEnvVault', () => {
  const vault = new EnvVault({
    actions: {
      'scale-deployment': { token: 'DEV_K8S_TOKEN', server: 'DEV_K8S_SERVER' },
      'get-secret@1.0.0': { token: 'DEV_SECRET_TOKEN' },
    },
    env: { DEV_K8S_TOKEN: 'tok-value-1', DEV_K8S_SERVER: '', UNRELATED: 'x' },
  });

  it('lists which variables are set and which are missing, never a value', () => {
    const result = testEnvVault(vault);
    expect(result).toEqual({
      ok: false,
      checks: [
        { name: 'scale-deployment token', ok: true, detail: 'DEV_K8S_TOKEN is set' },
        { name: 'scale-deployment server', ok: false, detail: 'DEV_K8S_SERVER is not set or empty' },
        { name: 'get-secret@1.0.0 token', ok: false, detail: 'DEV_SECRET_TOKEN is not set or empty' },
      ],
      set: ['DEV_K8S_TOKEN'],
      missing: ['DEV_K8S_SERVER', 'DEV_SECRET_TOKEN'],
    });
    expect(JSON.stringify(result)).not.toContain('tok-value-1');
  });

  it('checks only the actions asked about; an action without an entry fails', () => {
    const result = testEnvVault(vault, ['scale-deployment', 'drain-node']);
    expect(result.ok).toBe(false);
    expect(result.checks.map((check) => `${check.name}: ${check.ok}`)).toEqual([
      'scale-deployment token: true',
      'scale-deployment server: false',
      'drain-node: false',
    ]);
    expect(result.checks[2]!.detail).toMatch(/no entry for drain-node/);
    const good = new EnvVault({ actions: { a: { token: 'A_TOKEN' } }, env: { A_TOKEN: 'v' } });
    expect(testEnvVault(good)).toEqual({
      ok: true,
      checks: [{ name: 'a token', ok: true, detail: 'A_TOKEN is set' }],
      set: ['A_TOKEN'],
      missing: [],
    });
  });

  it('refuses what is not an EnvVault or a list of names', () => {
    expect(() => testEnvVault({} as EnvVault)).toThrow(/needs an EnvVault/);
    expect(() => testEnvVault(vault, 'scale-deployment' as never)).toThrow(/list of action names/);
  });
});
