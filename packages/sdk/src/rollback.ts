import type { ActionLookup, Decision } from '@agent-safe/core';
import { type RollbackPlan, generateRollback } from '@agent-safe/runner';
import type { ExecutionResult } from '@agent-safe/core';
import { type StateCaptureRecord, findStateCapture, requireAuditId } from './state-capture.js';

/**
 * Rollback plans read from the audit log: the action's `rollback_action` + `rollback_params`, fed with
 * the LAST state capture of the decision (written by the runner or by `recordState`). The plan is a new
 * request: `checkRollback` sends it through `check()` with the original audit id as correlation id, so
 * a rollback is decided and audited like any request.
 */

/** Outcome of a rollback plan lookup. Never thrown: "no plan" is `{ ok: false, reason }`. */
export type RollbackPlanResult =
  | {
      readonly ok: true;
      /** The rollback request: action, target, params, and `correlationId` = the original audit id. */
      readonly plan: RollbackPlan;
    }
  | { readonly ok: false; readonly reason: string };

/** `checkRollback`'s answer: the plan, and the decision `check()` made on it. */
export interface RollbackCheck {
  readonly plan: RollbackPlan;
  readonly decision: Decision;
}

/** `executeRollback`'s answer: the plan, its decision and, when the decision was ALLOW, the run. */
export interface RollbackExecution extends RollbackCheck {
  readonly result?: ExecutionResult;
}

/**
 * The rollback plan of a decision, from a log file (the log, or the directory holding it and its rotated
 * files), without a project: what `agent-safe rollback show` prints. `auditId` is the original ALLOW
 * decision's audit id.
 */
export async function rollbackPlanFromLog(
  logPath: string,
  auditId: string,
  actions: ActionLookup,
): Promise<RollbackPlanResult> {
  const { capture: _capture, ...result } = await rollbackWithCapture(logPath, auditId, actions);
  return result as RollbackPlanResult;
}

/** {@link rollbackPlanFromLog}, with the capture the plan came from (its caller asks for the rollback). */
export async function rollbackWithCapture(
  logPath: string,
  auditId: string,
  actions: ActionLookup,
): Promise<RollbackPlanResult & { readonly capture?: StateCaptureRecord }> {
  requireAuditId(auditId);
  const capture = await findStateCapture(logPath, auditId);
  if (capture === undefined) {
    return {
      ok: false,
      reason: `no state capture for decision ${auditId} in ${logPath}: run it through the runner, or record its before-state (recordBeforeState) before acting`,
    };
  }
  return { ...rollbackPlanFromCapture(capture, actions), capture };
}

/**
 * The rollback plan of a run from the {@link ExecutionResult} `execute` returned: the log's state
 * capture of its decision (action, target, params) with the result's own before/after state, which
 * holds the real values of the state fields the audit log masks (`sensitive: true`, e.g.
 * update-configmap's previous_value). INPUT_INVALID when `result` is not an execution result.
 */
export async function rollbackPlanFromResult(
  logPath: string,
  result: ExecutionResult,
  actions: ActionLookup,
): Promise<RollbackPlanResult> {
  const decision = requireAuditId(
    typeof result?.auditIds === 'object' ? result.auditIds?.decision : undefined,
    'result.auditIds.decision',
  );
  const state = result.beforeState;
  if (state === null || typeof state !== 'object') {
    return {
      ok: false,
      reason: `the run of decision ${decision} captured no before-state (status ${String(result.status)}): there is nothing to roll back`,
    };
  }
  const capture = await findStateCapture(logPath, decision);
  if (capture === undefined || capture.action !== result.action || capture.target !== result.target) {
    return {
      ok: false,
      reason: `no state capture of ${String(result.action)} on ${String(result.target)} for decision ${decision} in ${logPath}: pass the result of a run audited to this log`,
    };
  }
  return rollbackPlanFromCapture(
    { ...capture, beforeState: state, afterState: result.afterState ?? null },
    actions,
  );
}

/** The rollback plan for one state capture (see {@link rollbackPlanFromLog}). */
export function rollbackPlanFromCapture(
  capture: StateCaptureRecord,
  actions: ActionLookup,
): RollbackPlanResult {
  const generated = generateRollback(
    {
      action: capture.action,
      target: capture.target,
      params: capture.params,
      beforeState: capture.beforeState,
      ...(capture.afterState !== null ? { afterState: capture.afterState } : {}),
      decisionAuditId: capture.decisionAuditId,
    },
    actions,
  );
  if (!generated.ok) return { ok: false, reason: generated.reason };
  return { ok: true, plan: { ...generated.plan, correlationId: capture.decisionAuditId } };
}
