import type { RiskClass } from './risk-class.js';
import type { ExecutionTicket } from './tickets.js';

/** The three answers Agent-Safe gives. */
export const DECISION_RESULTS = ['ALLOW', 'DENY', 'REQUIRE_APPROVAL'] as const;

/** An answer: ALLOW, DENY or REQUIRE_APPROVAL. */
export type DecisionResult = (typeof DECISION_RESULTS)[number];

/** A problem with the request found during evaluation (errors are data, not exceptions). */
export interface DecisionError {
  readonly code: string;
  readonly message: string;
  /** The input the problem is about, e.g. `params.replicas`. */
  readonly path?: string;
}

/** How one rule fared against the request. */
export interface RuleTrace {
  readonly rule: string;
  readonly priority: number;
  readonly decision: DecisionResult;
  readonly matched: boolean;
  /** For a rule that did not match: the selector that failed, e.g. `targets.environments`. */
  readonly failedOn?: string;
  /** Why it did or did not match, for a person. */
  readonly detail: string;
}

/** Which rules were looked at and why the winner won. */
export interface Explanation {
  readonly matchedRules: readonly RuleTrace[];
  readonly consideredRules: readonly RuleTrace[];
  /** True when no rule matched and the default DENY applied. */
  readonly defaultDeny: boolean;
  /** Short summary lines for printing. */
  readonly summary: readonly string[];
}

/** The outcome of a check. */
export interface Decision {
  readonly result: DecisionResult;
  readonly reason: string;
  readonly action: string;
  readonly target: string;
  readonly caller: string;
  readonly callerAuthenticated: boolean;
  readonly matchedRule: string | null;
  /** The action's own risk class; null when the action is unknown. */
  readonly riskClass: RiskClass | null;
  /** Risk after considering the target's sensitivity; null when it could not be computed. */
  readonly effectiveRisk: RiskClass | null;
  /** Id of the audit event that recorded this decision (empty when auditing is off). */
  readonly auditId: string;
  /** The external change ticket (JIRA, ServiceNow …) the caller linked, if any. */
  readonly ticketId: string | null;
  readonly correlationId: string | null;
  /** Parameters after defaults were applied (only when they validated). */
  readonly params: Readonly<Record<string, unknown>>;
  readonly errors: readonly DecisionError[];
  readonly explanation: Explanation;
  /** Policy revision (content hash) the decision was made under. */
  readonly policyRevision: string;
  /** On ALLOW, when ticket signing is configured: the signed single-use execution ticket. */
  readonly ticket?: ExecutionTicket | null;
  /** With cumulative risk tracking: the caller's (or delegation root's) points in the window. */
  readonly cumulativeRiskScore?: number | null;
  readonly cumulativeRiskClass?: RiskClass | null;
  /** The policy's answer when cumulative risk escalated it (ALLOW → REQUIRE_APPROVAL, or → DENY). */
  readonly escalatedFrom?: DecisionResult | null;
  /**
   * With approvals configured: the approval request a REQUIRE_APPROVAL created or joined, or the approved
   * request an ALLOW collected its ticket from.
   */
  readonly approvalId?: string | null;
}
