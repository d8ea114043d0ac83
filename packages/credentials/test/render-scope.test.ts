import { describe, expect, it } from '@jest/globals';
import type { ActionDefinition, CredentialScope } from '@agent-safe/core';
import { renderScope } from '../src/index.js';
import { catalogueAction, loadCatalogue, thrown } from './helpers.js';

const params = {
  namespace: 'shop',
  deployment: 'web',
  node: 'node-1',
  pod: 'web-1',
  replicas: 3,
  configmap: 'settings',
  secret: 'db',
  hpa: 'web',
  policy_name: 'deny-all',
};
/** The param each catalogue action's resource_names template names (drain-node has none). */
const NAMED_BY: Record<string, string> = {
  'apply-network-policy': 'deny-all',
  'get-configmap': 'settings',
  'update-configmap': 'settings',
  'get-secret': 'db',
  'scale-hpa': 'web',
  'update-hpa-limits': 'web',
  'cordon-node': 'node-1',
  'uncordon-node': 'node-1',
  'create-namespace': 'shop',
  'delete-namespace': 'shop',
  'delete-pod': 'web-1',
  'exec-pod': 'web-1',
  'get-pod-logs': 'web-1',
  'port-forward': 'web-1',
};

function withScope(fields: Record<string, unknown>, extra: Partial<CredentialScope> = {}): ActionDefinition {
  const base = catalogueAction('scale-deployment');
  return { ...base, credentials: { type: 'kubernetes', fields, ttl: 300, ...extra } };
}

describe('renderScope on the catalogue', () => {
  const catalogue = loadCatalogue();

  it('covers all twenty Kubernetes actions, each with a credentials block', () => {
    expect(catalogue).toHaveLength(20);
    for (const action of catalogue) expect(action.credentials?.type).toBe('kubernetes');
  });

  it.each(catalogue.map((action) => [action.name, action] as const))(
    '%s renders with every template replaced by its param and every value valid',
    (_name, action) => {
      const scope = renderScope(action, params)!;
      const raw = action.credentials!.fields as Record<string, string[]>;
      expect(scope.type).toBe('kubernetes');
      expect(scope.ttl).toBe(action.credentials!.ttl);
      expect(scope.fields.verbs).toEqual(raw.verbs);
      expect(scope.fields.resources).toEqual(raw.resources);
      expect(scope.fields.api_groups).toEqual(raw.api_groups);
      if (raw.namespaces === undefined) expect(scope.fields.namespaces).toBeUndefined();
      else expect(scope.fields.namespaces).toEqual(['shop']);
      // Every action acting on an object named by a param is narrowed to that object (drain-node acts
      // on pods it discovers, so its scope names none).
      if (action.name === 'drain-node') expect(scope.fields.resource_names).toBeUndefined();
      else expect(scope.fields.resource_names).toEqual([NAMED_BY[action.name] ?? 'web']);
      expect(JSON.stringify(scope)).not.toContain('{{');
    },
  );

  it('renders the namespace param into scale-deployment exactly', () => {
    expect(
      renderScope(catalogueAction('scale-deployment'), { namespace: 'team-a', deployment: 'api' }),
    ).toEqual({
      type: 'kubernetes',
      fields: {
        verbs: ['get', 'patch'],
        resources: ['deployments', 'deployments/scale'],
        resource_names: ['api'],
        api_groups: ['apps'],
        namespaces: ['team-a'],
      },
      ttl: 300,
    });
  });

  it('returns null for an action without credentials', () => {
    expect(renderScope({ ...catalogueAction('cordon-node'), credentials: null }, {})).toBeNull();
  });
});

describe('hostile param values are refused with errors naming the action, field and param', () => {
  const action = catalogueAction('delete-pod');
  const hostile: [string, unknown][] = [
    ['shell metacharacters', 'prod; kubectl delete ns prod'],
    ['path traversal', '../x'],
    ['a wildcard', '*'],
    ['uppercase', 'Prod'],
    ['64 characters', 'a'.repeat(64)],
    ['a Cyrillic lookalike', 'prоd'],
    ['a fullwidth lookalike', 'ｐrod'],
    ['an empty string', ''],
    ['a leading dash', '-prod'],
    ['a dot (a subdomain, not a label)', 'prod.x'],
    ['a newline', 'prod\nkube-system'],
    ['a template', '{{ params.other }}'],
  ];

  it.each(hostile)('%s', (_label, value) => {
    const error = thrown(() => renderScope(action, { namespace: value, pod: 'p' }));
    expect(error.issues?.map((issue) => issue.path)).toEqual(['credentials.fields.namespaces[0]']);
    expect(error.code).toBe('PARAMS_INVALID');
    expect(error.message).toContain('delete-pod@');
    expect(error.message).toContain('credentials.fields.namespaces[0]');
    expect(error.message).toContain('param "namespace"');
    // The hostile value itself is never echoed.
    if (typeof value === 'string' && value.length > 1) expect(error.message).not.toContain(value);
  });

  it('accepts 63 characters, the longest DNS-1123 label', () => {
    expect(renderScope(action, { namespace: 'a'.repeat(63), pod: 'p' })!.fields.namespaces).toEqual([
      'a'.repeat(63),
    ]);
  });

  it('refuses a missing param and a non-string param, naming them', () => {
    const missing = thrown(() => renderScope(action, { pod: 'p' }));
    expect(missing.code).toBe('PARAMS_INVALID');
    expect(missing.message).toMatch(/param "namespace" is missing/);
    const number = thrown(() => renderScope(action, { namespace: 7 }));
    expect(number.message).toMatch(/param "namespace" must be a string.*got number/);
    const array = thrown(() => renderScope(action, { namespace: ['a', 'b'] }));
    expect(array.message).toMatch(/got an array/);
  });
});

describe('defects of the credentials block are refused as CONFIG_INVALID', () => {
  it('a template spliced into other text', () => {
    const error = thrown(() =>
      renderScope(
        withScope({
          verbs: ['get'],
          resources: ['pods'],
          api_groups: [''],
          namespaces: ['prod-{{ params.namespace }}'],
        }),
        params,
      ),
    );
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.issues![0]).toMatchObject({ path: 'credentials.fields.namespaces[0]' });
    expect(error.issues![0]!.message).toMatch(/must be the whole value/);
  });

  it('a template naming a param the action does not declare', () => {
    const error = thrown(() =>
      renderScope(
        withScope({
          verbs: ['get'],
          resources: ['pods'],
          api_groups: [''],
          namespaces: ['{{ params.cluster }}'],
        }),
        params,
      ),
    );
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.issues![0]!.message).toMatch(/param "cluster", which the action does not declare/);
  });

  it('unknown fields, missing required fields, scalars and unknown types', () => {
    const error = thrown(() =>
      renderScope(withScope({ verbs: 'get', resources: ['pods'], groups: ['x'] }), params),
    );
    expect(error.code).toBe('CONFIG_INVALID');
    const paths = error.issues!.map((issue) => issue.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'credentials.fields.groups',
        'credentials.fields.verbs',
        'credentials.fields.api_groups',
      ]),
    );
    const aws = thrown(() => renderScope(withScope({}, { type: 'gcp' }), params));
    expect(aws.message).toMatch(/type "gcp" has no scope renderer; supported: kubernetes, aws/);
  });

  it('literal values with the wrong syntax, naming the field', () => {
    const error = thrown(() =>
      renderScope(
        withScope({
          verbs: ['get', 'escalate', 'GET'],
          resources: ['Pods', 'pods/../secrets'],
          api_groups: ['apps_v1'],
        }),
        params,
      ),
    );
    const byPath = Object.fromEntries(error.issues!.map((issue) => [issue.path, issue.message]));
    expect(byPath['credentials.fields.verbs[1]']).toMatch(/privilege-escalating/);
    expect(byPath['credentials.fields.verbs[2]']).toMatch(/not a Kubernetes verb/);
    expect(byPath['credentials.fields.resources[0]']).toMatch(/not a Kubernetes resource/);
    expect(byPath['credentials.fields.resources[1]']).toMatch(/not a Kubernetes resource/);
    expect(byPath['credentials.fields.api_groups[0]']).toMatch(/DNS-1123 subdomain/);
  });

  it('a literal wildcard unless the block opts in for that field', () => {
    const fields = { verbs: ['*'], resources: ['pods'], api_groups: [''] };
    const error = thrown(() => renderScope(withScope(fields), params));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.issues![0]!.message).toMatch(/wildcard "\*".*allow_wildcards/);
    const allowed = renderScope(withScope({ ...fields, allow_wildcards: ['verbs'] }), params)!;
    expect(allowed.fields.verbs).toEqual(['*']);
    expect(allowed.fields.allow_wildcards).toBeUndefined();
    // Opting in for verbs does not open resources.
    expect(() =>
      renderScope(withScope({ ...fields, resources: ['*'], allow_wildcards: ['verbs'] }), params),
    ).toThrow(/credentials block cannot be used/);
  });

  it('never lets a param supply a wildcard, even where the file opts in', () => {
    const error = thrown(() =>
      renderScope(
        withScope({
          verbs: ['get'],
          resources: ['pods'],
          api_groups: [''],
          namespaces: ['{{ params.namespace }}'],
          allow_wildcards: ['namespaces'],
        }),
        { ...params, namespace: '*' },
      ),
    );
    expect(error.code).toBe('PARAMS_INVALID');
    expect(error.message).toMatch(/param "namespace" is the wildcard "\*", which a param may never supply/);
  });
});
