import type { Caller } from '@agent-safe/core';
import type { Evaluation } from '@agent-safe/pdp';
import type { GuardedEvaluation, RiskOutcome } from './decision-record.js';
import { denyEvaluation, escalateEvaluation, guardFailure } from './evaluations.js';
import type { GuardedOutcome, GuardedRequest, Guards } from './guards.js';

/**
 * The guard stage of check(): rate limit and breaker decide whether the request is admitted at all,
 * cumulative risk may escalate the policy's answer, and the final answer is reported back to the
 * breaker. A malformed request passes through untouched (it never reached the policy). A guard store
 * that fails makes the answer DENY, naming the store (fail closed).
 */
export async function applyGuards(
  guards: Guards,
  evaluation: Evaluation,
  caller: Caller,
  malformed: boolean,
): Promise<GuardedEvaluation> {
  try {
    if (malformed) return { evaluation };
    const guarded = await guards.admit(guardedRequest(evaluation, caller));
    const outcome = guardOutcome(evaluation, guarded);
    const admission = guarded.admission;
    // After a policy DENY on a fused store the breaker already counted it and this adds nothing.
    const pending = admission?.ok
      ? guards.after(admission.token, outcome.evaluation.result === 'DENY')
      : undefined;
    if (pending) await pending;
    return outcome;
  } catch (error) {
    guards.storeErrors++;
    return { evaluation: guardFailure(evaluation, guards.storeName, error) };
  }
}

/** {@link applyGuards} without awaits, for in-memory guards (the common hot path). */
export function applyGuardsSync(
  guards: Guards,
  evaluation: Evaluation,
  caller: Caller,
  malformed: boolean,
): GuardedEvaluation {
  try {
    if (malformed) return { evaluation };
    const guarded = guards.admitSync(guardedRequest(evaluation, caller));
    const outcome = guardOutcome(evaluation, guarded);
    const admission = guarded.admission;
    if (admission?.ok) guards.afterSync(admission.token, outcome.evaluation.result === 'DENY');
    return outcome;
  } catch (error) {
    guards.storeErrors++;
    return { evaluation: guardFailure(evaluation, guards.storeName, error) };
  }
}

/**
 * Turns the guards' answers into the decision: a refused admission is DENY with its reason, and
 * cumulative risk may escalate.
 */
function guardOutcome(evaluation: Evaluation, guarded: GuardedOutcome): GuardedEvaluation {
  const { admission, risk: applied } = guarded;
  if (admission && !admission.ok) {
    return {
      evaluation: denyEvaluation(evaluation, admission.reason, {
        code: admission.code,
        message: admission.reason,
        path: 'caller',
      }),
    };
  }
  if (applied === undefined) return { evaluation };
  const risk: RiskOutcome = {
    score: applied.cumulativeRiskScore,
    riskClass: applied.cumulativeRiskClass,
    escalatedFrom: applied.escalatedFrom,
  };
  if (applied.result !== evaluation.result) {
    evaluation = escalateEvaluation(
      evaluation,
      applied.result,
      applied.reason ?? 'cumulative risk escalated the decision',
    );
  }
  return { evaluation, risk };
}

/** What the guards need of an evaluated request. */
function guardedRequest(evaluation: Evaluation, caller: Caller): GuardedRequest {
  return {
    callerKey: caller.agentId,
    rootKey: caller.delegationChain[0]?.agentId,
    effectiveRisk: evaluation.effectiveRisk,
    result: evaluation.result,
  };
}
