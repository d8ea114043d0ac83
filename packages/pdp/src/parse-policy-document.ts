import {
  type DecisionResult,
  type Issue,
  MAX_ID_LENGTH,
  type RiskClass,
  type Sensitivity,
  isRiskClass,
  isSensitivity,
} from '@agent-safe/core';
import type { CallerSelector, PolicyMatch, PolicyRule, TargetSelector, TimeWindow } from './policy-rule.js';

/** The rules a policy document defines and every problem found in it. */
export interface ParsedPolicyDocument {
  readonly rules: PolicyRule[];
  readonly issues: Issue[];
}

const DOCUMENT_FIELDS = ['rules'];
const RULE_FIELDS = ['name', 'description', 'priority', 'match', 'decision', 'reason'];
const MATCH_FIELDS = ['actions', 'targets', 'callers', 'time_windows', 'risk_classes', 'require_ticket'];
const TARGET_FIELDS = ['environments', 'sensitivities', 'types', 'labels'];
const CALLER_FIELDS = [
  'agent_ids',
  'roles',
  'groups',
  'delegated_from',
  'max_delegation_depth',
  'require_delegation',
];
const WINDOW_FIELDS = ['days', 'start_hour', 'end_hour'];
const DECISIONS: Record<string, DecisionResult> = {
  allow: 'ALLOW',
  deny: 'DENY',
  require_approval: 'REQUIRE_APPROVAL',
};
const DAY_NAMES = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'];
/** Longest free-text field (description, reason) accepted. */
const MAX_TEXT_LENGTH = 4096;
/** Most entries a selector list may hold: far above real use, low enough to bound memory. */
const MAX_LIST_LENGTH = 100_000;

/**
 * Validates one parsed policy document (the object YAML produced) and normalises its rules. Never
 * throws: every problem becomes an issue naming the file, the field path and what was expected, so a
 * loader can report all bad rules of all files at once. Rules with problems are left out of `rules`.
 */
export function parsePolicyDocument(raw: unknown, file: string): ParsedPolicyDocument {
  const issues: Issue[] = [];
  const rules: PolicyRule[] = [];
  if (!isRecord(raw)) {
    issues.push({
      file,
      message: `expected a mapping with a \`rules:\` list at the top level, found ${describeType(raw)}`,
    });
    return { rules, issues };
  }
  reportUnknownFields(raw, DOCUMENT_FIELDS, '', file, '', issues);
  const list = raw.rules;
  if (!Array.isArray(list)) {
    issues.push({
      file,
      path: 'rules',
      message:
        list === undefined
          ? 'missing `rules:` list (write `rules: []` for a file without rules)'
          : `expected a list of rules, found ${describeType(list)}`,
    });
    return { rules, issues };
  }
  list.forEach((entry, index) => {
    const rule = parseRule(entry, index, file, issues);
    if (rule) rules.push(rule);
  });
  return { rules, issues };
}

class RuleContext {
  failed = false;
  constructor(
    readonly file: string,
    readonly index: number,
    readonly label: string,
    readonly issues: Issue[],
  ) {}

  report(path: string, message: string): void {
    this.failed = true;
    this.issues.push({
      file: this.file,
      path: `rules[${this.index}]${path}`,
      message: `${this.label}: ${message}`,
    });
  }
}

function parseRule(entry: unknown, index: number, file: string, issues: Issue[]): PolicyRule | undefined {
  const nameValue = isRecord(entry) ? entry.name : undefined;
  const label =
    typeof nameValue === 'string' && nameValue.length > 0 && nameValue.length <= 200
      ? `rule "${nameValue}"`
      : `rule #${index}`;
  const context = new RuleContext(file, index, label, issues);
  if (!isRecord(entry)) {
    context.report('', `expected a mapping, found ${describeType(entry)}`);
    return undefined;
  }
  reportUnknownFields(entry, RULE_FIELDS, '', file, label, issues, context);

  let name = '';
  if (typeof nameValue !== 'string' || nameValue.trim().length === 0) {
    context.report('.name', 'a non-empty string is required');
  } else if (nameValue.length > MAX_ID_LENGTH) {
    context.report('.name', `longer than ${MAX_ID_LENGTH} characters`);
  } else {
    name = nameValue;
  }

  const description = optionalText(entry.description, '.description', context);
  const reason = optionalText(entry.reason, '.reason', context);

  let priority = 0;
  if (entry.priority !== undefined && entry.priority !== null) {
    if (typeof entry.priority !== 'number' || !Number.isSafeInteger(entry.priority)) {
      context.report('.priority', `expected an integer, found ${describeValue(entry.priority)}`);
    } else {
      priority = entry.priority;
    }
  }

  let decision: DecisionResult = 'DENY';
  const decisionValue = entry.decision;
  const normalisedDecision =
    typeof decisionValue === 'string' && Object.hasOwn(DECISIONS, decisionValue.toLowerCase())
      ? DECISIONS[decisionValue.toLowerCase()]
      : undefined;
  if (normalisedDecision === undefined) {
    context.report(
      '.decision',
      decisionValue === undefined
        ? 'missing; expected allow, deny or require_approval'
        : `expected allow, deny or require_approval, found ${describeValue(decisionValue)}`,
    );
  } else {
    decision = normalisedDecision;
  }

  const match = parseMatch(entry.match, context);
  if (context.failed || match === undefined) return undefined;
  return { name, description, priority, match, decision, reason, source: { file, index } };
}

function parseMatch(value: unknown, context: RuleContext): PolicyMatch | undefined {
  if (value === undefined) return { actions: ['*'] };
  if (!isRecord(value)) {
    context.report('.match', `expected a mapping, found ${describeType(value)}`);
    return undefined;
  }
  reportUnknownFields(value, MATCH_FIELDS, '.match', context.file, context.label, context.issues, context);
  const match: {
    actions: readonly string[];
    targets?: TargetSelector;
    callers?: CallerSelector;
    timeWindows?: readonly TimeWindow[];
    riskClasses?: readonly RiskClass[];
    requireTicket?: boolean;
  } = { actions: ['*'] };
  if (value.actions !== undefined) {
    const actions = stringList(value.actions, '.match.actions', context);
    if (actions) match.actions = actions;
  }
  if (value.targets !== undefined) {
    const targets = parseTargets(value.targets, context);
    if (targets) match.targets = targets;
  }
  if (value.callers !== undefined) {
    const callers = parseCallers(value.callers, context);
    if (callers) match.callers = callers;
  }
  if (value.time_windows !== undefined) {
    const windows = parseTimeWindows(value.time_windows, context);
    if (windows) match.timeWindows = windows;
  }
  if (value.risk_classes !== undefined) {
    const riskClasses = closedList(
      value.risk_classes,
      '.match.risk_classes',
      context,
      isRiskClass,
      'risk class',
    );
    if (riskClasses) match.riskClasses = riskClasses;
  }
  if (value.require_ticket !== undefined && value.require_ticket !== null) {
    if (typeof value.require_ticket !== 'boolean') {
      context.report(
        '.match.require_ticket',
        `expected true, false or null, found ${describeValue(value.require_ticket)}`,
      );
    } else {
      match.requireTicket = value.require_ticket;
    }
  }
  return match;
}

function parseTargets(value: unknown, context: RuleContext): TargetSelector | undefined {
  const path = '.match.targets';
  if (!isRecord(value)) {
    context.report(
      path,
      value === null
        ? 'is empty; remove it to match every target, or add selectors'
        : `expected a mapping, found ${describeType(value)}`,
    );
    return undefined;
  }
  reportUnknownFields(value, TARGET_FIELDS, path, context.file, context.label, context.issues, context);
  const selector: {
    environments?: readonly string[];
    sensitivities?: readonly Sensitivity[];
    types?: readonly string[];
    labels?: Readonly<Record<string, string>>;
  } = {};
  if (value.environments !== undefined) {
    const environments = stringList(value.environments, `${path}.environments`, context);
    if (environments) selector.environments = environments;
  }
  if (value.sensitivities !== undefined) {
    const sensitivities = closedList(
      value.sensitivities,
      `${path}.sensitivities`,
      context,
      isSensitivity,
      'sensitivity',
    );
    if (sensitivities) selector.sensitivities = sensitivities;
  }
  if (value.types !== undefined) {
    const types = stringList(value.types, `${path}.types`, context);
    if (types) selector.types = types;
  }
  if (value.labels !== undefined) {
    const labels = parseLabels(value.labels, `${path}.labels`, context);
    if (labels) selector.labels = labels;
  }
  return selector;
}

function parseLabels(value: unknown, path: string, context: RuleContext): Record<string, string> | undefined {
  if (!isRecord(value)) {
    context.report(path, `expected a mapping of label names to values, found ${describeType(value)}`);
    return undefined;
  }
  const keys = Object.keys(value);
  if (keys.length === 0) {
    context.report(path, 'is empty; remove it to match every target, or list label pairs');
    return undefined;
  }
  // A null prototype keeps keys such as `__proto__` or `constructor` plain data.
  const labels: Record<string, string> = Object.create(null);
  for (const key of keys) {
    const labelValue = value[key];
    if (key.length === 0 || key.length > MAX_ID_LENGTH) {
      context.report(
        `${path}`,
        `label name ${JSON.stringify(key.slice(0, 80))} must be 1–${MAX_ID_LENGTH} characters`,
      );
    } else if (typeof labelValue === 'string' && labelValue.length <= MAX_ID_LENGTH) {
      labels[key] = labelValue;
    } else if (typeof labelValue === 'number' && Number.isFinite(labelValue)) {
      labels[key] = String(labelValue);
    } else if (typeof labelValue === 'boolean') {
      labels[key] = String(labelValue);
    } else {
      context.report(`${path}.${key}`, `expected a string value, found ${describeValue(labelValue)}`);
    }
  }
  return labels;
}

function parseCallers(value: unknown, context: RuleContext): CallerSelector | undefined {
  const path = '.match.callers';
  if (!isRecord(value)) {
    context.report(
      path,
      value === null
        ? 'is empty; remove it to match every caller, or add selectors'
        : `expected a mapping, found ${describeType(value)}`,
    );
    return undefined;
  }
  reportUnknownFields(value, CALLER_FIELDS, path, context.file, context.label, context.issues, context);
  const selector: {
    agentIds?: readonly string[];
    roles?: readonly string[];
    groups?: readonly string[];
    delegatedFrom?: readonly string[];
    maxDelegationDepth?: number;
    requireDelegation?: boolean;
  } = {};
  if (value.agent_ids !== undefined) {
    const list = stringList(value.agent_ids, `${path}.agent_ids`, context);
    if (list) selector.agentIds = list;
  }
  if (value.roles !== undefined) {
    const list = stringList(value.roles, `${path}.roles`, context);
    if (list) selector.roles = list;
  }
  if (value.groups !== undefined) {
    const list = stringList(value.groups, `${path}.groups`, context);
    if (list) selector.groups = list;
  }
  if (value.delegated_from !== undefined) {
    const list = stringList(value.delegated_from, `${path}.delegated_from`, context);
    if (list) selector.delegatedFrom = list;
  }
  const depth = value.max_delegation_depth;
  if (depth !== undefined && depth !== null) {
    if (typeof depth !== 'number' || !Number.isSafeInteger(depth) || depth < 0) {
      context.report(
        `${path}.max_delegation_depth`,
        `expected an integer ≥ 0, found ${describeValue(depth)}`,
      );
    } else {
      selector.maxDelegationDepth = depth;
    }
  }
  const requireDelegation = value.require_delegation;
  if (requireDelegation !== undefined && requireDelegation !== null) {
    if (typeof requireDelegation !== 'boolean') {
      context.report(
        `${path}.require_delegation`,
        `expected true, false or null, found ${describeValue(requireDelegation)}`,
      );
    } else {
      selector.requireDelegation = requireDelegation;
    }
  }
  return selector;
}

function parseTimeWindows(value: unknown, context: RuleContext): TimeWindow[] | undefined {
  const path = '.match.time_windows';
  if (!Array.isArray(value)) {
    context.report(path, `expected a list of time windows, found ${describeType(value)}`);
    return undefined;
  }
  if (value.length === 0) {
    context.report(path, 'is an empty list, which would match nothing; remove it to match at any time');
    return undefined;
  }
  const windows: TimeWindow[] = [];
  value.forEach((entry, index) => {
    const windowPath = `${path}[${index}]`;
    if (!isRecord(entry)) {
      context.report(
        windowPath,
        `expected a mapping with days, start_hour, end_hour, found ${describeType(entry)}`,
      );
      return;
    }
    reportUnknownFields(
      entry,
      WINDOW_FIELDS,
      windowPath,
      context.file,
      context.label,
      context.issues,
      context,
    );
    const startHour = hour(entry.start_hour, 0, `${windowPath}.start_hour`, context);
    const endHour = hour(entry.end_hour, 23, `${windowPath}.end_hour`, context);
    let days: number[] | undefined;
    if (entry.days !== undefined) days = parseDays(entry.days, `${windowPath}.days`, context);
    if (startHour === undefined || endHour === undefined) return;
    if (entry.days !== undefined && days === undefined) return;
    windows.push(days === undefined ? { startHour, endHour } : { days, startHour, endHour });
  });
  return windows;
}

function hour(value: unknown, fallback: number, path: string, context: RuleContext): number | undefined {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 23) {
    context.report(path, `expected an hour from 0 to 23, found ${describeValue(value)}`);
    return undefined;
  }
  return value;
}

function parseDays(value: unknown, path: string, context: RuleContext): number[] | undefined {
  if (!Array.isArray(value)) {
    context.report(
      path,
      `expected a list of days (0=Monday … 6=Sunday, or mon … sun), found ${describeType(value)}`,
    );
    return undefined;
  }
  if (value.length === 0) {
    context.report(path, 'is an empty list, which would match no day; remove it to match every day');
    return undefined;
  }
  const days = new Set<number>();
  let ok = true;
  value.forEach((entry, index) => {
    const day = dayNumber(entry);
    if (day === undefined) {
      ok = false;
      context.report(
        `${path}[${index}]`,
        `expected 0–6 (0=Monday) or a day name such as mon or monday, found ${describeValue(entry)}`,
      );
    } else {
      days.add(day);
    }
  });
  return ok ? [...days].sort((a, b) => a - b) : undefined;
}

function dayNumber(value: unknown): number | undefined {
  if (typeof value === 'number')
    return Number.isInteger(value) && value >= 0 && value <= 6 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const lower = value.trim().toLowerCase();
  const index = DAY_NAMES.findIndex(
    (name) => name === lower || (lower.length === 3 && name.startsWith(lower)),
  );
  return index === -1 ? undefined : index;
}

function stringList(value: unknown, path: string, context: RuleContext): string[] | undefined {
  if (!Array.isArray(value)) {
    context.report(
      path,
      value === null
        ? 'is empty, which would match nothing; remove the field to match everything, or list values'
        : `expected a list of strings, found ${describeType(value)}`,
    );
    return undefined;
  }
  if (value.length === 0) {
    context.report(path, 'is an empty list, which would match nothing; remove the field to match everything');
    return undefined;
  }
  if (value.length > MAX_LIST_LENGTH) {
    context.report(path, `has ${value.length} entries; at most ${MAX_LIST_LENGTH} are accepted`);
    return undefined;
  }
  const out: string[] = [];
  let ok = true;
  value.forEach((entry, index) => {
    if (typeof entry !== 'string' || entry.length === 0 || entry.length > MAX_ID_LENGTH) {
      ok = false;
      context.report(
        `${path}[${index}]`,
        `expected a non-empty string of at most ${MAX_ID_LENGTH} characters, found ${describeValue(entry)}`,
      );
    } else if (!out.includes(entry)) {
      out.push(entry);
    }
  });
  return ok ? out : undefined;
}

function closedList<T extends string>(
  value: unknown,
  path: string,
  context: RuleContext,
  accepts: (candidate: unknown) => candidate is T,
  what: string,
): T[] | undefined {
  const strings = stringList(value, path, context);
  if (!strings) return undefined;
  const out: T[] = [];
  let ok = true;
  strings.forEach((entry, index) => {
    const lower = entry.toLowerCase();
    if (accepts(lower)) {
      if (!out.includes(lower)) out.push(lower);
    } else {
      ok = false;
      context.report(`${path}[${index}]`, `${JSON.stringify(entry.slice(0, 80))} is not a known ${what}`);
    }
  });
  return ok ? out : undefined;
}

function optionalText(value: unknown, path: string, context: RuleContext): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') {
    context.report(path, `expected a string, found ${describeType(value)}`);
    return '';
  }
  if (value.length > MAX_TEXT_LENGTH) {
    context.report(path, `longer than ${MAX_TEXT_LENGTH} characters`);
    return '';
  }
  return value;
}

function reportUnknownFields(
  value: Record<string, unknown>,
  allowed: readonly string[],
  path: string,
  file: string,
  label: string,
  issues: Issue[],
  context?: RuleContext,
): void {
  for (const key of Object.keys(value)) {
    if (allowed.includes(key)) continue;
    const hint = closest(key, allowed);
    const message = `unknown field ${JSON.stringify(key.slice(0, 80))}${hint ? ` (did you mean "${hint}"?)` : ''}; expected one of ${allowed.join(', ')}`;
    if (context) {
      context.report(`${path}.${key}`, message);
    } else {
      issues.push({
        file,
        path: `${path ? `${path}.` : ''}${key}`,
        message: label ? `${label}: ${message}` : message,
      });
    }
  }
}

/** A known field within edit distance 2 of a misspelt one, for "did you mean". */
function closest(key: string, candidates: readonly string[]): string | undefined {
  if (key.length > 64) return undefined;
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of candidates) {
    const distance = editDistance(key.toLowerCase(), candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) {
      current[j] = Math.min(
        (previous[j] ?? 0) + 1,
        (current[j - 1] ?? 0) + 1,
        (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `a ${typeof value} (${describeValue(value)})`;
}

function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  if (value === null || typeof value !== 'object') return String(value);
  return Array.isArray(value) ? 'a list' : 'a mapping';
}
