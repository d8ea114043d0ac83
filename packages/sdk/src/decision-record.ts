import type {
  Caller,
  CheckRequest,
  Decision,
  DecisionResult,
  ExecutionTicket,
  Explanation,
  RiskClass,
} from '@agent-safe/core';
import type { Evaluation } from '@agent-safe/pdp';

/** Cumulative risk as reported on a decision. */
export interface RiskOutcome {
  readonly score: number;
  readonly riskClass: RiskClass;
  readonly escalatedFrom: DecisionResult | null;
}

/** A decision after the guards, with its cumulative risk when that was applied. */
export interface GuardedEvaluation {
  evaluation: Evaluation;
  risk?: RiskOutcome;
}

/** What one check produced: the parts of its Decision and of its audit event. */
export interface CheckOutcome {
  evaluation: Evaluation;
  readonly request: CheckRequest;
  readonly caller: Caller;
  readonly target: string;
  readonly ticketId: string | null;
  readonly correlationId: string | null;
  ticket?: ExecutionTicket | undefined;
  readonly risk?: RiskOutcome | undefined;
  /** The approval request this check created, joined or collected from. */
  approvalId?: string | null;
  /** Set when params or context were refused at the door: they are then not recorded. */
  readonly refusedInput?: 'params' | 'context' | undefined;
}

/** A Decision whose explanation is computed only when read. */
export class DecisionRecord implements Decision {
  readonly result;
  readonly reason;
  readonly action: string;
  readonly target: string;
  readonly caller: string;
  readonly callerAuthenticated: boolean;
  readonly matchedRule;
  readonly riskClass;
  readonly effectiveRisk;
  readonly auditId: string;
  readonly ticketId: string | null;
  readonly correlationId: string | null;
  readonly params;
  readonly errors;
  readonly policyRevision: string;
  readonly ticket: ExecutionTicket | null;
  readonly cumulativeRiskScore: number | null;
  readonly cumulativeRiskClass: RiskClass | null;
  readonly escalatedFrom: DecisionResult | null;
  readonly approvalId: string | null;
  readonly #evaluation: Evaluation;

  constructor(outcome: CheckOutcome, auditId: string) {
    const { evaluation, request, caller, target, ticketId, correlationId, ticket, risk } = outcome;
    this.#evaluation = evaluation;
    this.ticket = ticket ?? null;
    this.cumulativeRiskScore = risk?.score ?? null;
    this.cumulativeRiskClass = risk?.riskClass ?? null;
    this.escalatedFrom = risk?.escalatedFrom ?? null;
    this.approvalId = outcome.approvalId ?? null;
    this.result = evaluation.result;
    this.reason = evaluation.reason;
    this.action = typeof request?.action === 'string' ? request.action : '';
    this.target = target;
    this.caller = caller.agentId;
    this.callerAuthenticated = caller.authenticated;
    this.matchedRule = evaluation.matchedRule;
    this.riskClass = evaluation.riskClass;
    this.effectiveRisk = evaluation.effectiveRisk;
    this.auditId = auditId;
    this.ticketId = ticketId;
    this.correlationId = correlationId;
    this.params = evaluation.params;
    this.errors = evaluation.errors;
    this.policyRevision = evaluation.policyRevision;
  }

  get explanation(): Explanation {
    return this.#evaluation.explanation;
  }

  toJSON(): Omit<Decision, never> {
    return {
      result: this.result,
      reason: this.reason,
      action: this.action,
      target: this.target,
      caller: this.caller,
      callerAuthenticated: this.callerAuthenticated,
      matchedRule: this.matchedRule,
      riskClass: this.riskClass,
      effectiveRisk: this.effectiveRisk,
      auditId: this.auditId,
      ticketId: this.ticketId,
      correlationId: this.correlationId,
      params: this.params,
      errors: this.errors,
      policyRevision: this.policyRevision,
      ticket: this.ticket,
      cumulativeRiskScore: this.cumulativeRiskScore,
      cumulativeRiskClass: this.cumulativeRiskClass,
      escalatedFrom: this.escalatedFrom,
      approvalId: this.approvalId,
      explanation: this.explanation,
    };
  }
}
