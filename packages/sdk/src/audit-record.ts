import {
  type ActionDefinition,
  AgentSafeError,
  type AuditEventBody,
  type AuditSink,
  type Decision,
} from '@agent-safe/core';
import type { CheckOutcome } from './decision-record.js';
import { hostAssertedClaims } from './caller-resolution.js';
import { maskParams } from './masking.js';

/**
 * The decision event of one check, as the audit log stores it. Params marked sensitive are masked and
 * listed in `masked_paths`; params or context refused at the door (too big, too deep, not JSON) are not
 * stored at all, only the reason why. Roles and groups that the host asserted on an unauthenticated
 * caller are recorded with `caller_claims: "host"`, so a reader can tell them from verified ones.
 */
export function decisionEventBody(
  eventId: string,
  now: number,
  outcome: CheckOutcome,
  action: ActionDefinition | undefined,
): AuditEventBody {
  const { request, evaluation, caller, target, ticketId, correlationId, ticket, risk, refusedInput } =
    outcome;
  const actionName = typeof request?.action === 'string' ? request.action : '';
  const refusedParams = refusedInput === 'params';
  const refusedContext = refusedInput === 'params' || refusedInput === 'context';
  const given =
    refusedParams || request === null || typeof request !== 'object'
      ? {}
      : evaluation.errors.length === 0
        ? evaluation.params
        : (request.params ?? {});
  const masked = maskParams(action, given as Record<string, unknown>);
  const hostClaims = hostAssertedClaims(caller);
  return {
    event_id: eventId,
    timestamp: new Date(now).toISOString(),
    event_type: 'decision',
    action: actionName,
    target,
    caller: caller.agentId,
    caller_authenticated: caller.authenticated,
    ...(caller.delegationChain.length > 0
      ? { delegation_chain: caller.delegationChain.map((link) => link.agentId) }
      : {}),
    ...(hostClaims
      ? { caller_claims: 'host', caller_roles: caller.roles, caller_groups: caller.groups }
      : {}),
    params: masked.params,
    ...(masked.maskedPaths.length > 0 ? { masked_paths: masked.maskedPaths } : {}),
    ...(refusedParams ? { params_omitted: true } : {}),
    decision: evaluation.result,
    reason: evaluation.reason,
    matched_rule: evaluation.matchedRule,
    risk_class: evaluation.riskClass,
    effective_risk: evaluation.effectiveRisk,
    correlation_id: correlationId,
    ticket_id: ticketId,
    policy_revision: evaluation.policyRevision,
    ...(risk
      ? {
          cumulative_risk_score: risk.score,
          cumulative_risk_class: risk.riskClass,
          escalated_from: risk.escalatedFrom,
        }
      : {}),
    ...(outcome.approvalId ? { approval_id: outcome.approvalId } : {}),
    ...(ticket
      ? { execution_ticket: { nonce: ticket.nonce, expires_at: new Date(ticket.expiresAt).toISOString() } }
      : {}),
    ...(evaluation.errors.length > 0 ? { errors: evaluation.errors } : {}),
    context:
      !refusedContext && request?.context && typeof request.context === 'object' ? request.context : null,
  };
}

/**
 * Appends the event. A body the log refuses to store (INPUT_INVALID) can only come from a request the
 * door let through by mistake; rather than answer with an event nobody can read, the caller records a
 * DENY without the offending values (see {@link unrecordableBody}) and answers DENY.
 */
export async function appendDecision(sink: AuditSink, body: AuditEventBody): Promise<'recorded' | string> {
  try {
    await sink.append(body);
    return 'recorded';
  } catch (error) {
    if (!(error instanceof AgentSafeError) || error.code !== 'INPUT_INVALID') throw error;
    return error.message;
  }
}

/** The DENY event recorded in place of a decision whose event could not be stored. */
export function unrecordableBody(body: AuditEventBody, reason: string): AuditEventBody {
  const { execution_ticket: _ticket, ...rest } = body as Record<string, unknown>;
  return {
    ...(rest as AuditEventBody),
    params: {},
    params_omitted: true,
    context: null,
    decision: 'DENY' satisfies Decision['result'],
    reason,
    matched_rule: null,
    errors: [{ code: 'AUDIT_WRITE_FAILED', message: reason }],
  };
}
