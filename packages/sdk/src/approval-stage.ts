import type { ActionDefinition, Caller, DecisionError, ExecutionTicket } from '@agent-safe/core';
import type { ApprovalService, RequestIdentity } from '@agent-safe/approvals';
import type { Evaluation } from '@agent-safe/pdp';
import { ticketParamsDigest } from '@agent-safe/tickets';
import { denyEvaluation, withReason } from './evaluations.js';
import { maskParams } from './masking.js';
import type { Security } from './security.js';

/** What the approval stage needs of a check that the policy answered REQUIRE_APPROVAL. */
export interface ApprovalStageInput {
  readonly evaluation: Evaluation;
  readonly caller: Caller;
  readonly action: string;
  readonly actionDefinition: ActionDefinition | undefined;
  readonly target: string;
  readonly ticketId: string | null;
  readonly correlationId: string | null;
  /** The audit event this check will write. */
  readonly eventId: string;
}

/** The check's answer after the approval stage. */
export interface ApprovalStageOutcome {
  readonly evaluation: Evaluation;
  readonly approvalId: string | null;
  /** The approved request's one ticket, when this check collected it. */
  readonly ticket?: ExecutionTicket;
  /** Settles when the new request's `approval_requested` event is stored; await before answering. */
  readonly recorded?: Promise<void>;
}

/**
 * The approval stage of check(), run when the answer is REQUIRE_APPROVAL: the first time, it creates an
 * approval request (or joins the open one for the same caller, action, target and params); while it is
 * pending the answer stays REQUIRE_APPROVAL with its id; once approved, the same request asked again is
 * ALLOW with the request's one execution ticket (issued now, or the one issued before). The policy was
 * evaluated afresh for this check, so a policy that now DENYs never reaches this stage, and one that now
 * ALLOWs answers ALLOW on its own. A store that fails makes the answer DENY (fail closed).
 */
export async function applyApprovalStage(
  service: ApprovalService,
  security: Security,
  input: ApprovalStageInput,
): Promise<ApprovalStageOutcome> {
  const { evaluation, caller, action, target } = input;
  try {
    const identity: RequestIdentity = {
      caller: caller.agentId,
      callerAuthenticated: caller.authenticated,
      action,
      target,
      paramsDigest: ticketParamsDigest(evaluation.params),
    };
    const open = await service.findOpen(identity);
    if (open && (open.status === 'approved' || open.status === 'used')) {
      const ticket =
        open.status === 'used' && open.ticket
          ? open.ticket
          : await service.attachTicket(open.id, async () => {
              const issued = await security.issueTicket({
                action,
                target,
                caller: caller.agentId,
                delegationChain: caller.delegationChain,
                params: evaluation.params,
                auditId: input.eventId,
                policyRevision: evaluation.policyRevision,
              });
              if (!issued) throw new Error('no ticket signing key is configured');
              return issued;
            });
      const approvers = open.approvals.map((vote) => vote.approver).join(', ');
      return {
        evaluation: withReason(
          evaluation,
          `Approved by ${approvers || 'an approver'} (approval ${open.id}); ${evaluation.reason}`,
          'ALLOW',
        ),
        approvalId: open.id,
        ticket,
      };
    }
    if (open)
      return {
        evaluation: waiting(evaluation, open.id, open.approvals.length, open.requiredApprovals),
        approvalId: open.id,
      };
    const masked = maskParams(input.actionDefinition, evaluation.params);
    const { record, recorded } = await service.request({
      ...identity,
      delegationChain: caller.delegationChain.map((link) => link.agentId),
      params: masked.params,
      maskedPaths: masked.maskedPaths,
      reason: evaluation.reason,
      matchedRule: evaluation.matchedRule,
      effectiveRisk: evaluation.effectiveRisk,
      policyRevision: evaluation.policyRevision,
      ticketId: input.ticketId,
      correlationId: input.correlationId,
      auditId: input.eventId,
    });
    return {
      evaluation: waiting(evaluation, record.id, record.approvals.length, record.requiredApprovals),
      approvalId: record.id,
      recorded,
    };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const problem: DecisionError = { code: 'INTERNAL', message };
    return {
      evaluation: denyEvaluation(
        evaluation,
        `Denied because the approval request could not be created or read (${service.store.name}): ${message}`,
        problem,
      ),
      approvalId: null,
    };
  }
}

function waiting(evaluation: Evaluation, id: string, approvals: number, required: number): Evaluation {
  return withReason(
    evaluation,
    `${evaluation.reason} (approval ${id}: ${approvals} of ${required} approval${required === 1 ? '' : 's'})`,
  );
}
