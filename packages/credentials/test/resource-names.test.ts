import { describe, expect, it } from '@jest/globals';
import type { ActionDefinition } from '@agent-safe/core';
import { kubernetesCredentialPlan, renderScope } from '../src/index.js';
import { catalogueAction, thrown } from './helpers.js';

function withFields(fields: Record<string, unknown>): ActionDefinition {
  const base = catalogueAction('scale-deployment');
  return { ...base, credentials: { type: 'kubernetes', fields, ttl: 600 } };
}

const rulesOf = (fields: Record<string, unknown>, params: Record<string, unknown> = {}) =>
  kubernetesCredentialPlan(renderScope(withFields(fields), params)!, {
    requestId: 'r1',
    namespace: 'agent-safe',
  });

describe('resource_names narrows a credential to the named objects', () => {
  it('renders the param into resourceNames of every Role rule', () => {
    const plan = rulesOf(
      {
        verbs: ['get', 'patch'],
        resources: ['deployments', 'deployments/scale'],
        resource_names: ['{{ params.deployment }}'],
        namespaces: ['{{ params.namespace }}'],
        api_groups: ['apps'],
      },
      { namespace: 'shop', deployment: 'web.v2' },
    );
    expect(plan.roles[0]!.rules).toEqual([
      {
        apiGroups: ['apps'],
        resources: ['deployments', 'deployments/scale'],
        verbs: ['get', 'patch'],
        resourceNames: ['web.v2'],
      },
    ]);
    expect(plan.notes).toEqual([]);
  });

  it.each([
    ['a path', '../web'],
    ['a slash', 'web/scale'],
    ['uppercase', 'Web'],
    ['a wildcard', '*'],
    ['254 characters', `${'a'.repeat(250)}.abc`],
    ['a Cyrillic lookalike', 'wеb'],
    ['an empty string', ''],
  ])('refuses %s as a resource name, naming the field and the param', (_label, value) => {
    const error = thrown(() =>
      renderScope(catalogueAction('scale-deployment'), { namespace: 'shop', deployment: value }),
    );
    expect(error.code).toBe('PARAMS_INVALID');
    expect(error.message).toContain('credentials.fields.resource_names[0]');
    expect(error.message).toContain('param "deployment"');
    if (value.length > 1) expect(error.message).not.toContain(value);
  });

  it('keeps create, list, watch and deletecollection named unless listed under unnamed_verbs, and says so', () => {
    const plan = rulesOf(
      {
        verbs: ['get', 'create'],
        resources: ['pods', 'pods/exec'],
        resource_names: ['{{ params.deployment }}'],
        api_groups: [''],
        namespaces: ['shop'],
      },
      { deployment: 'web-1' },
    );
    // No rule lets the credential create pods through the collection: only pods/exec of the named pod.
    expect(plan.roles[0]!.rules).toEqual([
      {
        apiGroups: [''],
        resources: ['pods', 'pods/exec'],
        verbs: ['get', 'create'],
        resourceNames: ['web-1'],
      },
    ]);
    expect(plan.notes).toEqual([expect.stringMatching(/^create on pods only where the request names/)]);
  });

  it('grants verbs listed under unnamed_verbs without names, on the top-level resources only', () => {
    const plan = rulesOf(
      {
        verbs: ['get', 'list', 'patch'],
        resources: ['deployments', 'replicasets'],
        resource_names: ['web'],
        unnamed_verbs: ['list'],
        api_groups: ['apps'],
        namespaces: ['shop'],
      },
      {},
    );
    expect(plan.roles[0]!.rules).toEqual([
      {
        apiGroups: ['apps'],
        resources: ['deployments', 'replicasets'],
        verbs: ['get', 'patch'],
        resourceNames: ['web'],
      },
      { apiGroups: ['apps'], resources: ['deployments', 'replicasets'], verbs: ['list'] },
    ]);
    expect(plan.notes).toEqual([
      expect.stringMatching(/^list on deployments, replicasets granted without resource names/),
    ]);
    // With a subresource, the unnamed verb stays in the named rule for it.
    const evict = rulesOf({
      verbs: ['get', 'create'],
      resources: ['pods', 'pods/eviction'],
      resource_names: ['web-1'],
      unnamed_verbs: ['create'],
      api_groups: [''],
    });
    expect(evict.clusterScoped).toBe(true);
    expect(evict.roles[0]!.rules).toEqual([
      {
        apiGroups: [''],
        resources: ['pods', 'pods/eviction'],
        verbs: ['get', 'create'],
        resourceNames: ['web-1'],
      },
      { apiGroups: [''], resources: ['pods'], verbs: ['create'] },
    ]);
  });

  it.each([
    [
      'unnamed_verbs without resource_names',
      { verbs: ['get', 'list'], resources: ['pods'], unnamed_verbs: ['list'], api_groups: [''] },
      /only applies together with resource_names/,
    ],
    [
      'an unnamed verb not under verbs',
      {
        verbs: ['get'],
        resources: ['pods'],
        resource_names: ['a'],
        unnamed_verbs: ['list'],
        api_groups: [''],
      },
      /lists "list", which is not under verbs/,
    ],
    [
      'a verb that names its object',
      {
        verbs: ['get', 'delete'],
        resources: ['pods'],
        resource_names: ['a'],
        unnamed_verbs: ['delete'],
        api_groups: [''],
      },
      /not a verb Kubernetes authorizes without an object name/,
    ],
    [
      'only subresources',
      {
        verbs: ['create'],
        resources: ['pods/exec'],
        resource_names: ['a'],
        unnamed_verbs: ['create'],
        api_groups: [''],
      },
      /every resource listed is a subresource/,
    ],
  ])('refuses %s as CONFIG_INVALID', (_label, fields, reason) => {
    const error = thrown(() => renderScope(withFields(fields), {}));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.issues?.map((issue) => `${issue.path}: ${issue.message}`).join('\n')).toMatch(reason);
    expect(error.issues?.[0]?.path).toMatch(/^credentials\.fields\.unnamed_verbs/);
  });

  it('refuses an inconsistent scope built by hand (not through renderScope)', () => {
    const scope = {
      type: 'kubernetes',
      ttl: 600,
      fields: {
        verbs: ['get'],
        resources: ['pods'],
        api_groups: [''],
        unnamed_verbs: ['list'],
        resource_names: ['a'],
      },
    };
    expect(thrown(() => kubernetesCredentialPlan(scope, { requestId: 'r', namespace: 'a' })).message).toMatch(
      /unnamed_verbs must list only verbs under verbs/,
    );
  });
});
