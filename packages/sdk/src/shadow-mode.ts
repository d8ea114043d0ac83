import {
  type AuditEventBody,
  type AuditSink,
  type Caller,
  type DecisionResult,
  SHADOW_DIFFERENCE_EVENT,
  randomId,
} from '@agent-safe/core';
import type { Evaluation, EvaluationRequest } from '@agent-safe/pdp';

/** What shadow mode evaluates with: a compiled candidate policy set (a PolicyDecisionPoint). */
export interface ShadowEvaluator {
  /** The candidate's policy revision. */
  readonly revision: string;
  evaluate(request: EvaluationRequest): Evaluation;
}

/** Counters of shadow mode since the facade was built (`safe.shadowStats()`). */
export interface ShadowStats {
  /** The candidate policy set's revision. */
  readonly policyRevision: string;
  /** Requests the candidate policies were evaluated on. */
  readonly evaluations: number;
  /** Differences, by the enforced and the shadow result (equal when only the matched rule differs). */
  readonly differences: readonly {
    readonly enforced: DecisionResult;
    readonly shadow: DecisionResult;
    readonly count: number;
  }[];
  /**
   * Shadow evaluations that failed (an exception, or a candidate evaluation that failed closed with an
   * INTERNAL error) and difference events the audit log refused. None of them changed an answer.
   */
  readonly errors: number;
}

/** A request on which the candidate policies answered otherwise than the enforced ones. */
export interface ShadowDifference {
  readonly enforced: Evaluation;
  readonly shadow: Evaluation;
}

/** What the difference event names of its request (the decision event already records all of it). */
export interface ShadowEventContext {
  readonly action: string;
  readonly target: string;
  readonly caller: Caller;
  readonly correlationId: string | null;
}

/**
 * Shadow mode (docs/server.md, "Shadow mode"): a candidate policy set evaluated beside the enforced one
 * on the same request, caller and instant. It never changes an answer: the facade compares, counts and
 * records, then answers with the enforced evaluation whatever happened here.
 *
 * A difference is a different result (ALLOW / DENY / REQUIRE_APPROVAL) or a different matched rule
 * (the same answer for another reason, e.g. a renamed or re-prioritised rule). Effective risk is not
 * compared: it is the action's risk × the target's sensitivity, the same registry and inventory serve
 * both sets, so it cannot differ. What is compared is the policy's answer, before rate limits,
 * cumulative risk and approvals, which apply to both alike.
 */
export class ShadowMode {
  readonly #evaluator: ShadowEvaluator;
  #evaluations = 0;
  #errors = 0;
  /** Counts by `enforced>shadow`; at most nine keys. */
  readonly #differences = new Map<string, number>();

  constructor(evaluator: ShadowEvaluator) {
    this.#evaluator = evaluator;
  }

  /** The candidate policy set's revision. */
  get revision(): string {
    return this.#evaluator.revision;
  }

  /**
   * Evaluates the candidate policies on the request the enforced evaluation answered; returns the
   * difference, or undefined when they agree or the candidate failed (counted as an error). Never throws.
   */
  compare(
    enforced: Evaluation,
    action: string,
    target: string,
    caller: Caller,
    params: unknown,
    ticketId: string | null,
    now: number,
  ): ShadowDifference | undefined {
    this.#evaluations++;
    let shadow: Evaluation;
    try {
      shadow = this.#evaluator.evaluate({ action, target, caller, params, ticketId, now });
      if (failedInternally(shadow) && !failedInternally(enforced)) this.#errors++;
      if (shadow.result === enforced.result && shadow.matchedRule === enforced.matchedRule) {
        return undefined;
      }
      const key = `${enforced.result}>${shadow.result}`;
      this.#differences.set(key, (this.#differences.get(key) ?? 0) + 1);
      return { enforced, shadow };
    } catch {
      this.#errors++;
      return undefined;
    }
  }

  /**
   * Appends the `shadow_difference` event, linked to the decision event, without waiting for it: the
   * answer never waits for shadow mode. A refused append is counted as an error (the log's close()
   * still flushes the ones queued).
   */
  record(
    sink: AuditSink,
    difference: ShadowDifference,
    decisionEventId: string,
    now: number,
    context: ShadowEventContext,
  ): void {
    let appended: Promise<unknown>;
    try {
      appended = sink.append(shadowDifferenceBody(difference, decisionEventId, now, context));
    } catch {
      this.#errors++;
      return;
    }
    appended.then(undefined, () => {
      this.#errors++;
    });
  }

  /** A snapshot of the counters. */
  stats(): ShadowStats {
    const differences: { enforced: DecisionResult; shadow: DecisionResult; count: number }[] = [];
    for (const [key, count] of this.#differences) {
      const [enforced, shadow] = key.split('>') as [DecisionResult, DecisionResult];
      differences.push({ enforced, shadow, count });
    }
    return {
      policyRevision: this.#evaluator.revision,
      evaluations: this.#evaluations,
      differences,
      errors: this.#errors,
    };
  }
}

/**
 * The `shadow_difference` audit event. It names its decision event (`decision_event_id`) and carries
 * what each policy set answered, with both revisions. It never carries params, context or reasons (a
 * reason may quote a param value): the decision event holds those, masked.
 */
export function shadowDifferenceBody(
  difference: ShadowDifference,
  decisionEventId: string,
  now: number,
  context: ShadowEventContext,
): AuditEventBody {
  const { enforced, shadow } = difference;
  const differences: string[] = [];
  if (enforced.result !== shadow.result) differences.push('decision');
  if (enforced.matchedRule !== shadow.matchedRule) differences.push('matched_rule');
  return {
    event_id: randomId('evt'),
    timestamp: new Date(now).toISOString(),
    event_type: SHADOW_DIFFERENCE_EVENT,
    decision_event_id: decisionEventId,
    action: context.action,
    target: context.target,
    caller: context.caller.agentId,
    caller_authenticated: context.caller.authenticated,
    correlation_id: context.correlationId,
    differences,
    effective_risk: enforced.effectiveRisk,
    enforced_decision: enforced.result,
    enforced_matched_rule: enforced.matchedRule,
    enforced_policy_revision: enforced.policyRevision,
    shadow_decision: shadow.result,
    shadow_matched_rule: shadow.matchedRule,
    shadow_policy_revision: shadow.policyRevision,
    ...(shadow.errors.length > 0
      ? {
          shadow_errors: shadow.errors.map((error) =>
            error.path === undefined ? { code: error.code } : { code: error.code, path: error.path },
          ),
        }
      : {}),
  };
}

function failedInternally(evaluation: Evaluation): boolean {
  for (const error of evaluation.errors) if (error.code === 'INTERNAL') return true;
  return false;
}
