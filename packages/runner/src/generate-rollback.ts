import {
  type ActionDefinition,
  type ActionLookup,
  AgentSafeError,
  type AuditEventBody,
  type ExecutionResult,
} from '@agent-safe/core';

/** What a rollback is built from: the original run and the state the runner captured. */
export interface StateCapture {
  /** The original action's name. */
  readonly action: string;
  readonly target: string;
  readonly params: Readonly<Record<string, unknown>>;
  readonly beforeState: Readonly<Record<string, unknown>>;
  readonly afterState?: Readonly<Record<string, unknown>>;
  /** Audit id of the original's decision, used as the rollback's correlation id. */
  readonly decisionAuditId?: string;
}

/** A rollback request, to be checked by the PDP (with its correlation id) and run through the runner. */
export interface RollbackPlan {
  readonly action: string;
  readonly target: string;
  readonly params: Readonly<Record<string, unknown>>;
  readonly correlationId?: string;
}

/** Outcome of {@link generateRollback}. Never thrown. */
export type RollbackResult =
  | { readonly ok: true; readonly plan: RollbackPlan }
  | { readonly ok: false; readonly reason: string };

/** Marker the runner writes for sensitive params and state fields in `state_capture` events. */
export const MASKED_VALUE = '***';

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * The state capture of a run from the {@link ExecutionResult} the runner returned, with its real
 * (unmasked) before/after state, for {@link generateRollback}: the way to roll back a change whose
 * before-state is a sensitive state field, which the audit log holds only as `***`. `params` are the
 * run's params (the ticket's), which the result does not repeat. Throws INPUT_INVALID when the result
 * is not a runner result or captured no before-state (the run stopped before acting: nothing to undo).
 */
export function captureFromResult(
  result: ExecutionResult,
  params: Readonly<Record<string, unknown>>,
): StateCapture {
  if (!isRecord(result) || typeof result.action !== 'string' || typeof result.target !== 'string') {
    throw new AgentSafeError(
      'INPUT_INVALID',
      'captureFromResult needs the ExecutionResult that Runner.execute (or safe.execute) returned',
      { issues: [{ path: 'result', message: 'expected an object with action, target and beforeState' }] },
    );
  }
  if (!isRecord(params)) {
    throw new AgentSafeError('INPUT_INVALID', 'captureFromResult needs the params of the run (an object)', {
      issues: [{ path: 'params', message: 'pass the params the ticket was issued for' }],
    });
  }
  if (!isRecord(result.beforeState)) {
    throw new AgentSafeError(
      'INPUT_INVALID',
      `the run of ${result.action} captured no before-state (status ${String(result.status)}: it stopped before acting), so there is nothing to roll back`,
      { issues: [{ path: 'result.beforeState', message: 'missing' }] },
    );
  }
  const decision = isRecord(result.auditIds) ? result.auditIds.decision : undefined;
  return {
    action: result.action,
    target: result.target,
    params,
    beforeState: result.beforeState,
    ...(isRecord(result.afterState) ? { afterState: result.afterState } : {}),
    ...(typeof decision === 'string' ? { decisionAuditId: decision } : {}),
  };
}

function lookup(root: unknown, path: readonly string[]): unknown {
  let value = root;
  for (const key of path) {
    if (value === null || typeof value !== 'object' || !Object.hasOwn(value, key)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

/** Reads the `state_capture` event the runner wrote (the last one, when given a whole log). */
function fromAuditEvents(events: readonly AuditEventBody[]): StateCapture | string {
  const capture = [...events].reverse().find((event) => event.event_type === 'state_capture');
  if (capture === undefined) return 'no state_capture event: the runner captured no state for this run';
  const { action, target, params } = capture;
  const before = capture.before_state;
  if (
    typeof action !== 'string' ||
    typeof target !== 'string' ||
    params === null ||
    typeof params !== 'object'
  )
    return 'the state_capture event has no action, target or params';
  if (before === null || typeof before !== 'object') return 'the state_capture event has no before_state';
  const decision = capture.decision_audit_id;
  return {
    action,
    target,
    params,
    beforeState: before as Record<string, unknown>,
    ...(capture.after_state !== null && typeof capture.after_state === 'object'
      ? { afterState: capture.after_state as Record<string, unknown> }
      : {}),
    ...(typeof decision === 'string' ? { decisionAuditId: decision } : {}),
  };
}

/** True when the action declares `name` as a parameter that is not required. */
function optionalParam(definition: ActionDefinition, name: string): boolean {
  return definition.parameters.some((parameter) => parameter.name === name && !parameter.required);
}

/**
 * Builds the rollback of a run from its action's `rollback_action` and `rollback_params` (sources
 * `params.x`, `before_state.x`, `after_state.x`, nested as `before_state.a.b`), reading the state the
 * runner captured, and validates the result against the rollback action's definition.
 */
export function generateRollback(
  source: StateCapture | readonly AuditEventBody[],
  actions: ActionLookup,
): RollbackResult {
  const capture = Array.isArray(source) ? fromAuditEvents(source) : (source as StateCapture);
  if (typeof capture === 'string') return { ok: false, reason: capture };
  const definition = actions.get(capture.action);
  if (definition === undefined) return { ok: false, reason: `unknown action "${capture.action}"` };
  if (definition.rollbackAction === null)
    return { ok: false, reason: `action "${capture.action}" declares no rollback_action` };
  // An action marked not reversible may still name a partial undo (drain-node → uncordon-node: the
  // node takes pods again, the evicted pods do not come back). That is not a rollback: refuse it, and
  // leave the partial undo to a request of its own.
  if (!definition.reversible)
    return {
      ok: false,
      reason: `action "${capture.action}" is not reversible (reversible: false in its definition); its rollback_action "${definition.rollbackAction}" only partly undoes it: request that action yourself through check() if it is what you want`,
    };
  const rollbackDefinition = actions.get(definition.rollbackAction);
  if (rollbackDefinition === undefined)
    return { ok: false, reason: `rollback action "${definition.rollbackAction}" is not registered` };
  const roots: Record<string, unknown> = {
    params: capture.params,
    before_state: capture.beforeState,
    after_state: capture.afterState,
  };
  const params: Record<string, unknown> = {};
  for (const [name, { source: path }] of Object.entries(definition.rollbackParams ?? {})) {
    const [root, ...rest] = path.split('.');
    if (root === undefined || !Object.hasOwn(roots, root)) {
      return { ok: false, reason: `rollback param "${name}": source "${path}" cannot be read by the runner` };
    }
    const value = lookup(roots[root], rest);
    // A state field the object did not have (an HPA without a memory target) leaves an optional
    // rollback param out: the rollback then restores what there was. A required one cannot be guessed.
    if (value === undefined && root !== 'params' && optionalParam(rollbackDefinition, name)) continue;
    if (value === undefined) {
      return {
        ok: false,
        reason: `rollback param "${name}": ${path} was not captured${root === 'before_state' ? ' (the before-state has no such field)' : ''}`,
      };
    }
    if (value === MASKED_VALUE && root === 'params') {
      return {
        ok: false,
        reason: `rollback param "${name}": ${path} is sensitive and was masked in the audit log`,
      };
    }
    // A state field marked `sensitive` is masked in the log: the plan cannot restore "***". The real
    // value is in the ExecutionResult the runner returned (never in the log). Any "***" is refused, also
    // of a field not (or no longer) marked sensitive: a log written under another definition may hold it.
    if (value === MASKED_VALUE) {
      return {
        ok: false,
        reason: `rollback param "${name}": ${path} is sensitive and was masked in the audit log; restore it from the ExecutionResult the runner returned, with generateRollback(captureFromResult(result, params)) (SDK: safe.generateRollback(result))`,
      };
    }
    params[name] = value;
  }
  const checked = actions.validateParams(definition.rollbackAction, params);
  if (!checked.ok) {
    return {
      ok: false,
      reason: `the rollback params are not valid for ${definition.rollbackAction}: ${checked.errors.map((e) => e.message).join('; ')}${definition.rollbackParams === null ? ` (action "${capture.action}" declares no rollback_params: add them to its definition, e.g. replicas: { source: before_state.replicas })` : ''}`,
    };
  }
  return {
    ok: true,
    plan: {
      action: definition.rollbackAction,
      target: capture.target,
      params: checked.params,
      ...(capture.decisionAuditId !== undefined ? { correlationId: capture.decisionAuditId } : {}),
    },
  };
}
