import {
  type ActionDefinition,
  type ActionLookup,
  RISK_CLASSES,
  SENSITIVITIES,
  type TargetDefinition,
  type TargetLookup,
  riskRank,
} from '@agent-safe/core';
import { RISK_MATRIX } from '@agent-safe/risk';
import { strictness, timeSlots } from './compiled-rule.js';
import { globCovers, globMatch, isGlob } from './glob.js';
import type { CallerSelector, PolicyRule, PolicySet, TargetSelector } from './policy-rule.js';

/** Kinds of problem {@link analysePolicies} reports. */
export type FindingKind =
  | 'shadowed'
  | 'conflict'
  | 'unknown-action'
  | 'unknown-environment'
  | 'unknown-target-type'
  | 'unreachable';

/** One problem found in a rule set. */
export interface Finding {
  readonly kind: FindingKind;
  readonly severity: 'error' | 'warning';
  readonly rule: string;
  /** The other rule involved (the shadowing rule, the conflicting rule). */
  readonly otherRule?: string;
  readonly message: string;
  /** File the rule came from, when known. */
  readonly file?: string;
}

/** Options of {@link analysePolicies}. */
export interface AnalysePoliciesOptions {
  readonly rules: readonly PolicyRule[] | PolicySet;
  /** The registry: enables unknown-action checks and reasoning about actions' risk and target types. */
  readonly actions?: ActionLookup;
  /** The inventory: enables unknown-environment checks. */
  readonly targets?: TargetLookup;
  /**
   * Every inventory target. When given (or when `targets` can be iterated or has a `list()` method),
   * shadowing and conflicts are judged against the actual (action, target) pairs, e.g. to see that
   * every target a rule can reach makes the effective risk critical.
   */
  readonly inventory?: Iterable<TargetDefinition>;
}

const ALL_RISKS = 0b1111;
const ALL_SLOTS = 7 * 24;
/** Largest action × target product examined per rule before falling back to per-selector reasoning. */
const PAIR_BUDGET = 250_000;

interface Pair {
  readonly action: ActionDefinition;
  readonly target: TargetDefinition;
  readonly risk: number;
}

interface Shape {
  readonly rule: PolicyRule;
  readonly order: number;
  readonly strictness: number;
  readonly exact: ReadonlySet<string>;
  readonly globs: readonly string[];
  readonly universal: boolean;
  /** Registered actions the rule can match; undefined without a registry. */
  readonly actionDefs: readonly ActionDefinition[] | undefined;
  /** Risk classes (bit mask) the rule accepts; ALL_RISKS when it has no `risk_classes`. */
  readonly riskMask: number;
  /** Effective risks a request matching every other selector could have. */
  readonly possibleRisks: number;
  /** 7×24 table, or undefined for "any time". */
  readonly slots: Uint8Array | undefined;
  readonly mustBeDelegated: boolean;
  readonly mustNotBeDelegated: boolean;
  /** Concrete pairs, computed on demand: null when too many or when the inventory is unknown. */
  pairs: readonly Pair[] | null | undefined;
  unreachable: string | undefined;
}

/**
 * Static analysis of a rule set for `validate`: shadowed rules (can never decide because a rule
 * evaluated earlier matches everything they match), conflicts (equal priority, different decisions,
 * overlapping matches), references to unknown actions, environments and target types, and rules that
 * can match nothing. Shadowing is only claimed when it is proven; with an inventory the proof is
 * relative to the targets that exist now, and the message says so.
 */
export function analysePolicies(options: AnalysePoliciesOptions): Finding[] {
  const rules = Array.isArray(options.rules)
    ? (options.rules as readonly PolicyRule[])
    : (options.rules as PolicySet).rules;
  const actions = options.actions;
  const inventory = options.inventory ? [...options.inventory] : enumerate(options.targets);
  const findings: Finding[] = [];
  const registered = actions ? allActions(actions) : undefined;
  const byEnvironment = inventory ? indexByEnvironment(inventory) : undefined;

  const order = rules.map((rule, index) => ({ rule, index }));
  order.sort((a, b) => b.rule.priority - a.rule.priority || a.index - b.index);
  const shapes = order.map(({ rule }, position) => shapeOf(rule, position, registered));

  const known: KnownNames = {
    environments: options.targets?.environments(),
    actionTargetTypes: registered ? new Set(registered.flatMap((action) => action.targetTypes)) : undefined,
    inventoryTypes: inventory ? new Set([...inventory].map((target) => target.type)) : undefined,
  };
  for (const shape of shapes) referenceFindings(shape, options.actions, registered, known, findings);
  for (const shape of shapes) {
    const why = contradiction(shape, registered !== undefined);
    if (why !== undefined) shape.unreachable = why;
    else if (registered && byEnvironment && pairsOf(shape, byEnvironment)?.length === 0) {
      shape.unreachable =
        'no registered action and inventory target satisfy it together (check its actions, target selectors, and the actions\u2019 target types)';
    }
    if (shape.unreachable !== undefined && !(shape.actionDefs?.length === 0)) {
      findings.push(
        finding('unreachable', 'warning', shape, undefined, `can never match: ${shape.unreachable}`),
      );
    }
  }

  const shadowed = new Set<Shape>();
  const reportShadow = (rule: Shape, by: Shape) => {
    if (shadowed.has(rule)) return;
    shadowed.add(rule);
    findings.push(shadowFinding(rule, by, byEnvironment !== undefined));
  };
  for (let low = 0; low < shapes.length; low += 1) {
    const lower = shapes[low]!;
    if (lower.unreachable !== undefined || lower.actionDefs?.length === 0) continue;
    for (let high = 0; high < low; high += 1) {
      const higher = shapes[high]!;
      if (higher.unreachable !== undefined || higher.actionDefs?.length === 0) continue;
      const samePriority = higher.rule.priority === lower.rule.priority;
      if (samePriority && higher.strictness === lower.strictness) continue;
      if (samePriority && higher.strictness < lower.strictness) {
        // The lower-ranked rule is the stricter one: it may shadow the higher-ranked one instead.
        if (covers(lower, higher, byEnvironment)) {
          reportShadow(higher, lower);
        } else if (overlaps(higher, lower, byEnvironment)) {
          findings.push(conflictFinding(higher, lower));
        }
        continue;
      }
      if (covers(higher, lower, byEnvironment)) {
        reportShadow(lower, higher);
        break;
      }
      if (samePriority && overlaps(higher, lower, byEnvironment))
        findings.push(conflictFinding(lower, higher));
    }
  }
  return findings;
}

function shapeOf(
  rule: PolicyRule,
  order: number,
  registered: readonly ActionDefinition[] | undefined,
): Shape {
  const exact = new Set<string>();
  const globs: string[] = [];
  let universal = false;
  for (const pattern of rule.match.actions) {
    if (/^\*+$/.test(pattern)) universal = true;
    else if (isGlob(pattern)) globs.push(pattern);
    else exact.add(pattern);
  }
  const matcher = (name: string) =>
    universal || exact.has(name) || globs.some((glob) => globMatch(glob, name));
  const actionDefs = registered?.filter((action) => matcher(action.name));
  let riskMask = ALL_RISKS;
  if (rule.match.riskClasses) {
    riskMask = 0;
    for (const riskClass of rule.match.riskClasses) riskMask |= 1 << riskRank(riskClass);
  }
  const actionRisks = actionDefs ? actionDefs.map((action) => action.riskClass) : RISK_CLASSES;
  const sensitivities = rule.match.targets?.sensitivities ?? SENSITIVITIES;
  let possibleRisks = 0;
  for (const actionRisk of actionRisks) {
    for (const sensitivity of sensitivities)
      possibleRisks |= 1 << riskRank(RISK_MATRIX[actionRisk][sensitivity]);
  }
  possibleRisks &= riskMask;
  const callers = rule.match.callers;
  return {
    rule,
    order,
    strictness: strictness(rule.decision),
    exact,
    globs,
    universal,
    actionDefs,
    riskMask,
    possibleRisks,
    slots: rule.match.timeWindows ? timeSlots(rule.match.timeWindows) : undefined,
    mustBeDelegated: callers?.requireDelegation === true || callers?.delegatedFrom !== undefined,
    mustNotBeDelegated: callers?.requireDelegation === false || callers?.maxDelegationDepth === 0,
    pairs: undefined,
    unreachable: undefined,
  };
}

function matchesActionName(shape: Shape, name: string): boolean {
  return shape.universal || shape.exact.has(name) || shape.globs.some((glob) => globMatch(glob, name));
}

function contradiction(shape: Shape, withRegistry: boolean): string | undefined {
  if (shape.mustBeDelegated && shape.mustNotBeDelegated) {
    return 'its caller selectors require a delegated caller and a non-delegated one at once';
  }
  if (shape.possibleRisks === 0) {
    return withRegistry
      ? 'none of its actions can reach any of its risk_classes on the sensitivities it allows'
      : 'its risk_classes cannot be reached on the sensitivities it allows';
  }
  if (shape.slots !== undefined && !shape.slots.includes(1)) return 'its time windows cover no hour';
  return undefined;
}

/** True when every request `lower` matches is also matched by `higher`. Sound, not complete. */
function covers(
  higher: Shape,
  lower: Shape,
  byEnvironment: Map<string, TargetDefinition[]> | undefined,
): boolean {
  const h = higher.rule.match;
  const l = lower.rule.match;
  if (h.requireTicket !== undefined && h.requireTicket !== l.requireTicket) return false;
  if (!callersCovered(lower, h.callers, l.callers)) return false;
  if (higher.slots !== undefined) {
    if (lower.slots === undefined) {
      if (higher.slots.indexOf(0) !== -1) return false;
    } else {
      for (let slot = 0; slot < ALL_SLOTS; slot += 1)
        if (lower.slots[slot] === 1 && higher.slots[slot] !== 1) return false;
    }
  }
  if (!actionsCovered(higher, lower)) return false;
  const pairs = byEnvironment && lower.actionDefs ? pairsOf(lower, byEnvironment) : null;
  if (pairs) {
    for (const pair of pairs) {
      if (!targetMatches(h.targets, pair.target)) return false;
      if ((higher.riskMask & (1 << pair.risk)) === 0) return false;
    }
    return true;
  }
  if (!targetsCovered(h.targets, l.targets, lower)) return false;
  return (lower.possibleRisks & ~higher.riskMask) === 0;
}

function actionsCovered(higher: Shape, lower: Shape): boolean {
  if (higher.universal) return true;
  if (lower.actionDefs) return lower.actionDefs.every((action) => matchesActionName(higher, action.name));
  if (lower.universal) return false;
  const patterns = [...higher.exact, ...higher.globs];
  const coveredBySome = (pattern: string) => patterns.some((outer) => globCovers(outer, pattern));
  return [...lower.exact].every(coveredBySome) && lower.globs.every(coveredBySome);
}

function callersCovered(lower: Shape, h: CallerSelector | undefined, l: CallerSelector | undefined): boolean {
  if (h === undefined) return true;
  if (!listCovered(h.agentIds, l?.agentIds)) return false;
  if (!listCovered(h.roles, l?.roles)) return false;
  if (!listCovered(h.groups, l?.groups)) return false;
  if (!listCovered(h.delegatedFrom, l?.delegatedFrom)) return false;
  if (h.requireDelegation === true && !lower.mustBeDelegated) return false;
  if (h.requireDelegation === false && !lower.mustNotBeDelegated) return false;
  if (h.maxDelegationDepth !== undefined && !lower.mustNotBeDelegated) {
    if (l?.maxDelegationDepth === undefined || l.maxDelegationDepth > h.maxDelegationDepth) return false;
  }
  return true;
}

/** An outer list (OR of values) accepts everything an inner one does; absent means "anything". */
function listCovered(outer: readonly string[] | undefined, inner: readonly string[] | undefined): boolean {
  if (outer === undefined) return true;
  if (inner === undefined) return false;
  return inner.every((value) => outer.includes(value));
}

function targetsCovered(h: TargetSelector | undefined, l: TargetSelector | undefined, lower: Shape): boolean {
  if (h === undefined) return true;
  if (!listCovered(h.environments, l?.environments)) return false;
  if (!listCovered(h.sensitivities, l?.sensitivities)) return false;
  if (h.types !== undefined) {
    // Without a `types` selector the lower rule still only reaches its actions' target types.
    const reachable = l?.types ?? lower.actionDefs?.flatMap((action) => action.targetTypes);
    if (reachable === undefined || !reachable.every((type) => h.types!.includes(type))) return false;
  }
  if (h.labels !== undefined) {
    for (const key of Object.keys(h.labels)) {
      if (l?.labels === undefined || !Object.hasOwn(l.labels, key) || l.labels[key] !== h.labels[key])
        return false;
    }
  }
  return true;
}

/** True when some request could match both rules. Errs towards "yes" where it cannot tell. */
function overlaps(a: Shape, b: Shape, byEnvironment: Map<string, TargetDefinition[]> | undefined): boolean {
  const x = a.rule.match;
  const y = b.rule.match;
  if (x.requireTicket !== undefined && y.requireTicket !== undefined && x.requireTicket !== y.requireTicket)
    return false;
  if (x.callers?.agentIds && y.callers?.agentIds && !intersects(x.callers.agentIds, y.callers.agentIds))
    return false;
  const mustBe = a.mustBeDelegated || b.mustBeDelegated;
  if (mustBe && (a.mustNotBeDelegated || b.mustNotBeDelegated)) return false;
  if (a.slots && b.slots && !a.slots.some((value, slot) => value === 1 && b.slots![slot] === 1)) return false;
  if (a.actionDefs && b.actionDefs) {
    const names = new Set(b.actionDefs.map((action) => action.name));
    if (!a.actionDefs.some((action) => names.has(action.name))) return false;
  } else if (!a.universal && !b.universal && !(a.globs.length > 0 && b.globs.length > 0)) {
    const anyExact =
      [...a.exact].some((name) => matchesActionName(b, name)) ||
      [...b.exact].some((name) => matchesActionName(a, name));
    if (!anyExact) return false;
  }
  const pairs = byEnvironment && a.actionDefs ? pairsOf(a, byEnvironment) : null;
  if (pairs) {
    return pairs.some(
      (pair) =>
        matchesActionName(b, pair.action.name) &&
        targetMatches(y.targets, pair.target) &&
        (b.riskMask & (1 << pair.risk)) !== 0,
    );
  }
  const s = x.targets;
  const t = y.targets;
  if (s?.environments && t?.environments && !intersects(s.environments, t.environments)) return false;
  if (s?.types && t?.types && !intersects(s.types, t.types)) return false;
  if (s?.sensitivities && t?.sensitivities && !intersects(s.sensitivities, t.sensitivities)) return false;
  if (s?.labels && t?.labels) {
    for (const key of Object.keys(s.labels)) {
      if (Object.hasOwn(t.labels, key) && t.labels[key] !== s.labels[key]) return false;
    }
  }
  return (a.possibleRisks & b.possibleRisks) !== 0;
}

function intersects(a: readonly string[], b: readonly string[]): boolean {
  return a.some((value) => b.includes(value));
}

function targetMatches(selector: TargetSelector | undefined, target: TargetDefinition): boolean {
  if (selector === undefined) return true;
  if (selector.environments && !selector.environments.includes(target.environment)) return false;
  if (selector.types && !selector.types.includes(target.type)) return false;
  if (selector.sensitivities && !selector.sensitivities.includes(target.sensitivity)) return false;
  if (selector.labels) {
    for (const key of Object.keys(selector.labels)) {
      if (!Object.hasOwn(target.labels, key) || target.labels[key] !== selector.labels[key]) return false;
    }
  }
  return true;
}

/** Every (action, target) pair a rule can apply to with its effective risk, or null past the budget. */
function pairsOf(shape: Shape, byEnvironment: Map<string, TargetDefinition[]>): readonly Pair[] | null {
  if (shape.pairs !== undefined) return shape.pairs;
  const actions = shape.actionDefs;
  if (actions === undefined) {
    shape.pairs = null;
    return null;
  }
  const selector = shape.rule.match.targets;
  const candidates: TargetDefinition[] = [];
  const environments = selector?.environments ?? [...byEnvironment.keys()];
  for (const environment of environments) {
    for (const target of byEnvironment.get(environment) ?? [])
      if (targetMatches(selector, target)) candidates.push(target);
  }
  if (candidates.length * actions.length > PAIR_BUDGET) {
    shape.pairs = null;
    return null;
  }
  const pairs: Pair[] = [];
  for (const action of actions) {
    for (const target of candidates) {
      if (!action.targetTypes.includes(target.type)) continue;
      const risk = riskRank(RISK_MATRIX[action.riskClass][target.sensitivity]);
      if ((shape.riskMask & (1 << risk)) === 0) continue;
      pairs.push({ action, target, risk });
    }
  }
  shape.pairs = pairs;
  return pairs;
}

interface KnownNames {
  readonly environments: ReadonlySet<string> | undefined;
  readonly actionTargetTypes: ReadonlySet<string> | undefined;
  readonly inventoryTypes: ReadonlySet<string> | undefined;
}

function referenceFindings(
  shape: Shape,
  actions: ActionLookup | undefined,
  registered: readonly ActionDefinition[] | undefined,
  known: KnownNames,
  findings: Finding[],
): void {
  if (actions && registered) {
    for (const name of shape.exact) {
      if (actions.get(name) === undefined) {
        findings.push(
          finding(
            'unknown-action',
            'error',
            shape,
            undefined,
            `action "${name}" is not in the registry (typo? see \`agent-safe list-actions\`)`,
          ),
        );
      }
    }
    for (const glob of shape.globs) {
      if (!registered.some((action) => globMatch(glob, action.name))) {
        findings.push(
          finding(
            'unknown-action',
            'warning',
            shape,
            undefined,
            `pattern "${glob}" matches no registered action`,
          ),
        );
      }
    }
  }
  const selector = shape.rule.match.targets;
  if (known.environments && selector?.environments) {
    const environments = known.environments;
    for (const environment of selector.environments) {
      if (!environments.has(environment)) {
        findings.push(
          finding(
            'unknown-environment',
            'error',
            shape,
            undefined,
            `environment "${environment}" is not the environment of any inventory target (known: ${[...environments].sort().join(', ') || 'none'})`,
          ),
        );
      }
    }
  }
  if (selector?.types) {
    for (const type of selector.types) {
      const actionKnows = known.actionTargetTypes === undefined || known.actionTargetTypes.has(type);
      const inventoryKnows = known.inventoryTypes === undefined || known.inventoryTypes.has(type);
      if (!actionKnows || !inventoryKnows) {
        findings.push(
          finding(
            'unknown-target-type',
            'warning',
            shape,
            undefined,
            `target type "${type}" is ${!actionKnows ? 'not a target type of any registered action' : 'not the type of any inventory target'}`,
          ),
        );
      }
    }
  }
}

function shadowFinding(shadowed: Shape, by: Shape, withInventory: boolean): Finding {
  const same = shadowed.rule.decision === by.rule.decision;
  const tie = shadowed.rule.priority === by.rule.priority;
  const because = tie
    ? `at equal priority the more restrictive ${by.rule.decision} of "${by.rule.name}" wins`
    : `"${by.rule.name}" (priority ${by.rule.priority}) is evaluated first`;
  return finding(
    'shadowed',
    same ? 'warning' : 'error',
    shadowed,
    by,
    `rule "${shadowed.rule.name}" (priority ${shadowed.rule.priority}, ${shadowed.rule.decision}) can never decide: rule "${by.rule.name}" (${by.rule.decision}) matches every request it matches${withInventory ? ' with the current registry and inventory' : ''}, and ${because}. ${same ? 'It is redundant; remove it.' : `Requests it was written for get ${by.rule.decision}, not ${shadowed.rule.decision}: raise its priority above ${by.rule.priority} or narrow "${by.rule.name}".`}`,
  );
}

function conflictFinding(a: Shape, b: Shape): Finding {
  const winner = a.strictness > b.strictness ? a : b;
  return finding(
    'conflict',
    'warning',
    a,
    b,
    `rules "${a.rule.name}" (${a.rule.decision}) and "${b.rule.name}" (${b.rule.decision}) have the same priority ${a.rule.priority} and can match the same request; the more restrictive ${winner.rule.decision} ("${winner.rule.name}") wins. Give them different priorities to make the intent explicit.`,
  );
}

function finding(
  kind: FindingKind,
  severity: 'error' | 'warning',
  shape: Shape,
  other: Shape | undefined,
  message: string,
): Finding {
  const file = shape.rule.source?.file;
  return {
    kind,
    severity,
    rule: shape.rule.name,
    ...(other ? { otherRule: other.rule.name } : {}),
    message: kind === 'shadowed' || kind === 'conflict' ? message : `rule "${shape.rule.name}": ${message}`,
    ...(file ? { file } : {}),
  };
}

function allActions(actions: ActionLookup): ActionDefinition[] {
  const out: ActionDefinition[] = [];
  for (const name of actions.names()) {
    const action = actions.get(name);
    if (action) out.push(action);
  }
  return out;
}

function indexByEnvironment(inventory: Iterable<TargetDefinition>): Map<string, TargetDefinition[]> {
  const index = new Map<string, TargetDefinition[]>();
  for (const target of inventory) {
    const list = index.get(target.environment);
    if (list) list.push(target);
    else index.set(target.environment, [target]);
  }
  return index;
}

/** Targets of an inventory that can list them (an iterable, or one with `list()`), else undefined. */
function enumerate(targets: TargetLookup | undefined): Iterable<TargetDefinition> | undefined {
  if (targets === undefined) return undefined;
  const candidate = targets as unknown as {
    list?: () => Iterable<TargetDefinition>;
    [Symbol.iterator]?: () => Iterator<TargetDefinition>;
  };
  if (typeof candidate.list === 'function') return [...candidate.list()];
  if (typeof candidate[Symbol.iterator] === 'function') return [...(candidate as Iterable<TargetDefinition>)];
  return undefined;
}
