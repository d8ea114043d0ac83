import { describe, expect, it } from '@jest/globals';
import { ActionRegistry, Inventory } from '@agent-safe/registry';
import { PolicyDecisionPoint, parsePolicyDocument } from '../src/index.js';
import { caller } from './callers.js';

const NOW = Date.UTC(2024, 0, 1, 10);

const actions = ActionRegistry.fromDefinitions([
  {
    name: 'delete-namespace',
    version: '1.0.0',
    description: 'Deletes a namespace',
    risk_class: 'high',
    target_types: ['k8s-namespace'],
    parameters: [{ name: 'namespace', type: 'string', required: true }],
    target_binding: { namespace: 'name' },
  },
  {
    name: 'restart-deployment',
    version: '1.0.0',
    description: 'Rolling restart',
    risk_class: 'medium',
    target_types: ['k8s-deployment'],
    parameters: [
      { name: 'namespace', type: 'string', required: true },
      { name: 'deployment', type: 'string', required: true },
    ],
    target_binding: { namespace: 'namespace', deployment: 'name' },
  },
  {
    name: 'read-secret',
    version: '1.0.0',
    description: 'Reads a secret whose name is itself sensitive',
    risk_class: 'low',
    target_types: ['k8s-secret'],
    parameters: [{ name: 'secret', type: 'string', required: true, sensitive: true }],
    target_binding: { secret: 'name' },
  },
  {
    name: 'list-nodes',
    version: '1.0.0',
    description: 'Lists nodes; names no object',
    risk_class: 'low',
    target_types: ['k8s-cluster'],
    parameters: [],
    target_binding: {},
  },
  {
    name: 'legacy-restart',
    version: '1.0.0',
    description: 'Written before target binding',
    risk_class: 'medium',
    target_types: ['k8s-deployment'],
    parameters: [
      { name: 'namespace', type: 'string', required: true },
      { name: 'deployment', type: 'string', required: true },
    ],
  },
]);

const targets = Inventory.fromTargets([
  {
    id: 'dev/sandbox-ns',
    type: 'k8s-namespace',
    environment: 'dev',
    sensitivity: 'public',
    identifiers: { cluster: 'dev-east', name: 'sandbox-ns' },
  },
  {
    id: 'prod/payments-ns',
    type: 'k8s-namespace',
    environment: 'prod',
    sensitivity: 'critical',
    identifiers: { cluster: 'prod-east', name: 'payments' },
  },
  {
    id: 'dev/app',
    type: 'k8s-deployment',
    environment: 'dev',
    sensitivity: 'public',
    identifiers: { namespace: 'dev', name: 'app' },
  },
  { id: 'dev/unnamed', type: 'k8s-deployment', environment: 'dev', sensitivity: 'public' },
  {
    id: 'dev/half-named',
    type: 'k8s-deployment',
    environment: 'dev',
    sensitivity: 'public',
    identifiers: { name: 'half' },
  },
  {
    id: 'dev/secret',
    type: 'k8s-secret',
    environment: 'dev',
    sensitivity: 'public',
    identifiers: { name: 'db-password' },
  },
  { id: 'dev/cluster', type: 'k8s-cluster', environment: 'dev', sensitivity: 'public', identifiers: {} },
  { id: 'dev/old-cluster', type: 'k8s-cluster', environment: 'dev', sensitivity: 'public' },
]);

const parsed = parsePolicyDocument(
  {
    rules: [
      {
        name: 'deny-prod-ns',
        priority: 100,
        match: { actions: ['delete-namespace'], targets: { environments: ['prod'] } },
        decision: 'deny',
      },
      { name: 'allow-dev', priority: 10, match: { targets: { environments: ['dev'] } }, decision: 'allow' },
    ],
  },
  'inline.yaml',
);

function pdpOf(enforceTargetBinding?: boolean): PolicyDecisionPoint {
  return new PolicyDecisionPoint({
    actions,
    targets,
    policies: parsed.rules,
    ...(enforceTargetBinding === undefined ? {} : { enforceTargetBinding }),
  });
}

function check(pdp: PolicyDecisionPoint, action: string, target: string, params: unknown) {
  return pdp.evaluate({ action, target, params, caller: caller(), now: NOW });
}

describe('target binding', () => {
  const pdp = pdpOf();

  it("denies the issue's attack: a dev namespace target with params naming a production namespace", () => {
    const evaluation = check(pdp, 'delete-namespace', 'dev/sandbox-ns', { namespace: 'payments' });
    expect(evaluation.result).toBe('DENY');
    expect(evaluation.matchedRule).toBeNull();
    expect(evaluation.errors).toEqual([
      { code: 'TARGET_MISMATCH', path: 'target', message: evaluation.reason },
    ]);
    expect(evaluation.reason).toBe(
      'target binding: params.namespace is "payments" but target "dev/sandbox-ns" has name "sandbox-ns"; the params must name the object the request is decided on',
    );
    expect(evaluation.params).toEqual({});
    expect(evaluation.explanation.summary.join('\n')).toMatch(/target binding/);
  });

  it('allows params that name the target, and the explanation says the binding held', () => {
    const evaluation = check(pdp, 'delete-namespace', 'dev/sandbox-ns', { namespace: 'sandbox-ns' });
    expect(evaluation.result).toBe('ALLOW');
    expect(evaluation.explanation.summary).toContain(
      'target binding held: params.namespace = name "sandbox-ns" of target "dev/sandbox-ns"',
    );
    const deployment = check(pdp, 'restart-deployment', 'dev/app', { namespace: 'dev', deployment: 'app' });
    expect(deployment.result).toBe('ALLOW');
    expect(deployment.explanation.summary).toContain(
      'target binding held: params.namespace = namespace "dev", params.deployment = name "app" of target "dev/app"',
    );
  });

  it('checks every bound param, not only the first', () => {
    const evaluation = check(pdp, 'restart-deployment', 'dev/app', { namespace: 'dev', deployment: 'api' });
    expect(evaluation.result).toBe('DENY');
    expect(evaluation.reason).toMatch(/params.deployment is "api" but target "dev\/app" has name "app"/);
  });

  it('compares exactly (case, surrounding spaces)', () => {
    expect(check(pdp, 'delete-namespace', 'dev/sandbox-ns', { namespace: 'Sandbox-ns' }).result).toBe('DENY');
    expect(check(pdp, 'delete-namespace', 'dev/sandbox-ns', { namespace: 'sandbox-ns ' }).result).toBe(
      'DENY',
    );
  });

  it('fails closed when the target lacks an identifier the action binds, whatever the setting', () => {
    for (const enforce of [undefined, false, true]) {
      const evaluation = check(pdpOf(enforce), 'restart-deployment', 'dev/half-named', {
        namespace: 'dev',
        deployment: 'half',
      });
      expect(evaluation.result).toBe('DENY');
      expect(evaluation.errors[0]?.code).toBe('TARGET_MISMATCH');
      expect(evaluation.reason).toMatch(
        /target "dev\/half-named" has no "namespace" identifier, which action "restart-deployment" binds params.namespace to/,
      );
    }
    expect(
      check(pdp, 'restart-deployment', 'dev/unnamed', { namespace: 'dev', deployment: 'x' }).reason,
    ).toMatch(/has no "namespace" identifier/);
  });

  it('never shows the value of a sensitive bound param', () => {
    const evaluation = check(pdp, 'read-secret', 'dev/secret', { secret: 'hunter2-not-the-name' });
    expect(evaluation.result).toBe('DENY');
    expect(evaluation.reason).toMatch(/params.secret is a sensitive value but target/);
    expect(JSON.stringify(evaluation)).not.toContain('hunter2');
    const held = check(pdp, 'read-secret', 'dev/secret', { secret: 'db-password' });
    expect(held.result).toBe('ALLOW');
    expect(held.explanation.summary.join('\n')).not.toContain('db-password');
  });

  it('decides the binding before policy rules: a bound request is still subject to them', () => {
    expect(check(pdp, 'delete-namespace', 'prod/payments-ns', { namespace: 'payments' }).matchedRule).toBe(
      'deny-prod-ns',
    );
  });

  describe('enforceTargetBinding', () => {
    it('off (default): unbound actions and targets without identifiers are evaluated as before', () => {
      const legacy = check(pdp, 'legacy-restart', 'dev/unnamed', { namespace: 'anything', deployment: 'x' });
      expect(legacy.result).toBe('ALLOW');
      expect(legacy.explanation.summary).toContain(
        'target binding: not checked (action "legacy-restart" declares no target_binding)',
      );
      expect(check(pdp, 'list-nodes', 'dev/old-cluster', {}).result).toBe('ALLOW');
    });

    it('on: an action without target_binding is DENY', () => {
      const evaluation = check(pdpOf(true), 'legacy-restart', 'dev/app', {
        namespace: 'dev',
        deployment: 'app',
      });
      expect(evaluation.result).toBe('DENY');
      expect(evaluation.errors[0]?.code).toBe('TARGET_MISMATCH');
      expect(evaluation.reason).toMatch(
        /"legacy-restart" declares no target_binding.*enforce_target_binding/,
      );
    });

    it('on: a target without identifiers is DENY even for an action that binds nothing', () => {
      const evaluation = check(pdpOf(true), 'list-nodes', 'dev/old-cluster', {});
      expect(evaluation.result).toBe('DENY');
      expect(evaluation.reason).toMatch(/target "dev\/old-cluster" has no identifiers/);
    });

    it('on: an explicit empty binding on a target with identifiers is evaluated by the rules', () => {
      const evaluation = check(pdpOf(true), 'list-nodes', 'dev/cluster', {});
      expect(evaluation.result).toBe('ALLOW');
      expect(evaluation.explanation.summary).toContain(
        'target binding: action "list-nodes" declares that its params name no object',
      );
      expect(
        check(pdpOf(true), 'restart-deployment', 'dev/app', { namespace: 'dev', deployment: 'app' }).result,
      ).toBe('ALLOW');
    });
  });
});

describe('require_ticket', () => {
  const ticketRules = parsePolicyDocument(
    {
      rules: [
        { name: 'with-ticket', priority: 10, match: { require_ticket: true }, decision: 'allow' },
        {
          name: 'without-ticket',
          priority: 5,
          match: { require_ticket: false },
          decision: 'require_approval',
        },
      ],
    },
    'inline.yaml',
  ).rules;
  const pdp = new PolicyDecisionPoint({ actions, targets, policies: ticketRules });
  const request = (ticketId: string | null) => ({
    action: 'restart-deployment',
    target: 'dev/app',
    params: { namespace: 'dev', deployment: 'app' },
    caller: caller(),
    now: NOW,
    ticketId,
  });

  it.each([' ', '   ', '\t', '\n', '\u00a0', ' \u3000 '])(
    'a blank ticket id %j does not satisfy require_ticket',
    (id) => {
      const evaluation = pdp.evaluate(request(id));
      expect(evaluation.matchedRule).toBe('without-ticket');
      expect(evaluation.explanation.consideredRules[0]).toMatchObject({
        rule: 'with-ticket',
        matched: false,
        failedOn: 'require_ticket',
      });
    },
  );

  it.each(['JIRA-1', ' CHG-2', '\tX'])('a ticket id with a visible character %j does', (id) => {
    expect(pdp.evaluate(request(id)).matchedRule).toBe('with-ticket');
  });
});
