import {
  AgentSafeError,
  type Caller,
  DECISION_RESULTS,
  type DecisionResult,
  type Issue,
  type RiskClass,
  type TargetDefinition,
  riskRank,
} from '@agent-safe/core';
import { globMatch, isGlob } from './glob.js';
import type { LocalTime, LocalTimeReader } from './local-time.js';
import type { PolicyRule, TimeWindow } from './policy-rule.js';

/** The facts a rule is matched against. One instance is reused across evaluations. */
export interface MatchContext extends LocalTime {
  action: string;
  target: TargetDefinition;
  caller: Caller;
  effectiveRisk: RiskClass;
  hasTicket: boolean;
  now: number;
  clock: LocalTimeReader;
}

/** One compiled selector: a fast test and, for explanations, a description of a failure. */
export interface Check {
  /** Selector path as written in YAML, e.g. `targets.environments`. */
  readonly field: string;
  test(context: MatchContext): boolean;
  describe(context: MatchContext): string;
}

/** A rule turned into predicates. `rank` is its position in evaluation order. */
export interface CompiledRule {
  readonly rule: PolicyRule;
  readonly rank: number;
  readonly priority: number;
  readonly decision: DecisionResult;
  /** ALLOW 0 < REQUIRE_APPROVAL 1 < DENY 2: the more restrictive wins ties. */
  readonly strictness: number;
  /** True when an action pattern is all stars: the rule applies to every action. */
  readonly universal: boolean;
  readonly exactActions: readonly string[];
  readonly globActions: readonly string[];
  readonly checks: readonly Check[];
  /** For explanations: the rule's action patterns as `a, b`, and the detail of a match. */
  readonly actionList: string;
  readonly matchedDetail: string;
}

const STRICTNESS: Record<DecisionResult, number> = { ALLOW: 0, REQUIRE_APPROVAL: 1, DENY: 2 };

/** Restrictiveness of a decision: DENY > REQUIRE_APPROVAL > ALLOW. */
export function strictness(decision: DecisionResult): number {
  return STRICTNESS[decision];
}

/** True when a rule's action patterns cover `action`. */
export function matchesAction(rule: CompiledRule, action: string): boolean {
  if (rule.universal) return true;
  if (rule.exactActions.includes(action)) return true;
  for (const pattern of rule.globActions) if (globMatch(pattern, action)) return true;
  return false;
}

/**
 * Sorts rules into evaluation order (priority descending, then load order) and compiles each selector
 * into a closure over Sets, so evaluation does no parsing and little allocation. Throws CONFIG_INVALID
 * listing every malformed rule (possible only for rules built in code rather than loaded from YAML).
 */
export function compileRules(rules: readonly PolicyRule[]): CompiledRule[] {
  const issues = checkRules(rules);
  if (issues.length > 0) {
    throw new AgentSafeError('CONFIG_INVALID', `${issues.length} problem(s) in the policy rules`, { issues });
  }
  const order = rules.map((rule, index) => ({ rule, index }));
  order.sort((a, b) => b.rule.priority - a.rule.priority || a.index - b.index);
  return order.map(({ rule }, rank) => compileRule(rule, rank));
}

function compileRule(rule: PolicyRule, rank: number): CompiledRule {
  const exactActions: string[] = [];
  const globActions: string[] = [];
  let universal = false;
  for (const pattern of rule.match.actions) {
    if (/^\*+$/.test(pattern)) universal = true;
    else if (isGlob(pattern)) globActions.push(pattern);
    else exactActions.push(pattern);
  }
  const checks = compileChecks(rule);
  return {
    rule,
    rank,
    priority: rule.priority,
    decision: rule.decision,
    strictness: STRICTNESS[rule.decision],
    universal,
    exactActions,
    globActions,
    checks,
    actionList: rule.match.actions.join(', '),
    matchedDetail: `matched on ${['actions', ...checks.map((check) => check.field)].join(', ')}`,
  };
}

function compileChecks(rule: PolicyRule): Check[] {
  const checks: Check[] = [];
  const { targets, callers, timeWindows, riskClasses, requireTicket } = rule.match;
  if (requireTicket !== undefined) {
    checks.push({
      field: 'require_ticket',
      test: (context) => context.hasTicket === requireTicket,
      describe: () =>
        requireTicket
          ? 'a change ticket id is required but none was given'
          : 'applies only without a change ticket id',
    });
  }
  if (targets?.environments) {
    const set = new Set(targets.environments);
    checks.push({
      field: 'targets.environments',
      test: (context) => set.has(context.target.environment),
      describe: (context) => `environment ${quote(context.target.environment)} not in ${list(set)}`,
    });
  }
  if (targets?.types) {
    const set = new Set(targets.types);
    checks.push({
      field: 'targets.types',
      test: (context) => set.has(context.target.type),
      describe: (context) => `target type ${quote(context.target.type)} not in ${list(set)}`,
    });
  }
  if (targets?.sensitivities) {
    const set = new Set<string>(targets.sensitivities);
    checks.push({
      field: 'targets.sensitivities',
      test: (context) => set.has(context.target.sensitivity),
      describe: (context) => `sensitivity ${quote(context.target.sensitivity)} not in ${list(set)}`,
    });
  }
  if (targets?.labels) {
    const labels = targets.labels;
    const pairs = Object.keys(labels).map((key) => [key, labels[key] as string] as const);
    checks.push({
      field: 'targets.labels',
      test: (context) => {
        const own = context.target.labels;
        for (const [key, value] of pairs) if (!Object.hasOwn(own, key) || own[key] !== value) return false;
        return true;
      },
      describe: (context) => {
        const own = context.target.labels;
        const missing = pairs.find(([key, value]) => !Object.hasOwn(own, key) || own[key] !== value);
        if (!missing) return 'labels match';
        const [key, value] = missing;
        return Object.hasOwn(own, key)
          ? `label ${key}=${quote(String(own[key]))}, rule needs ${key}=${quote(value)}`
          : `label ${key} is not set, rule needs ${key}=${quote(value)}`;
      },
    });
  }
  if (callers?.agentIds) {
    const set = new Set(callers.agentIds);
    checks.push({
      field: 'callers.agent_ids',
      test: (context) => set.has(context.caller.agentId),
      describe: (context) => `agent ${quote(context.caller.agentId)} not in ${list(set)}`,
    });
  }
  if (callers?.roles) {
    const set = new Set(callers.roles);
    checks.push({
      field: 'callers.roles',
      test: (context) => anyIn(context.caller.roles, set),
      describe: (context) => `caller roles ${list(context.caller.roles)} include none of ${list(set)}`,
    });
  }
  if (callers?.groups) {
    const set = new Set(callers.groups);
    checks.push({
      field: 'callers.groups',
      test: (context) => anyIn(context.caller.groups, set),
      describe: (context) => `caller groups ${list(context.caller.groups)} include none of ${list(set)}`,
    });
  }
  if (callers?.requireDelegation !== undefined) {
    const required = callers.requireDelegation;
    checks.push({
      field: 'callers.require_delegation',
      test: (context) => context.caller.delegationChain.length > 0 === required,
      describe: () =>
        required ? 'caller is not acting under delegation' : 'caller is acting under delegation',
    });
  }
  if (callers?.maxDelegationDepth !== undefined) {
    const max = callers.maxDelegationDepth;
    checks.push({
      field: 'callers.max_delegation_depth',
      test: (context) => context.caller.delegationChain.length <= max,
      describe: (context) => `delegation depth ${context.caller.delegationChain.length} exceeds ${max}`,
    });
  }
  if (callers?.delegatedFrom) {
    const set = new Set(callers.delegatedFrom);
    checks.push({
      field: 'callers.delegated_from',
      test: (context) => {
        for (const link of context.caller.delegationChain) {
          if (typeof link === 'object' && link !== null && set.has(link.agentId)) return true;
        }
        return false;
      },
      describe: (context) =>
        `delegation chain ${list(context.caller.delegationChain.map((link) => link?.agentId))} includes none of ${list(set)}`,
    });
  }
  if (riskClasses) {
    let mask = 0;
    for (const riskClass of riskClasses) mask |= 1 << riskRank(riskClass);
    checks.push({
      field: 'risk_classes',
      test: (context) => (mask & (1 << riskRank(context.effectiveRisk))) !== 0,
      describe: (context) => `effective risk ${quote(context.effectiveRisk)} not in ${list(riskClasses)}`,
    });
  }
  if (timeWindows) {
    const slots = timeSlots(timeWindows);
    checks.push({
      field: 'time_windows',
      test: (context) => slots[slotOf(context)] === 1,
      describe: (context) => {
        slotOf(context);
        return `${DAY_LABELS[context.day]} ${String(context.hour).padStart(2, '0')}h${context.clock.timeZone ? ` (${context.clock.timeZone})` : ' UTC'} is outside ${timeWindows.map(describeWindow).join(', ')}`;
      },
    });
  }
  return checks;
}

const DAY_LABELS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];

/** Index into a 7×24 slot table of the context's local time; computed at most once per evaluation. */
function slotOf(context: MatchContext): number {
  if (context.day < 0) {
    context.clock.read(context.now, context);
    if (context.day < 0 || context.hour < 0) {
      // An unreadable clock must not silently skip a time-bound rule: evaluation fails closed.
      throw new Error(`could not compute the local time of ${context.now}`);
    }
  }
  return context.day * 24 + context.hour;
}

/** Marks every (day, hour) slot a list of windows covers. */
export function timeSlots(windows: readonly TimeWindow[]): Uint8Array {
  const slots = new Uint8Array(7 * 24);
  for (const window of windows) {
    const days = window.days ?? [0, 1, 2, 3, 4, 5, 6];
    for (const day of days) {
      for (let hour = 0; hour < 24; hour += 1) {
        const inside =
          window.startHour <= window.endHour
            ? hour >= window.startHour && hour <= window.endHour
            : hour >= window.startHour || hour <= window.endHour;
        if (inside) slots[day * 24 + hour] = 1;
      }
    }
  }
  return slots;
}

function describeWindow(window: TimeWindow): string {
  const days = window.days ? window.days.map((day) => DAY_LABELS[day]?.slice(0, 3)).join('/') : 'every day';
  return `${days} ${window.startHour}–${window.endHour}h`;
}

function anyIn(values: readonly string[], set: ReadonlySet<string>): boolean {
  for (const value of values) if (set.has(value)) return true;
  return false;
}

function quote(value: string): string {
  return JSON.stringify(value.length > 120 ? `${value.slice(0, 120)}…` : value);
}

function list(values: Iterable<unknown>): string {
  const shown: string[] = [];
  let count = 0;
  for (const value of values) {
    count += 1;
    if (shown.length < 10) shown.push(String(value));
  }
  return `[${shown.join(', ')}${count > shown.length ? `, … ${count - shown.length} more` : ''}]`;
}

/** Structural checks of rules built in code; YAML-loaded rules already passed parsePolicyDocument. */
function checkRules(rules: readonly PolicyRule[]): Issue[] {
  const issues: Issue[] = [];
  if (!Array.isArray(rules)) return [{ message: 'policies must be a PolicySet or an array of rules' }];
  const seen = new Map<string, number>();
  rules.forEach((rule, index) => {
    const where = { file: rule?.source?.file, path: `rules[${rule?.source?.index ?? index}]` };
    if (typeof rule !== 'object' || rule === null) {
      issues.push({ ...where, message: 'expected a rule object' });
      return;
    }
    if (typeof rule.name !== 'string' || rule.name.length === 0) {
      issues.push({ ...where, message: 'rule name must be a non-empty string' });
    } else if (seen.has(rule.name)) {
      issues.push({
        ...where,
        message: `rule name "${rule.name}" is used twice (also rules[${seen.get(rule.name)}]); names must be unique`,
      });
    } else {
      seen.set(rule.name, index);
    }
    if (!Number.isSafeInteger(rule.priority)) {
      issues.push({ ...where, message: `rule "${rule.name}": priority must be an integer` });
    }
    if (!(DECISION_RESULTS as readonly unknown[]).includes(rule.decision)) {
      issues.push({
        ...where,
        message: `rule "${rule.name}": decision must be one of ${DECISION_RESULTS.join(', ')}`,
      });
    }
    const actions = rule.match?.actions;
    if (
      !Array.isArray(actions) ||
      actions.length === 0 ||
      actions.some((action) => typeof action !== 'string')
    ) {
      issues.push({
        ...where,
        message: `rule "${rule.name}": match.actions must be a non-empty list of strings`,
      });
    }
  });
  return issues;
}
