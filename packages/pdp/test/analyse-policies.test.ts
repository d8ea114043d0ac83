import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import type { TargetLookup } from '@agent-safe/core';
import {
  type Finding,
  type PolicyRule,
  analysePolicies,
  loadPoliciesSync,
  parsePolicyDocument,
} from '../src/index.js';
import { rawActions, rawTargets } from './fixtures/catalog.js';
import { ActionRegistry, Inventory } from '@agent-safe/registry';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'policies');
const actions = ActionRegistry.fromDefinitions(rawActions);
const targets = Inventory.fromTargets(rawTargets);

function rules(...raw: unknown[]): PolicyRule[] {
  const parsed = parsePolicyDocument({ rules: raw }, 'inline.yaml');
  expect(parsed.issues).toEqual([]);
  return parsed.rules;
}

const summary = (findings: Finding[]) =>
  findings.map((finding) => [finding.kind, finding.rule, finding.otherRule]);

describe('analysePolicies: shadowing by effective risk', () => {
  it('reports a deny rule hidden behind a critical-risk approval rule (the original default policy defect)', () => {
    const set = loadPoliciesSync(fixtures);
    const findings = analysePolicies({ rules: set, actions, targets });
    expect(summary(findings)).toEqual([
      ['shadowed', 'never-wipe-prod-namespaces', 'approve-anything-critical'],
    ]);
    const [finding] = findings;
    expect(finding?.severity).toBe('error');
    expect(finding?.file).toBe(join(fixtures, '10-baseline.yaml'));
    expect(finding?.message).toContain('can never decide');
    expect(finding?.message).toContain('with the current registry and inventory');
    expect(finding?.message).toContain('get REQUIRE_APPROVAL, not DENY');
  });

  it('does not claim it when a reachable target keeps the risk below critical', () => {
    const withPublicNamespace = Inventory.fromTargets([
      ...rawTargets,
      {
        id: 'prod/docs-ns',
        type: 'k8s-namespace',
        environment: 'prod',
        sensitivity: 'public',
        owner: 'docs',
        labels: {},
      },
    ]);
    const findings = analysePolicies({
      rules: loadPoliciesSync(fixtures),
      actions,
      targets: withPublicNamespace,
    });
    expect(findings.filter((finding) => finding.kind === 'shadowed')).toEqual([]);
  });

  it('does not claim it when the inventory cannot be listed (a public target is possible)', () => {
    // A lookup from plain JavaScript that cannot list its targets.
    const opaque = {
      revision: 'x',
      get: (id: string) => targets.get(id),
      environments: () => targets.environments(),
    } as unknown as TargetLookup;
    const findings = analysePolicies({ rules: loadPoliciesSync(fixtures), actions, targets: opaque });
    expect(findings.filter((finding) => finding.kind === 'shadowed')).toEqual([]);
  });

  it('uses the matrix without an inventory when the sensitivities are pinned', () => {
    const findings = analysePolicies({
      rules: rules(
        {
          name: 'critical-approval',
          priority: 10,
          match: { risk_classes: ['critical'] },
          decision: 'require_approval',
        },
        {
          name: 'no-wipes',
          priority: 5,
          match: { actions: ['wipe-namespace'], targets: { sensitivities: ['internal', 'critical'] } },
          decision: 'deny',
        },
      ),
      actions,
    });
    expect(summary(findings)).toEqual([['shadowed', 'no-wipes', 'critical-approval']]);
  });
});

describe('analysePolicies: shadowing by selectors', () => {
  it('sees that a glob covers listed actions, with or without a registry', () => {
    const set = rules(
      { name: 'reads', priority: 10, match: { actions: ['read-*'] }, decision: 'deny' },
      { name: 'logs', priority: 5, match: { actions: ['read-logs', 'read-rollout'] }, decision: 'allow' },
      { name: 'narrower-glob', priority: 4, match: { actions: ['read-l*'] }, decision: 'allow' },
    );
    expect(summary(analysePolicies({ rules: set }))).toEqual([
      ['shadowed', 'logs', 'reads'],
      ['shadowed', 'narrower-glob', 'reads'],
    ]);
    expect(summary(analysePolicies({ rules: set, actions, targets }))).toEqual([
      ['shadowed', 'logs', 'reads'],
      ['shadowed', 'narrower-glob', 'reads'],
    ]);
  });

  it('treats a missing selector in the higher rule as matching everything', () => {
    const findings = analysePolicies({
      rules: rules(
        {
          name: 'prod',
          priority: 10,
          match: { targets: { environments: ['prod'] } },
          decision: 'require_approval',
        },
        {
          name: 'prod-deployers',
          priority: 5,
          match: {
            actions: ['bounce-deployment'],
            targets: { environments: ['prod'], labels: { tier: 'backend' } },
            callers: { roles: ['deployer'] },
            time_windows: [{ days: ['mon'], start_hour: 9, end_hour: 17 }],
            require_ticket: true,
          },
          decision: 'allow',
        },
      ),
    });
    expect(summary(findings)).toEqual([['shadowed', 'prod-deployers', 'prod']]);
  });

  it('sees label coverage through the inventory: every app=checkout target is tier=backend', () => {
    const set = rules(
      {
        name: 'backend',
        priority: 10,
        match: { targets: { labels: { tier: 'backend' } } },
        decision: 'deny',
      },
      {
        name: 'checkout',
        priority: 5,
        match: { targets: { labels: { app: 'checkout' } } },
        decision: 'allow',
      },
    );
    expect(summary(analysePolicies({ rules: set, actions, targets }))).toEqual([
      ['shadowed', 'checkout', 'backend'],
    ]);
    expect(summary(analysePolicies({ rules: set }))).toEqual([]);
  });

  it('never claims shadowing when the lower rule reaches requests the higher one does not', () => {
    const cases: [unknown, unknown][] = [
      [{ callers: { roles: ['sre'] } }, {}],
      [{ callers: { roles: ['sre'] } }, { callers: { roles: ['sre', 'dev'] } }],
      [{ targets: { environments: ['prod'] } }, { targets: { environments: ['prod', 'staging'] } }],
      [{ targets: { labels: { tier: 'backend' } } }, { targets: { labels: { app: 'sandbox' } } }],
      [{ require_ticket: true }, {}],
      [{ time_windows: [{ days: [0, 1, 2, 3, 4] }] }, {}],
      [
        { time_windows: [{ start_hour: 9, end_hour: 17 }] },
        { time_windows: [{ start_hour: 8, end_hour: 12 }] },
      ],
      [{ callers: { require_delegation: true } }, { callers: { roles: ['x'] } }],
      [{ callers: { max_delegation_depth: 1 } }, { callers: { max_delegation_depth: 2 } }],
      [{ actions: ['read-*'] }, { actions: ['read-logs', 'vm-reboot'] }],
      [{ risk_classes: ['high', 'critical'] }, { actions: ['read-logs'] }],
    ];
    for (const [higher, lower] of cases) {
      const findings = analysePolicies({
        rules: rules(
          { name: 'higher', priority: 10, match: higher, decision: 'deny' },
          { name: 'lower', priority: 5, match: lower, decision: 'allow' },
        ),
        actions,
        targets,
      });
      expect([higher, findings.filter((finding) => finding.kind === 'shadowed')]).toEqual([higher, []]);
    }
  });

  it('proves coverage of time windows and delegation limits', () => {
    const findings = analysePolicies({
      rules: rules(
        {
          name: 'weekdays',
          priority: 10,
          match: { time_windows: [{ days: [0, 1, 2, 3, 4] }], callers: { max_delegation_depth: 3 } },
          decision: 'deny',
        },
        {
          name: 'monday-mornings',
          priority: 5,
          match: {
            time_windows: [{ days: ['mon'], start_hour: 6, end_hour: 11 }],
            callers: { require_delegation: false },
          },
          decision: 'allow',
        },
      ),
    });
    expect(summary(findings)).toEqual([['shadowed', 'monday-mornings', 'weekdays']]);
  });

  it('reports a redundant rule with the same decision as a warning', () => {
    const findings = analysePolicies({
      rules: rules(
        { name: 'dev', priority: 10, match: { targets: { environments: ['dev'] } }, decision: 'allow' },
        {
          name: 'dev-logs',
          priority: 5,
          match: { actions: ['read-logs'], targets: { environments: ['dev'] } },
          decision: 'allow',
        },
      ),
    });
    expect(findings).toEqual([
      expect.objectContaining({ kind: 'shadowed', severity: 'warning', rule: 'dev-logs' }),
    ]);
    expect(findings[0]?.message).toContain('redundant');
  });

  it('reports a rule beaten at equal priority by a more restrictive superset', () => {
    const findings = analysePolicies({
      rules: rules(
        { name: 'allow-logs', priority: 5, match: { actions: ['read-logs'] }, decision: 'allow' },
        { name: 'deny-all', priority: 5, decision: 'deny' },
      ),
    });
    expect(summary(findings)).toEqual([['shadowed', 'allow-logs', 'deny-all']]);
    expect(findings[0]?.message).toContain('more restrictive DENY');
  });
});

describe('analysePolicies: conflicts', () => {
  it('reports overlapping rules of equal priority with different decisions, on the losing rule', () => {
    const findings = analysePolicies({
      rules: rules(
        { name: 'sre-allow', priority: 5, match: { callers: { roles: ['sre'] } }, decision: 'allow' },
        {
          name: 'prod-approve',
          priority: 5,
          match: { targets: { environments: ['prod'] } },
          decision: 'require_approval',
        },
      ),
      actions,
      targets,
    });
    expect(findings).toEqual([
      expect.objectContaining({
        kind: 'conflict',
        severity: 'warning',
        rule: 'sre-allow',
        otherRule: 'prod-approve',
      }),
    ]);
    expect(findings[0]?.message).toContain('the more restrictive REQUIRE_APPROVAL ("prod-approve") wins');
  });

  it('does not report disjoint rules of equal priority', () => {
    const disjoint: [unknown, unknown][] = [
      [{ targets: { environments: ['prod'] } }, { targets: { environments: ['dev'] } }],
      [{ require_ticket: true }, { require_ticket: false }],
      [{ callers: { agent_ids: ['a'] } }, { callers: { agent_ids: ['b'] } }],
      [{ callers: { require_delegation: true } }, { callers: { max_delegation_depth: 0 } }],
      [{ targets: { labels: { tier: 'backend' } } }, { targets: { labels: { tier: 'frontend' } } }],
      [
        { time_windows: [{ start_hour: 0, end_hour: 11 }] },
        { time_windows: [{ start_hour: 12, end_hour: 23 }] },
      ],
      [{ actions: ['read-logs'] }, { actions: ['vm-reboot'] }],
      [{ actions: ['wipe-namespace'] }, { risk_classes: ['low'] }],
    ];
    for (const [a, b] of disjoint) {
      const findings = analysePolicies({
        rules: rules(
          { name: 'a', priority: 1, match: a, decision: 'allow' },
          { name: 'b', priority: 1, match: b, decision: 'deny' },
        ),
        actions,
        targets,
      });
      expect([a, findings]).toEqual([a, []]);
    }
  });
});

describe('analysePolicies: references', () => {
  it('reports unknown actions, environments and target types, and rules that can never match', () => {
    const findings = analysePolicies({
      rules: rules(
        { name: 'typo', match: { actions: ['read-log', 'read-logs'] }, decision: 'deny' },
        { name: 'no-glob-hit', match: { actions: ['db-*'] }, decision: 'deny' },
        { name: 'bad-env', match: { targets: { environments: ['production'] } }, decision: 'deny' },
        { name: 'bad-type', match: { targets: { types: ['k8s-deploymnet'] } }, decision: 'deny' },
        {
          name: 'contradiction',
          match: { callers: { require_delegation: false, delegated_from: ['o'] } },
          decision: 'allow',
        },
        {
          name: 'impossible-risk',
          match: { actions: ['read-logs'], risk_classes: ['critical'] },
          decision: 'allow',
        },
      ),
      actions,
      targets,
    });
    const byKind = (kind: string) => findings.filter((finding) => finding.kind === kind);
    expect(byKind('unknown-action')).toEqual([
      expect.objectContaining({
        rule: 'typo',
        severity: 'error',
        message: expect.stringContaining('"read-log"'),
      }),
      expect.objectContaining({
        rule: 'no-glob-hit',
        severity: 'warning',
        message: expect.stringContaining('"db-*"'),
      }),
    ]);
    expect(byKind('unknown-environment')).toEqual([
      expect.objectContaining({
        rule: 'bad-env',
        severity: 'error',
        message: expect.stringContaining('known: dev, prod, staging'),
      }),
    ]);
    expect(byKind('unknown-target-type')).toEqual([expect.objectContaining({ rule: 'bad-type' })]);
    expect(
      byKind('unreachable')
        .map((finding) => finding.rule)
        .sort(),
    ).toEqual(['bad-env', 'bad-type', 'contradiction', 'impossible-risk'].sort());
  });

  it('accepts an explicit inventory list', () => {
    // A lookup from plain JavaScript that cannot list its targets.
    const opaque = {
      revision: 'x',
      get: (id: string) => targets.get(id),
      environments: () => targets.environments(),
    } as unknown as TargetLookup;
    const findings = analysePolicies({
      rules: loadPoliciesSync(fixtures),
      actions,
      targets: opaque,
      inventory: targets.list(),
    });
    expect(summary(findings)).toEqual([
      ['shadowed', 'never-wipe-prod-namespaces', 'approve-anything-critical'],
    ]);
  });
});
