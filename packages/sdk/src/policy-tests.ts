import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  AgentSafeError,
  type Caller,
  DECISION_RESULTS,
  type DecisionResult,
  type DelegationLink,
  type Issue,
} from '@agent-safe/core';
import { DEFAULT_MAX_YAML_BYTES, parseYaml } from '@agent-safe/registry';
import type { AgentSafe } from './agent-safe.js';
import { readTextFileSync } from './read-text-file.js';

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
  /**
   * Evaluation time (ms since the epoch) of a `time` with a UTC offset (`Z`, `+09:00`); the run's clock
   * when neither this nor {@link localTime} is set.
   */
  readonly time?: number;
  /**
   * A `time` without an offset (`2026-03-02T14:00:00`), as written: wall-clock time in the project's
   * `time_zone` (UTC by default), resolved when the case runs, never in the host's zone.
   */
  readonly localTime?: string;
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

/**
 * Reads every `*.yaml`/`*.yml` suite under `path` (a file or a directory, searched recursively). A run
 * that would test nothing fails: no suite files, or a suite whose `tests:` list is empty.
 */
export function loadPolicyTests(path: string): PolicyTestCase[] {
  const files = collectFiles(resolve(path));
  if (files.length === 0) {
    throw new AgentSafeError(
      'FILE_UNREADABLE',
      `No *.yaml policy test files found at ${path}; pass a suite file or a directory that holds one`,
      { issues: [{ file: path, message: 'no *.yaml policy test files found' }] },
    );
  }
  const cases: PolicyTestCase[] = [];
  const issues: Issue[] = [];
  for (const file of files) {
    const raw = parseYaml(readTextFileSync(file, 'policy tests', DEFAULT_MAX_YAML_BYTES), file) as {
      tests?: unknown;
    } | null;
    if (!raw || typeof raw !== 'object' || !Array.isArray(raw.tests)) {
      issues.push({ file, path: 'tests', message: 'expected a top-level `tests:` list of cases' });
      continue;
    }
    if (raw.tests.length === 0) {
      issues.push({
        file,
        path: 'tests',
        message: 'the suite has no test cases (`tests: []`); add a case or remove the file',
      });
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

/** Options of {@link runPolicyTests}. */
export interface RunPolicyTestsOptions {
  /**
   * IANA time zone in which a case's `time` without a UTC offset is read. Default: the project's
   * `time_zone` (agent-safe.yaml), else UTC; the host's zone (`TZ`) never matters.
   */
  readonly timeZone?: string;
}

/** Runs cases against `safe` without writing its audit log. */
export function runPolicyTests(
  safe: AgentSafe,
  cases: readonly PolicyTestCase[],
  options: RunPolicyTestsOptions = {},
): PolicyTestReport {
  const timeZone = options.timeZone ?? safe.projectConfig.timeZone ?? 'UTC';
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
      {
        now:
          testCase.localTime !== undefined
            ? instantOfLocalTime(testCase.localTime, timeZone, testCase)
            : testCase.time,
      },
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
      { issues: [{ file: path, message: 'check the path' }] },
    );
  }
  if (stats.isFile()) return [path];
  if (!stats.isDirectory()) {
    throw new AgentSafeError(
      'FILE_UNREADABLE',
      `Cannot read policy tests at ${path}: not a regular file or directory (a device, pipe or socket)`,
      { issues: [{ file: path, message: 'pass a suite file or a directory of suites' }] },
    );
  }
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
  let localTime: string | undefined;
  if (r.time !== undefined && r.time !== null) {
    const parsed = parseTestTime(r.time);
    if (parsed === undefined) {
      problem(
        'time',
        `${name ? `test "${name}": ` : ''}${JSON.stringify(r.time)} is not an ISO-8601 date and time; write 2026-03-02T14:00:00Z (UTC), 2026-03-02T14:00:00+09:00, or 2026-03-02T14:00:00 (read in the project's time_zone)`,
      );
    } else if (typeof parsed === 'number') time = parsed;
    else localTime = parsed.text;
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
    ...(time !== undefined ? { time } : {}),
    ...(localTime !== undefined ? { localTime } : {}),
    expect: expect!,
    expectRule,
    file,
  };
}

// ISO 8601 extended date and time: seconds and fractions optional, then `Z`, an offset, or nothing.
const ISO_DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})?$/;

interface WallClock {
  readonly year: number;
  readonly month: number;
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
  readonly second: number;
  readonly millisecond: number;
  /** Minutes east of UTC, when the text gave an offset. */
  readonly offsetMinutes?: number;
}

/**
 * A case's `time`: ms since the epoch when it carries `Z` or an offset, the text itself when it is a
 * wall-clock time (resolved per run in the project's zone), undefined when it is not ISO 8601 or names a
 * day or hour that does not exist (Date.parse would accept `March 2, 2026` and roll `02-30` over).
 */
function parseTestTime(value: unknown): number | { text: string } | undefined {
  if (typeof value !== 'string') return undefined;
  const wall = parseWallClock(value);
  if (wall === undefined) return undefined;
  if (wall.offsetMinutes === undefined) return { text: value };
  return wallClockAsUtc(wall) - wall.offsetMinutes * 60_000;
}

function parseWallClock(text: string): WallClock | undefined {
  const match = ISO_DATE_TIME.exec(text);
  if (!match) return undefined;
  const [, year, month, day, hour, minute, second, fraction, zone] = match;
  const wall = {
    year: Number(year),
    month: Number(month),
    day: Number(day),
    hour: Number(hour),
    minute: Number(minute),
    second: second === undefined ? 0 : Number(second),
    millisecond: fraction === undefined ? 0 : Math.floor(Number(`0.${fraction}`) * 1000),
  };
  const daysInMonth = new Date(Date.UTC(wall.year, wall.month, 0)).getUTCDate();
  if (wall.month < 1 || wall.month > 12 || wall.day < 1 || wall.day > daysInMonth) return undefined;
  if (wall.hour > 23 || wall.minute > 59 || wall.second > 59) return undefined;
  if (zone === undefined) return wall;
  if (zone === 'Z') return { ...wall, offsetMinutes: 0 };
  const hours = Number(zone.slice(1, 3));
  const minutes = Number(zone.slice(4, 6));
  if (hours > 23 || minutes > 59) return undefined;
  return { ...wall, offsetMinutes: (zone[0] === '-' ? -1 : 1) * (hours * 60 + minutes) };
}

function wallClockAsUtc(wall: WallClock): number {
  const utc = new Date(0);
  // setUTCFullYear keeps years 0–99 as written (Date.UTC would map them to 1900–1999).
  utc.setUTCFullYear(wall.year, wall.month - 1, wall.day);
  utc.setUTCHours(wall.hour, wall.minute, wall.second, wall.millisecond);
  return utc.getTime();
}

/**
 * The instant at which clocks in `timeZone` show `text`. A wall time skipped by a daylight-saving jump
 * resolves to the instant after the jump by the gap's length, and a repeated one to its first occurrence
 * (what Temporal calls "compatible").
 */
function instantOfLocalTime(text: string, timeZone: string, testCase: PolicyTestCase): number {
  const wall = parseWallClock(text);
  if (wall === undefined) {
    throw new AgentSafeError(
      'CONFIG_INVALID',
      `test "${testCase.name}": time ${JSON.stringify(text)} is invalid`,
      {
        issues: [{ file: testCase.file, path: 'time', message: 'expected an ISO-8601 date and time' }],
      },
    );
  }
  const local = wallClockAsUtc(wall);
  if (timeZone === 'UTC' || timeZone === 'Etc/UTC') return local;
  const offsetAt = zoneOffset(timeZone, testCase);
  const before = offsetAt(local - 86_400_000);
  const after = offsetAt(local + 86_400_000);
  // Candidates: the wall time read with the offset in force before and after a transition that day.
  const candidates = [local - before, local - after].filter(
    (instant) => instant + offsetAt(instant) === local,
  );
  if (candidates.length > 0) return Math.min(...candidates);
  // In a gap: read the wall time with the earlier offset, which lands after the jump.
  return local - before;
}

function zoneOffset(timeZone: string, testCase: PolicyTestCase): (instant: number) => number {
  let format: Intl.DateTimeFormat;
  try {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
  } catch (error) {
    throw new AgentSafeError('CONFIG_INVALID', `unknown time zone ${JSON.stringify(timeZone)}`, {
      cause: error,
      issues: [
        { file: testCase.file, path: 'time', message: 'expected an IANA time zone such as "Europe/Paris"' },
      ],
    });
  }
  return (instant) => {
    const parts: Record<string, string> = {};
    for (const part of format.formatToParts(instant)) parts[part.type] = part.value;
    const shown = wallClockAsUtc({
      year: Number(parts.year),
      month: Number(parts.month),
      day: Number(parts.day),
      hour: Number(parts.hour),
      minute: Number(parts.minute),
      second: Number(parts.second),
      millisecond: 0,
    });
    const flooredInstant = Math.floor(instant / 1000) * 1000;
    return shown - flooredInstant;
  };
}
