import type { DecisionError, DecisionResult } from '@agent-safe/core';
import { scrub } from './masking.js';
import type { Evaluation } from '@agent-safe/pdp';

// Evaluations made by the pipeline itself rather than by the policy: a request refused before policy
// evaluation, a DENY added by a later stage (guards, ticket, audit), a cumulative-risk escalation.

/** DENY before policy evaluation: the request itself is malformed or its caller was refused. */
export function inputDenial(policyRevision: string, error: DecisionError): Evaluation {
  return {
    result: 'DENY',
    reason: `Invalid request: ${error.path ? `${error.path}: ` : ''}${error.message}`,
    matchedRule: null,
    riskClass: null,
    effectiveRisk: null,
    params: {},
    errors: [error],
    policyRevision,
    explanation: {
      matchedRules: [],
      consideredRules: [],
      defaultDeny: false,
      summary: [`Denied before policy evaluation: ${error.message}`],
    },
  };
}

/** The policy's answer changed by cumulative risk; the explanation says so. */
export function escalateEvaluation(base: Evaluation, result: DecisionResult, reason: string): Evaluation {
  return withReason(base, reason, result, () => {
    const explanation = base.explanation;
    return { ...explanation, summary: [...explanation.summary, `Escalated by cumulative risk: ${reason}`] };
  });
}

/** DENY because the guard store failed: rate limits and risk cannot be enforced (fail closed). */
export function guardFailure(evaluation: Evaluation, where: string, error: unknown): Evaluation {
  const message = error instanceof Error ? error.message : String(error);
  return denyEvaluation(
    evaluation,
    `Denied because ${where} could not be consulted (rate limits and risk cannot be enforced): ${message}`,
    { code: 'INTERNAL', message },
  );
}

/** DENY added by a stage after the policy, keeping the policy's risk figures. */
export function denyEvaluation(base: Evaluation, reason: string, error: DecisionError): Evaluation {
  return {
    result: 'DENY',
    reason,
    matchedRule: null,
    riskClass: base.riskClass,
    effectiveRisk: base.effectiveRisk,
    params: base.params,
    errors: [...base.errors, error],
    policyRevision: base.policyRevision,
    explanation: {
      matchedRules: [],
      consideredRules: [],
      defaultDeny: false,
      summary: [reason],
    },
  };
}

/** The evaluation with every given sensitive value masked in its reason and error messages. */
export function scrubEvaluation(evaluation: Evaluation, values: readonly string[]): Evaluation {
  const reason = scrub(evaluation.reason, values);
  let changed = reason !== evaluation.reason;
  const errors = evaluation.errors.map((error) => {
    const message = scrub(error.message, values);
    if (message === error.message) return error;
    changed = true;
    return { ...error, message };
  });
  if (!changed) return evaluation;
  const base = evaluation;
  return {
    result: base.result,
    matchedRule: base.matchedRule,
    riskClass: base.riskClass,
    effectiveRisk: base.effectiveRisk,
    params: base.params,
    policyRevision: base.policyRevision,
    reason,
    errors,
    get explanation() {
      const explanation = base.explanation;
      return { ...explanation, summary: explanation.summary.map((line) => scrub(line, values)) };
    },
  };
}

/**
 * The evaluation with another reason (and result), keeping the explanation lazy: a spread would build
 * it, which costs more than the whole check.
 */
export function withReason(
  base: Evaluation,
  reason: string,
  result: DecisionResult = base.result,
  explain: () => Evaluation['explanation'] = () => base.explanation,
): Evaluation {
  return {
    result,
    reason,
    matchedRule: base.matchedRule,
    riskClass: base.riskClass,
    effectiveRisk: base.effectiveRisk,
    params: base.params,
    errors: base.errors,
    policyRevision: base.policyRevision,
    get explanation() {
      return explain();
    },
  };
}
