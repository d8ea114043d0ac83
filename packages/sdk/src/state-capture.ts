import {
  type ActionLookup,
  AgentSafeError,
  type AuditEvent,
  type AuditEventBody,
  isSafeId,
  randomId,
} from '@agent-safe/core';
import { readAuditLog } from '@agent-safe/audit';
import { maskCapturedState, stateDiff } from '@agent-safe/runner';
import { maskParams } from './masking.js';
import { valueProblem } from './request-checks.js';

/**
 * State captures: the before/after state of the object an approved action changed, stored as
 * `state_capture` audit events linked to the decision (`decision_audit_id`). The runner writes them when
 * it executes; agents that execute themselves write them with `recordBeforeState` / `recordAfterState` /
 * `recordState` (the seeds' API), in the same shape, so rollback plans read either.
 */

/** One `state_capture` event, as read back from the audit log. */
export interface StateCaptureRecord {
  /** Id of the `state_capture` event. */
  readonly eventId: string;
  readonly timestamp: string;
  /** Audit id of the ALLOW decision the state belongs to. */
  readonly decisionAuditId: string;
  readonly action: string;
  readonly target: string;
  readonly caller: string | null;
  /** The decision's params, sensitive values masked (`***`). */
  readonly params: Readonly<Record<string, unknown>>;
  /** As logged: state fields the action marks `sensitive` are masked (`***`), here and below. */
  readonly beforeState: Readonly<Record<string, unknown>>;
  /** Null while only the before-state was recorded (or the runner could not read the after-state). */
  readonly afterState: Readonly<Record<string, unknown>> | null;
  /** Field → `{ before, after }` for each changed field; null without an after-state. */
  readonly diff: Readonly<Record<string, { readonly before: unknown; readonly after: unknown }>> | null;
  /** `runner` (with the executor's name) or `sdk` (recorded by the agent through recordState …). */
  readonly recordedBy: string;
  /** The runner's `execution` event, when the runner wrote the capture. */
  readonly executionId?: string;
}

/** State-capture coverage of one action: how many of its ALLOW decisions have a capture. */
export interface ActionStateCoverage {
  readonly action: string;
  /** ALLOW decisions of this action in the log. */
  readonly allowed: number;
  /** Of those, how many have at least one state capture. */
  readonly captured: number;
  /** Of those, how many have a capture with both before- and after-state. */
  readonly complete: number;
  /** `captured / allowed` (0 when nothing was allowed). */
  readonly coverage: number;
}

/** {@link stateCoverage}'s report. */
export interface StateCoverageReport {
  readonly allowed: number;
  readonly captured: number;
  readonly complete: number;
  readonly coverage: number;
  /** Per action, sorted by name. */
  readonly actions: readonly ActionStateCoverage[];
  /**
   * Captures whose decision is not an ALLOW decision of this log (rotated away, another log's, or
   * written by something else): worth a look.
   */
  readonly unmatchedCaptures: number;
}

/** `event_type` of the events this module reads and writes. */
export const STATE_CAPTURE_EVENT = 'state_capture';

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Throws INPUT_INVALID unless `auditId` is a safe id string (never echoes an unsafe one). */
export function requireAuditId(auditId: unknown, name = 'auditId'): string {
  if (typeof auditId !== 'string' || auditId === '' || !isSafeId(auditId)) {
    throw new AgentSafeError(
      'INPUT_INVALID',
      `${name} must be the audit id of a decision (the "auditId" of a Decision, e.g. evt_…)`,
      { issues: [{ path: name, message: 'expected a non-empty id without control characters' }] },
    );
  }
  return auditId;
}

/** A capture event as a record, or undefined when it lacks the fields every capture has. */
export function captureRecord(event: AuditEventBody): StateCaptureRecord | undefined {
  const body = event as Record<string, unknown>;
  const { action, target, params, before_state: before, after_state: after, diff } = body;
  const decision = body.decision_audit_id;
  if (typeof decision !== 'string' || typeof action !== 'string' || typeof target !== 'string') return;
  if (!isObject(params) || !isObject(before)) return;
  return {
    eventId: event.event_id,
    timestamp: event.timestamp,
    decisionAuditId: decision,
    action,
    target,
    caller: typeof body.caller === 'string' ? body.caller : null,
    params,
    beforeState: before,
    afterState: isObject(after) ? after : null,
    diff: isObject(diff) ? (diff as StateCaptureRecord['diff']) : null,
    recordedBy:
      typeof body.recorded_by === 'string'
        ? body.recorded_by
        : typeof body.executor === 'string'
          ? `runner (${body.executor})`
          : 'runner',
    ...(typeof body.execution_id === 'string' ? { executionId: body.execution_id } : {}),
  };
}

/**
 * The last state capture of a decision in a log (`logPath`: the log file, or the directory holding it
 * and its rotated files), or undefined. The last one wins: a before-only capture is completed by a later
 * one with the after-state.
 */
export async function findStateCapture(
  logPath: string,
  auditId: string,
): Promise<StateCaptureRecord | undefined> {
  requireAuditId(auditId);
  const event = await findLast(
    logPath,
    STATE_CAPTURE_EVENT,
    (candidate) => candidate.decision_audit_id === auditId && captureRecord(candidate) !== undefined,
  );
  return event === undefined ? undefined : captureRecord(event);
}

/** The `decision` event with this audit id, or undefined. */
export async function findDecisionEvent(logPath: string, auditId: string): Promise<AuditEvent | undefined> {
  return findLast(logPath, 'decision', (event) => event.event_id === auditId);
}

/** How many of the newest events of a type are read first, from the end of the log. */
const RECENT_EVENTS = 1000;

/**
 * The newest event of a type that matches. The log is read from its end first (the decision an agent
 * records state for is usually recent), and in full only when the newest {@link RECENT_EVENTS} events
 * of that type do not hold it.
 */
async function findLast(
  logPath: string,
  eventType: string,
  match: (event: AuditEvent) => boolean,
): Promise<AuditEvent | undefined> {
  const recent = await readAuditLog(logPath, { eventType, last: RECENT_EVENTS });
  for (let index = recent.length - 1; index >= 0; index--) if (match(recent[index]!)) return recent[index];
  if (recent.length < RECENT_EVENTS) return undefined;
  const events = await readAuditLog(logPath, { eventType });
  for (let index = events.length - 1; index >= 0; index--) if (match(events[index]!)) return events[index];
  return undefined;
}

/**
 * How many ALLOW decisions of a log have a state capture, overall and per action (the seeds'
 * `audit state-coverage`). A capture counts for its decision (`decision_audit_id`).
 */
export async function stateCoverage(logPath: string): Promise<StateCoverageReport> {
  const decisions = await readAuditLog(logPath, { eventType: 'decision' });
  const allowedAction = new Map<string, string>();
  for (const event of decisions) {
    if (event.decision === 'ALLOW' && typeof event.action === 'string') {
      allowedAction.set(event.event_id, event.action);
    }
  }
  const captures = await readAuditLog(logPath, { eventType: STATE_CAPTURE_EVENT });
  const captured = new Set<string>();
  const complete = new Set<string>();
  let unmatchedCaptures = 0;
  for (const event of captures) {
    const id = event.decision_audit_id;
    if (typeof id !== 'string' || !allowedAction.has(id)) {
      unmatchedCaptures++;
      continue;
    }
    captured.add(id);
    if (isObject(event.before_state) && isObject(event.after_state)) complete.add(id);
  }
  const perAction = new Map<string, { allowed: number; captured: number; complete: number }>();
  for (const [id, action] of allowedAction) {
    let entry = perAction.get(action);
    if (entry === undefined) {
      entry = { allowed: 0, captured: 0, complete: 0 };
      perAction.set(action, entry);
    }
    entry.allowed++;
    if (captured.has(id)) entry.captured++;
    if (complete.has(id)) entry.complete++;
  }
  const ratio = (part: number, whole: number) =>
    whole === 0 ? 0 : Math.round((part / whole) * 10_000) / 10_000;
  return {
    allowed: allowedAction.size,
    captured: captured.size,
    complete: complete.size,
    coverage: ratio(captured.size, allowedAction.size),
    actions: [...perAction.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([action, entry]) => ({ action, ...entry, coverage: ratio(entry.captured, entry.allowed) })),
    unmatchedCaptures,
  };
}

/**
 * Checks a state object an agent passes: a plain JSON object within core's REQUEST_VALUE_LIMITS (depth,
 * value count, text), like a request's params. Throws INPUT_INVALID naming the offending path.
 */
export function checkStateValue(
  state: unknown,
  name: 'before_state' | 'after_state',
): Record<string, unknown> {
  if (
    !isObject(state) ||
    (Object.getPrototypeOf(state) !== Object.prototype && Object.getPrototypeOf(state) !== null)
  ) {
    throw new AgentSafeError('INPUT_INVALID', `${name} must be a plain object of field: value`, {
      issues: [{ path: name, message: 'pass an object such as { replicas: 2 }' }],
    });
  }
  const problem = valueProblem(state, name);
  if (problem !== undefined) {
    throw new AgentSafeError('INPUT_INVALID', problem.message, {
      issues: [{ path: problem.path ?? name, message: problem.message }],
    });
  }
  return state;
}

/** What a state capture is attached to: an ALLOW decision event of the log. */
export interface CaptureSubject {
  readonly decision: AuditEvent;
  readonly actions: ActionLookup;
}

/**
 * The `state_capture` event body for a decision, in the runner's shape (action, target, caller,
 * `decision_audit_id`, `correlation_id`, masked params, before/after state and their diff, with the
 * state fields the action marks `sensitive` masked, and `masked_paths` naming every masked value).
 */
export function stateCaptureBody(
  subject: CaptureSubject,
  before: Record<string, unknown>,
  after: Record<string, unknown> | null,
  now: number,
): AuditEventBody {
  const { decision, actions } = subject;
  const action = decision.action ?? '';
  const params = isObject(decision.params) ? decision.params : {};
  const definition = actions.get(action);
  const masked = maskParams(definition, params);
  // Sensitive state fields are masked like sensitive params (the runner writes them the same way); the
  // diff is computed on the values given, then masked. An after-state completing a before-state read
  // back from the log compares against its mask, so a sensitive field shows as changed.
  const state = maskCapturedState(
    definition,
    before,
    after,
    after === null ? null : stateDiff(before, after),
  );
  const maskedPaths = [...masked.maskedPaths, ...state.maskedPaths];
  return {
    event_id: randomId('evt'),
    timestamp: new Date(now).toISOString(),
    event_type: STATE_CAPTURE_EVENT,
    action,
    target: decision.target ?? '',
    ...(typeof decision.caller === 'string' ? { caller: decision.caller } : {}),
    correlation_id: decision.event_id,
    decision_audit_id: decision.event_id,
    params: masked.params,
    ...(maskedPaths.length > 0 ? { masked_paths: maskedPaths } : {}),
    before_state: state.beforeState,
    after_state: state.afterState,
    diff: state.diff,
    recorded_by: 'sdk',
  };
}

/**
 * The ALLOW decision `auditId` names in the log; INPUT_INVALID when there is none (state cannot be
 * attached to a decision that does not exist or was not allowed).
 */
export async function requireAllowedDecision(
  logPath: string | undefined,
  auditId: string,
): Promise<AuditEvent> {
  requireAuditId(auditId);
  // No path: the log does not exist yet, so it holds no decision.
  const decision = logPath === undefined ? undefined : await findDecisionEvent(logPath, auditId);
  if (decision === undefined) {
    throw new AgentSafeError(
      'INPUT_INVALID',
      `no decision with audit id ${auditId} in the audit log${logPath === undefined ? '' : ` ${logPath}`}: state can only be recorded for a decision of this log`,
      { issues: [{ path: 'auditId', message: 'pass the auditId of an ALLOW decision returned by check()' }] },
    );
  }
  if (decision.decision !== 'ALLOW') {
    throw new AgentSafeError(
      'INPUT_INVALID',
      `decision ${auditId} was ${String(decision.decision)}, not ALLOW: state is recorded only for allowed actions`,
      { issues: [{ path: 'auditId', message: 'nothing may have been executed for this decision' }] },
    );
  }
  return decision;
}
