import type { Caller, DecisionError, DecisionResult, Explanation, RiskClass } from '@agent-safe/core';

/** What the decision point is asked. */
export interface EvaluationRequest {
  readonly action: string;
  /** Inventory id of the target. */
  readonly target?: string;
  readonly caller: Caller;
  /** Validated against the action definition; `undefined` counts as `{}`. */
  readonly params?: unknown;
  /** External change ticket id; null, undefined or '' mean none. */
  readonly ticketId?: string | null;
  /** Milliseconds since the epoch: the instant time windows are evaluated at. */
  readonly now: number;
}

/** The answer of {@link PolicyDecisionPoint.evaluate}: a value, never an exception. */
export interface Evaluation {
  readonly result: DecisionResult;
  readonly reason: string;
  readonly matchedRule: string | null;
  /** The action's own risk class; null when the action is unknown. */
  readonly riskClass: RiskClass | null;
  /** Action risk × target sensitivity; null when either is unknown. */
  readonly effectiveRisk: RiskClass | null;
  /** Validated params with defaults applied; `{}` when they were invalid or never checked. */
  readonly params: Readonly<Record<string, unknown>>;
  readonly errors: readonly DecisionError[];
  /**
   * Which rules were considered and why the winner won. Computed on first access (it is a getter on
   * the prototype, so spreading an Evaluation drops it: read it explicitly).
   */
  readonly explanation: Explanation;
  readonly policyRevision: string;
}
