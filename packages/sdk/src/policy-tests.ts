import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  AgentSafeError,
  type Caller,
  DECISION_RESULTS,
  type DecisionResult,
  type DelegationLink,
  type Issue,
} from '@agent-safe/core';
import { parseYaml } from '@agent-safe/registry';
import type { AgentSafe } from './agent-safe.js';

/** One table-driven policy test case. */
export interface PolicyTestCase {
  readonly name: string;
  readonly action: string;
  readonly target?: string;
  readonly caller: string;
  readonly callerRoles: readonly string[];
  readonly callerGroups: readonly string[];
  /** Agent ids that delegated to the caller, root first. */
  readonly delegationChain: readonly string[];
  readonly params?: Record<string, unknown>;
  readonly ticketId?: string;
  /** Evaluation time (ms since the epoch); the run's clock when absent. */
  readonly time?: number;
  readonly expect: DecisionResult;
  /** When set, the rule that must decide. */
  readonly expectRule?: string;
  readonly file: string;
}

/** Outcome of one case. */
export interface PolicyTestResult {
  readonly case: PolicyTestCase;
  readonly passed: boolean;
  readonly actual: DecisionResult;
  readonly matchedRule: string | null;
  readonly reason: string;
  /** Why it failed, for a person. */
  readonly failure?: string;
}

/** Outcome of a whole run. */
export interface PolicyTestReport {
  readonly results: readonly PolicyTestResult[];
  readonly passed: number;
  readonly failed: number;
}

const CASE_KEYS = new Set([
  'name',
  'description',
  'action',
  'target',
  'caller',
  'caller_roles',
  'caller_groups',
  'delegation_chain',
  'delegated_from',
  'params',
  'ticket_id',
  'time',
  'expect',
  'expect_rule',
]);

/** Reads every `*.yaml`/`*.yml` suite under `path` (a file or a directory, searched recursively). */
export function loadPolicyTests(path: string): PolicyTestCase[] {
  const files = collectFiles(resolve(path));
  if (files.length === 0) {
    throw new AgentSafeError('FILE_UNREADABLE', `No *.yaml policy test files found at ${path}`);
  }
  const cases: PolicyTestCase[] = [];
  const issues: Issue[] = [];
  for (const file of files) {
    const raw = parseYaml(readFileSync(file, 'utf8'), file) as { tests?: unknown } | null;
    if (!raw || typeof raw !== 'object' || !Array.isArray(raw.tests)) {
      issues.push({ file, path: 'tests', message: 'expected a top-level `tests:` list of cases' });
      continue;
    }
    raw.tests.forEach((entry, index) => {
      const parsed = parseCase(entry, file, `tests[${index}]`, issues);
      if (parsed) cases.push(parsed);
    });
  }
  if (issues.length > 0)
    throw new AgentSafeError('CONFIG_INVALID', 'Policy test files are invalid', { issues });
  return cases;
}

/** Runs cases against `safe` without writing its audit log. */
export function runPolicyTests(safe: AgentSafe, cases: readonly PolicyTestCase[]): PolicyTestReport {
  const results = cases.map((testCase): PolicyTestResult => {
    const now = Date.now();
    const delegationChain: DelegationLink[] = testCase.delegationChain.map((agentId) => ({
      agentId,
      roles: [],
      groups: [],
      delegatedAt: Math.floor(now / 1000),
    }));
    const caller: Caller = {
      agentId: testCase.caller,
      roles: testCase.callerRoles,
      groups: testCase.callerGroups,
      authenticated: false,
      delegationChain,
    };
    const decision = safe.evaluate(
      {
        action: testCase.action,
        target: testCase.target,
        caller,
        params: testCase.params,
        ticketId: testCase.ticketId,
      },
      { now: testCase.time },
    );
    let failure: string | undefined;
    if (decision.result !== testCase.expect) {
      failure = `expected ${testCase.expect}, got ${decision.result}: ${decision.reason}`;
    } else if (testCase.expectRule !== undefined && decision.matchedRule !== testCase.expectRule) {
      failure = `expected rule "${testCase.expectRule}" to decide, but it was ${decision.matchedRule ? `"${decision.matchedRule}"` : 'no rule'}`;
    }
    return {
      case: testCase,
      passed: failure === undefined,
      actual: decision.result,
      matchedRule: decision.matchedRule,
      reason: decision.reason,
      failure,
    };
  });
  const passed = results.filter((result) => result.passed).length;
  return { results, passed, failed: results.length - passed };
}

function collectFiles(path: string): string[] {
  let stats: ReturnType<typeof statSync>;
  try {
    stats = statSync(path);
  } catch (error) {
    throw new AgentSafeError(
      'FILE_UNREADABLE',
      `Cannot read policy tests at ${path}: ${(error as Error).message}`,
    );
  }
  if (stats.isFile()) return [path];
  const out: string[] = [];
  for (const entry of readdirSync(path, { withFileTypes: true }).sort((a, b) =>
    a.name.localeCompare(b.name),
  )) {
    const full = join(path, entry.name);
    if (entry.isDirectory()) out.push(...collectFiles(full));
    else if (/\.ya?ml$/.test(entry.name)) out.push(full);
  }
  return out;
}

function parseCase(entry: unknown, file: string, path: string, issues: Issue[]): PolicyTestCase | undefined {
  if (!entry || typeof entry !== 'object' || Array.isArray(entry)) {
    issues.push({ file, path, message: 'expected a mapping with name, action, target, expect …' });
    return undefined;
  }
  const r = entry as Record<string, unknown>;
  const before = issues.length;
  const problem = (field: string, message: string) =>
    issues.push({ file, path: `${path}.${field}`, message });
  for (const key of Object.keys(r)) {
    if (!CASE_KEYS.has(key)) problem(key, `unknown field; expected one of ${[...CASE_KEYS].join(', ')}`);
  }
  const string = (field: string, required: boolean): string | undefined => {
    const value = r[field];
    if (value === undefined || value === null) {
      if (required) problem(field, 'is required');
      return undefined;
    }
    if (typeof value !== 'string' || value.length === 0) {
      problem(field, `expected a non-empty string, got ${JSON.stringify(value)}`);
      return undefined;
    }
    return value;
  };
  const list = (field: string): string[] => {
    const value = r[field];
    if (value === undefined || value === null) return [];
    if (typeof value === 'string') return [value];
    if (!Array.isArray(value) || value.some((item) => typeof item !== 'string')) {
      problem(field, 'expected a list of strings');
      return [];
    }
    return value as string[];
  };
  const name = string('name', true);
  const action = string('action', true);
  const target = string('target', false);
  const caller = string('caller', false) ?? 'test-agent';
  const ticketId = string('ticket_id', false);
  const expectRule = string('expect_rule', false);
  const expectRaw = string('expect', true);
  const expect = expectRaw?.toUpperCase() as DecisionResult | undefined;
  if (expect && !DECISION_RESULTS.includes(expect))
    problem('expect', 'expected allow, deny or require_approval');
  let params: Record<string, unknown> | undefined;
  if (r.params !== undefined && r.params !== null) {
    if (typeof r.params !== 'object' || Array.isArray(r.params))
      problem('params', 'expected a mapping of params');
    else params = r.params as Record<string, unknown>;
  }
  let time: number | undefined;
  if (r.time !== undefined && r.time !== null) {
    const parsed = typeof r.time === 'string' ? Date.parse(r.time) : Number.NaN;
    if (Number.isNaN(parsed)) problem('time', 'expected an ISO-8601 timestamp such as 2026-03-02T14:00:00Z');
    else time = parsed;
  }
  const delegationChain = [...list('delegation_chain'), ...list('delegated_from')];
  if (issues.length > before) return undefined;
  return {
    name: name!,
    action: action!,
    target,
    caller,
    callerRoles: list('caller_roles'),
    callerGroups: list('caller_groups'),
    delegationChain,
    params,
    ticketId,
    time,
    expect: expect!,
    expectRule,
    file,
  };
}
