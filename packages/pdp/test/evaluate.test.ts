import { describe, expect, it } from '@jest/globals';
import type { ActionLookup, TargetLookup } from '@agent-safe/core';
import { PolicyDecisionPoint, type PolicyRule, parsePolicyDocument } from '../src/index.js';
import { rawActions, rawTargets } from './fixtures/catalog.js';
import { ActionRegistry, Inventory } from '@agent-safe/registry';
import { caller, delegatedBy } from './callers.js';

const actions = ActionRegistry.fromDefinitions(rawActions);
const targets = Inventory.fromTargets(rawTargets);
/** Monday 2024-01-01 10:00 UTC. */
const MONDAY_10 = Date.UTC(2024, 0, 1, 10);
const HOUR = 3_600_000;
const DEPLOY = { namespace: 'shop', deployment: 'web' };

function rules(...raw: unknown[]): PolicyRule[] {
  const parsed = parsePolicyDocument({ rules: raw }, 'inline.yaml');
  expect(parsed.issues).toEqual([]);
  return parsed.rules;
}

function pdpOf(
  policies: PolicyRule[],
  options: { timeZone?: string; actions?: ActionLookup; targets?: TargetLookup } = {},
) {
  return new PolicyDecisionPoint({
    actions: options.actions ?? actions,
    targets: options.targets ?? targets,
    policies,
    ...(options.timeZone ? { timeZone: options.timeZone } : {}),
  });
}

const allowAll = { name: 'allow-all', decision: 'allow', reason: 'everything allowed' };

describe('PolicyDecisionPoint: target types', () => {
  const request = {
    action: 'bounce-deployment',
    target: 'dev/sandbox-pod',
    caller: caller(),
    params: DEPLOY,
    now: MONDAY_10,
  };

  it('does not check target types by default, as the original tool did not', () => {
    expect(pdpOf(rules(allowAll)).evaluate(request).result).toBe('ALLOW');
  });

  it('denies a target of the wrong type when enforceTargetTypes is on, naming both', () => {
    const pdp = new PolicyDecisionPoint({
      actions,
      targets,
      policies: rules(allowAll),
      enforceTargetTypes: true,
    });
    const evaluation = pdp.evaluate(request);
    expect(evaluation.result).toBe('DENY');
    expect(evaluation.matchedRule).toBeNull();
    expect(evaluation.reason).toMatch(
      /applies to target types \[k8s-deployment\].*"dev\/sandbox-pod" is of type "k8s-pod"/,
    );
    expect(pdp.evaluate({ ...request, target: 'dev/sandbox' }).result).toBe('ALLOW');
  });
});

describe('PolicyDecisionPoint: checks before the rules', () => {
  const pdp = pdpOf(rules(allowAll));
  const base = {
    action: 'bounce-deployment',
    target: 'staging/checkout',
    caller: caller(),
    params: DEPLOY,
    now: MONDAY_10,
  };

  it('allows a well-formed request that a rule allows', () => {
    const evaluation = pdp.evaluate(base);
    expect(evaluation.result).toBe('ALLOW');
    expect(evaluation.matchedRule).toBe('allow-all');
    expect(evaluation.reason).toBe('everything allowed');
    expect(evaluation.params).toEqual(DEPLOY);
    expect(evaluation.errors).toEqual([]);
    expect(evaluation.policyRevision).toMatch(/^[0-9a-f]{64}$/);
  });

  it.each([
    ['an empty action', { action: '' }, 'action'],
    ['an over-long action', { action: 'a'.repeat(513) }, 'action'],
    ['a non-string action', { action: 42 }, 'action'],
    [
      'a caller without agentId',
      { caller: { roles: [], groups: [], delegationChain: [] } },
      'caller.agentId',
    ],
    [
      'a caller whose roles are not a list',
      { caller: caller({ roles: 'admin' as unknown as string[] }) },
      'caller.roles',
    ],
    ['a missing caller', { caller: undefined }, 'caller'],
    ['NaN as the time', { now: Number.NaN }, 'now'],
    ['a non-string ticket id', { ticketId: 7 }, 'ticketId'],
    ['a non-string target', { target: { id: 'x' } }, 'target'],
  ])('denies %s as INPUT_INVALID', (_label, change, path) => {
    const evaluation = pdp.evaluate({ ...base, ...change } as never);
    expect(evaluation.result).toBe('DENY');
    expect(evaluation.errors).toEqual([expect.objectContaining({ code: 'INPUT_INVALID', path })]);
    expect(evaluation.matchedRule).toBeNull();
    expect(evaluation.explanation.consideredRules).toEqual([]);
    expect(evaluation.explanation.summary[0]).toContain('before any policy rule');
  });

  it('denies a request that is not an object', () => {
    expect(pdp.evaluate(null as never).errors[0]?.code).toBe('INPUT_INVALID');
  });

  it('denies an unknown action, naming it and list-actions', () => {
    const evaluation = pdp.evaluate({ ...base, action: 'bounce-deploymnet' });
    expect(evaluation.result).toBe('DENY');
    expect(evaluation.errors[0]?.code).toBe('ACTION_UNKNOWN');
    expect(evaluation.reason).toContain('"bounce-deploymnet"');
    expect(evaluation.reason).toContain('agent-safe list-actions');
    expect(evaluation.riskClass).toBeNull();
    expect(evaluation.explanation.defaultDeny).toBe(false);
  });

  it('denies prototype keys as actions and targets', () => {
    expect(pdp.evaluate({ ...base, action: '__proto__' }).errors[0]?.code).toBe('ACTION_UNKNOWN');
    expect(pdp.evaluate({ ...base, target: 'constructor' }).errors[0]?.code).toBe('TARGET_UNKNOWN');
  });

  it('denies a missing or unknown target, pointing at the inventory', () => {
    const missing = pdp.evaluate({ ...base, target: undefined });
    expect(missing.result).toBe('DENY');
    expect(missing.errors[0]?.code).toBe('TARGET_UNKNOWN');
    expect(missing.riskClass).toBe('medium');
    const unknown = pdp.evaluate({ ...base, target: 'staging/nope' });
    expect(unknown.errors[0]?.code).toBe('TARGET_UNKNOWN');
    expect(unknown.reason).toContain('"staging/nope"');
    expect(unknown.reason).toContain('inventory');
  });

  it('denies a target whose type the action does not apply to, naming both (when enforced)', () => {
    const strict = new PolicyDecisionPoint({
      actions,
      targets,
      policies: rules(allowAll),
      enforceTargetTypes: true,
    });
    const evaluation = strict.evaluate({ ...base, target: 'staging/scratch-ns' });
    expect(evaluation.result).toBe('DENY');
    expect(evaluation.reason).toContain('k8s-deployment');
    expect(evaluation.reason).toContain('"k8s-namespace"');
    expect(evaluation.errors[0]?.path).toBe('target');
  });

  it('validates params even when none are given (required params are enforced)', () => {
    const evaluation = pdp.evaluate({ ...base, params: undefined });
    expect(evaluation.result).toBe('DENY');
    expect(evaluation.reason).toContain('params.namespace');
    expect(evaluation.reason).toContain('params.deployment');
    expect(evaluation.errors.map((error) => error.path)).toEqual(['params.namespace', 'params.deployment']);
    expect(evaluation.params).toEqual({});
    expect(evaluation.effectiveRisk).toBe('medium');
    expect(pdp.evaluate({ ...base, params: {} }).result).toBe('DENY');
  });

  it('denies params of the wrong type and applies defaults to valid ones', () => {
    const wrong = pdp.evaluate({
      ...base,
      action: 'resize-deployment',
      params: { ...DEPLOY, replicas: '3' },
    });
    expect(wrong.result).toBe('DENY');
    expect(wrong.reason).toContain('params.replicas');
    const defaults = pdp.evaluate({ ...base, action: 'read-logs', params: undefined });
    expect(defaults.result).toBe('ALLOW');
    expect(defaults.params).toEqual({ namespace: 'default', tail: 100 });
  });

  it('fails closed with INTERNAL when a lookup throws', () => {
    const broken: ActionLookup = {
      ...actions,
      revision: 'broken',
      names: () => actions.names(),
      get: () => {
        throw new Error('registry exploded');
      },
      validateParams: (name, params) => actions.validateParams(name, params),
    };
    const evaluation = pdpOf(rules(allowAll), { actions: broken }).evaluate(base);
    expect(evaluation.result).toBe('DENY');
    expect(evaluation.errors[0]?.code).toBe('INTERNAL');
    expect(evaluation.reason).toContain('registry exploded');
  });

  it('fails closed when validateParams returns garbage', () => {
    const odd: ActionLookup = {
      revision: 'odd',
      get: (name) => actions.get(name),
      names: () => actions.names(),
      validateParams: () => ({}) as never,
    };
    const evaluation = pdpOf(rules(allowAll), { actions: odd }).evaluate(base);
    expect(evaluation.result).toBe('DENY');
    expect(evaluation.errors[0]?.code).toBe('PARAMS_INVALID');
  });
});

describe('PolicyDecisionPoint: rule order', () => {
  const base = {
    action: 'bounce-deployment',
    target: 'staging/checkout',
    caller: caller(),
    params: DEPLOY,
    now: MONDAY_10,
  };

  it('denies by default when no rule matches', () => {
    const pdp = pdpOf(
      rules({ name: 'dev-only', match: { targets: { environments: ['dev'] } }, decision: 'allow' }),
    );
    const evaluation = pdp.evaluate(base);
    expect(evaluation.result).toBe('DENY');
    expect(evaluation.reason).toBe('no policy rule matched (default deny)');
    expect(evaluation.matchedRule).toBeNull();
    expect(evaluation.explanation.defaultDeny).toBe(true);
    expect(evaluation.explanation.consideredRules).toEqual([
      expect.objectContaining({
        rule: 'dev-only',
        matched: false,
        failedOn: 'targets.environments',
        detail: 'environment "staging" not in [dev]',
      }),
    ]);
  });

  it('denies everything with no rules at all', () => {
    expect(pdpOf([]).evaluate(base).result).toBe('DENY');
  });

  it('takes the highest priority first, whatever the file order', () => {
    const pdp = pdpOf(
      rules(
        { name: 'low-allow', priority: 1, decision: 'allow' },
        { name: 'high-approval', priority: 50, decision: 'require_approval' },
      ),
    );
    const evaluation = pdp.evaluate(base);
    expect(evaluation.result).toBe('REQUIRE_APPROVAL');
    expect(evaluation.matchedRule).toBe('high-approval');
  });

  it('stops at the first matching priority: lower rules never override', () => {
    const pdp = pdpOf(
      rules(
        { name: 'deny-low', priority: 1, decision: 'deny' },
        { name: 'allow-high', priority: 2, decision: 'allow' },
      ),
    );
    expect(pdp.evaluate(base).result).toBe('ALLOW');
  });

  it.each([
    [['allow', 'deny', 'require_approval'], 'DENY'],
    [['deny', 'allow'], 'DENY'],
    [['allow', 'require_approval'], 'REQUIRE_APPROVAL'],
    [['require_approval', 'allow'], 'REQUIRE_APPROVAL'],
  ])('at equal priority the most restrictive of %j wins', (decisions, expected) => {
    const policies = rules(
      ...decisions.map((decision, index) => ({ name: `r${index}`, priority: 5, decision })),
    );
    const forward = pdpOf(policies).evaluate(base);
    const backward = pdpOf([...policies].reverse()).evaluate(base);
    expect(forward.result).toBe(expected);
    expect(backward.result).toBe(expected);
    expect(forward.matchedRule).toBe(backward.matchedRule);
    expect(forward.explanation.matchedRules).toHaveLength(decisions.length);
    expect(forward.explanation.summary.join('\n')).toContain('most restrictive');
  });

  it('uses a rule-defined reason, or names the rule when it has none', () => {
    const evaluation = pdpOf(rules({ name: 'quiet', decision: 'allow' })).evaluate(base);
    expect(evaluation.reason).toBe('matched rule "quiet"');
  });

  it('merges exact, glob and universal rules in priority order', () => {
    const pdp = pdpOf(
      rules(
        { name: 'exact', priority: 10, match: { actions: ['read-logs'] }, decision: 'allow' },
        { name: 'glob', priority: 20, match: { actions: ['read-*'] }, decision: 'require_approval' },
        { name: 'universal', priority: 15, decision: 'deny' },
        { name: 'other-glob', priority: 30, match: { actions: ['vm-*'] }, decision: 'allow' },
      ),
    );
    const logs = { ...base, action: 'read-logs', params: {} };
    expect(pdp.evaluate(logs).matchedRule).toBe('glob');
    expect(pdp.evaluate({ ...base, action: 'bounce-deployment' }).matchedRule).toBe('universal');
    expect(pdp.evaluate({ ...logs, action: 'read-rollout' }).matchedRule).toBe('glob');
    expect(pdp.evaluate(logs).matchedRule).toBe('glob');
  });

  it('matches ? as exactly one character', () => {
    const pdp = pdpOf(rules({ name: 'q', match: { actions: ['read-log?'] }, decision: 'allow' }));
    expect(pdp.evaluate({ ...base, action: 'read-logs', params: {} }).result).toBe('ALLOW');
    expect(pdp.evaluate({ ...base, action: 'read-rollout', params: {} }).result).toBe('DENY');
  });
});

describe('PolicyDecisionPoint: selectors', () => {
  const base = { action: 'read-logs', target: 'prod/checkout', caller: caller(), params: {}, now: MONDAY_10 };
  const only = (match: Record<string, unknown>) => pdpOf(rules({ name: 'only', match, decision: 'allow' }));

  it('matches target environment, type, sensitivity and every label pair', () => {
    expect(only({ targets: { environments: ['prod', 'staging'] } }).evaluate(base).result).toBe('ALLOW');
    expect(only({ targets: { types: ['k8s-pod'] } }).evaluate(base).result).toBe('DENY');
    expect(only({ targets: { sensitivities: ['critical'] } }).evaluate(base).result).toBe('ALLOW');
    expect(only({ targets: { sensitivities: ['public'] } }).evaluate(base).result).toBe('DENY');
    expect(only({ targets: { labels: { app: 'checkout', tier: 'backend' } } }).evaluate(base).result).toBe(
      'ALLOW',
    );
    const partial = only({ targets: { labels: { app: 'checkout', tier: 'frontend' } } }).evaluate(base);
    expect(partial.result).toBe('DENY');
    expect(partial.explanation.consideredRules[0]).toMatchObject({
      failedOn: 'targets.labels',
      detail: 'label tier="backend", rule needs tier="frontend"',
    });
  });

  it('does not treat inherited properties as labels', () => {
    const pdp = only({ targets: { labels: { constructor: 'x' } } });
    expect(pdp.evaluate(base).result).toBe('DENY');
  });

  it('matches callers by agent id, any role and any group', () => {
    expect(only({ callers: { agent_ids: ['agent-1'] } }).evaluate(base).result).toBe('ALLOW');
    expect(only({ callers: { agent_ids: ['agent-2'] } }).evaluate(base).result).toBe('DENY');
    const roles = only({ callers: { roles: ['deployer', 'sre'] } });
    expect(roles.evaluate({ ...base, caller: caller({ roles: ['viewer', 'sre'] }) }).result).toBe('ALLOW');
    const denied = roles.evaluate({ ...base, caller: caller({ roles: ['viewer'] }) });
    expect(denied.result).toBe('DENY');
    expect(denied.explanation.consideredRules[0]).toMatchObject({ failedOn: 'callers.roles' });
    const groups = only({ callers: { groups: ['platform'] } });
    expect(groups.evaluate({ ...base, caller: caller({ groups: ['platform'] }) }).result).toBe('ALLOW');
    expect(groups.evaluate(base).result).toBe('DENY');
  });

  it('matches delegation: delegated_from, max_delegation_depth, require_delegation', () => {
    const chain = caller({ delegationChain: delegatedBy('orchestrator', 'planner') });
    const direct = caller();
    const from = only({ callers: { delegated_from: ['orchestrator'] } });
    expect(from.evaluate({ ...base, caller: chain }).result).toBe('ALLOW');
    expect(from.evaluate({ ...base, caller: direct }).result).toBe('DENY');
    const depth = only({ callers: { max_delegation_depth: 1 } });
    expect(depth.evaluate({ ...base, caller: chain }).result).toBe('DENY');
    expect(depth.evaluate({ ...base, caller: caller({ delegationChain: delegatedBy('a') }) }).result).toBe(
      'ALLOW',
    );
    expect(depth.evaluate({ ...base, caller: direct }).result).toBe('ALLOW');
    const required = only({ callers: { require_delegation: true } });
    expect(required.evaluate({ ...base, caller: chain }).result).toBe('ALLOW');
    expect(required.evaluate({ ...base, caller: direct }).result).toBe('DENY');
    const forbidden = only({ callers: { require_delegation: false } });
    expect(forbidden.evaluate({ ...base, caller: chain }).result).toBe('DENY');
    expect(forbidden.evaluate({ ...base, caller: direct }).result).toBe('ALLOW');
  });

  it('matches risk_classes against the effective risk, not the action risk', () => {
    // read-logs is low risk; on a critical target its effective risk is high.
    const high = only({ risk_classes: ['high'] });
    const evaluation = high.evaluate(base);
    expect(evaluation.result).toBe('ALLOW');
    expect(evaluation.riskClass).toBe('low');
    expect(evaluation.effectiveRisk).toBe('high');
    expect(only({ risk_classes: ['low'] }).evaluate(base).result).toBe('DENY');
    expect(only({ risk_classes: ['low'] }).evaluate({ ...base, target: 'dev/sandbox' }).result).toBe('ALLOW');
  });

  it('treats require_ticket as three-state', () => {
    const withTicket = { ...base, ticketId: 'CHG-1' };
    expect(only({ require_ticket: true }).evaluate(withTicket).result).toBe('ALLOW');
    expect(only({ require_ticket: true }).evaluate(base).result).toBe('DENY');
    expect(only({ require_ticket: true }).evaluate({ ...base, ticketId: '' }).result).toBe('DENY');
    expect(only({ require_ticket: false }).evaluate(base).result).toBe('ALLOW');
    expect(only({ require_ticket: false }).evaluate(withTicket).result).toBe('DENY');
    expect(only({ require_ticket: null }).evaluate(base).result).toBe('ALLOW');
    expect(only({ require_ticket: null }).evaluate({ ...base, ticketId: null }).result).toBe('ALLOW');
    expect(only({}).evaluate(withTicket).result).toBe('ALLOW');
  });

  it('ANDs fields together', () => {
    const pdp = only({
      targets: { environments: ['prod'] },
      callers: { roles: ['sre'] },
      risk_classes: ['high'],
    });
    expect(pdp.evaluate({ ...base, caller: caller({ roles: ['sre'] }) }).result).toBe('ALLOW');
    expect(pdp.evaluate(base).result).toBe('DENY');
    expect(
      pdp.evaluate({ ...base, target: 'staging/checkout', caller: caller({ roles: ['sre'] }) }).result,
    ).toBe('DENY');
  });
});

describe('PolicyDecisionPoint: time windows', () => {
  const base = { action: 'read-logs', target: 'dev/sandbox', caller: caller(), params: {} };
  const windowed = (windows: unknown[], timeZone?: string) =>
    pdpOf(
      rules({ name: 'window', match: { time_windows: windows }, decision: 'allow' }),
      timeZone ? { timeZone } : {},
    );

  it('matches day and inclusive hours in UTC by default', () => {
    const pdp = windowed([{ days: ['mon', 'Tuesday', 4], start_hour: 9, end_hour: 17 }]);
    expect(pdp.evaluate({ ...base, now: MONDAY_10 }).result).toBe('ALLOW');
    expect(pdp.evaluate({ ...base, now: Date.UTC(2024, 0, 1, 17, 59) }).result).toBe('ALLOW');
    expect(pdp.evaluate({ ...base, now: Date.UTC(2024, 0, 1, 18) }).result).toBe('DENY');
    expect(pdp.evaluate({ ...base, now: Date.UTC(2024, 0, 1, 8, 59) }).result).toBe('DENY');
    expect(pdp.evaluate({ ...base, now: Date.UTC(2024, 0, 3, 10) }).result).toBe('DENY'); // Wednesday
    expect(pdp.evaluate({ ...base, now: Date.UTC(2024, 0, 5, 10) }).result).toBe('ALLOW'); // Friday = 4
    const outside = pdp.evaluate({ ...base, now: Date.UTC(2024, 0, 6, 10) });
    expect(outside.explanation.consideredRules[0]).toMatchObject({ failedOn: 'time_windows' });
    expect(outside.explanation.consideredRules[0]?.detail).toContain('Saturday 10h UTC');
  });

  it('wraps past midnight when start_hour > end_hour, with defaults of 0 and 23', () => {
    const night = windowed([{ start_hour: 22, end_hour: 2 }]);
    expect(night.evaluate({ ...base, now: Date.UTC(2024, 0, 1, 23) }).result).toBe('ALLOW');
    expect(night.evaluate({ ...base, now: Date.UTC(2024, 0, 2, 1) }).result).toBe('ALLOW');
    expect(night.evaluate({ ...base, now: Date.UTC(2024, 0, 2, 3) }).result).toBe('DENY');
    const allDay = windowed([{ days: ['sun'] }]);
    expect(allDay.evaluate({ ...base, now: Date.UTC(2024, 0, 7, 0) }).result).toBe('ALLOW');
    expect(allDay.evaluate({ ...base, now: Date.UTC(2024, 0, 7, 23, 59) }).result).toBe('ALLOW');
    expect(allDay.evaluate({ ...base, now: Date.UTC(2024, 0, 8, 0) }).result).toBe('DENY');
  });

  it('handles instants before 1970', () => {
    // 1969-12-31 was a Wednesday.
    const wednesday = windowed([{ days: [2], start_hour: 23, end_hour: 23 }]);
    expect(wednesday.evaluate({ ...base, now: -HOUR / 2 }).result).toBe('ALLOW');
  });

  it('reads the time in the configured zone', () => {
    // Monday 10:00 UTC is Monday 19:00 in Tokyo and Monday 05:00 in New York.
    const tokyo = windowed([{ days: ['mon'], start_hour: 19, end_hour: 19 }], 'Asia/Tokyo');
    expect(tokyo.evaluate({ ...base, now: MONDAY_10 }).result).toBe('ALLOW');
    const newYork = windowed([{ days: ['mon'], start_hour: 5, end_hour: 5 }], 'America/New_York');
    expect(newYork.evaluate({ ...base, now: MONDAY_10 }).result).toBe('ALLOW');
    expect(newYork.evaluate({ ...base, now: MONDAY_10 + HOUR }).result).toBe('DENY');
    // Sunday 20:00 UTC is already Monday 05:00 in Tokyo.
    const tokyoMonday = windowed([{ days: ['mon'], start_hour: 5, end_hour: 5 }], 'Asia/Tokyo');
    expect(tokyoMonday.evaluate({ ...base, now: Date.UTC(2023, 11, 31, 20) }).result).toBe('ALLOW');
  });

  it('refuses an unknown time zone at construction', () => {
    expect(() => windowed([{ days: ['mon'] }], 'Mars/Olympus')).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID' }),
    );
  });
});

describe('PolicyDecisionPoint: explanation', () => {
  it('lists considered rules down to the deciding priority, with why each failed', () => {
    const pdp = pdpOf(
      rules(
        {
          name: 'prod-approval',
          priority: 100,
          match: { targets: { environments: ['prod'] } },
          decision: 'require_approval',
        },
        { name: 'vm-only', priority: 90, match: { actions: ['vm-*'] }, decision: 'deny' },
        { name: 'sre-allow', priority: 50, match: { callers: { roles: ['sre'] } }, decision: 'allow' },
        { name: 'fallback', priority: 50, decision: 'allow' },
        { name: 'never-reached', priority: 1, decision: 'deny' },
      ),
    );
    const evaluation = pdp.evaluate({
      action: 'read-logs',
      target: 'dev/sandbox',
      caller: caller(),
      params: {},
      now: MONDAY_10,
    });
    expect(evaluation.result).toBe('ALLOW');
    expect(evaluation.matchedRule).toBe('fallback');
    const { consideredRules, matchedRules, defaultDeny, summary } = evaluation.explanation;
    expect(defaultDeny).toBe(false);
    expect(consideredRules.map((trace) => [trace.rule, trace.matched, trace.failedOn])).toEqual([
      ['prod-approval', false, 'targets.environments'],
      ['vm-only', false, 'actions'],
      ['sre-allow', false, 'callers.roles'],
      ['fallback', true, undefined],
    ]);
    expect(matchedRules.map((trace) => trace.rule)).toEqual(['fallback']);
    expect(summary[0]).toBe('ALLOW by rule "fallback" (priority 50): matched rule "fallback"');
    expect(summary.join('\n')).toContain('effective risk low');
    expect(JSON.parse(JSON.stringify(evaluation)).explanation.consideredRules).toHaveLength(4);
  });

  it('is computed once and reused', () => {
    const pdp = pdpOf(rules(allowAll));
    const evaluation = pdp.evaluate({
      action: 'read-logs',
      target: 'dev/sandbox',
      caller: caller(),
      params: {},
      now: MONDAY_10,
    });
    expect(evaluation.explanation).toBe(evaluation.explanation);
  });

  it('agrees with the decision for many requests', () => {
    const pdp = pdpOf(
      rules(
        {
          name: 'a',
          priority: 3,
          match: { actions: ['read-*'], targets: { environments: ['staging'] } },
          decision: 'allow',
        },
        { name: 'b', priority: 3, match: { risk_classes: ['medium', 'high'] }, decision: 'require_approval' },
        { name: 'c', priority: 2, match: { callers: { roles: ['sre'] } }, decision: 'deny' },
        { name: 'd', priority: 1, match: { targets: { environments: ['dev'] } }, decision: 'allow' },
      ),
    );
    for (const target of rawTargets) {
      for (const action of ['read-logs', 'read-rollout']) {
        for (const roles of [[], ['sre']]) {
          const evaluation = pdp.evaluate({
            action,
            target: target.id,
            caller: caller({ roles }),
            params: {},
            now: MONDAY_10,
          });
          if (evaluation.errors.length > 0) continue;
          const winners = evaluation.explanation.matchedRules;
          if (evaluation.matchedRule === null) {
            expect(winners).toEqual([]);
          } else {
            expect(winners.map((trace) => trace.rule)).toContain(evaluation.matchedRule);
          }
        }
      }
    }
  });
});

describe('PolicyDecisionPoint: construction', () => {
  it('rejects malformed rules built in code, all at once', () => {
    const bad = [
      { name: '', priority: 1, decision: 'ALLOW', description: '', reason: '', match: { actions: ['*'] } },
      { name: 'x', priority: 1.5, decision: 'MAYBE', description: '', reason: '', match: { actions: [] } },
      { name: 'x', priority: 1, decision: 'ALLOW', description: '', reason: '', match: { actions: ['*'] } },
    ] as unknown as PolicyRule[];
    try {
      pdpOf(bad);
      throw new Error('expected CONFIG_INVALID');
    } catch (error) {
      expect(error).toMatchObject({ code: 'CONFIG_INVALID' });
      const messages = (error as { issues: { message: string }[] }).issues
        .map((issue) => issue.message)
        .join('\n');
      expect(messages).toContain('non-empty string');
      expect(messages).toContain('priority must be an integer');
      expect(messages).toContain('decision must be one of');
      expect(messages).toContain('match.actions');
      expect(messages).toContain('used twice');
    }
  });

  it('computes the revision from the rules when given a plain array', () => {
    const one = pdpOf(rules(allowAll)).revision;
    expect(pdpOf(rules(allowAll)).revision).toBe(one);
    expect(pdpOf(rules({ ...allowAll, decision: 'deny' })).revision).not.toBe(one);
  });
});
