import {
  type ApprovalRecord,
  type ApprovalTicket,
  type ApprovalVote,
  unsafeIdReason,
} from '@agent-safe/core';
import type { ApprovalSettings } from './approval-settings.js';

/** Why a vote was refused. */
export type VoteRefusalCode =
  | 'NOT_AUTHENTICATED'
  | 'NOT_APPROVER'
  | 'SELF_APPROVAL'
  | 'ALREADY_VOTED'
  | 'COMMENT_REQUIRED'
  | 'COMMENT_INVALID'
  | 'EXPIRED'
  | 'ALREADY_DECIDED';

/** Who votes: a caller resolved from a verified identity token. */
export interface Approver {
  readonly agentId: string;
  readonly roles: readonly string[];
  readonly authenticated: boolean;
  readonly delegationChain: readonly { readonly agentId: string }[];
}

/** A verdict on a request. */
export interface VoteInput {
  readonly approver: Approver;
  readonly verdict: 'approve' | 'deny';
  readonly comment?: string | null;
}

/** Outcome of {@link castVote}. A refusal may still carry a changed record (a request found expired). */
export type VoteOutcome =
  | { readonly ok: true; readonly record: ApprovalRecord }
  | {
      readonly ok: false;
      readonly code: VoteRefusalCode;
      readonly message: string;
      /** Set when the request had to change anyway (it expired): store it. */
      readonly record?: ApprovalRecord;
    };

/** Longest approver comment. */
export const MAX_COMMENT_LENGTH = 2000;

/** What a new request is made of: the decision that required approval. */
export type NewApprovalInput = Pick<
  ApprovalRecord,
  | 'id'
  | 'action'
  | 'target'
  | 'caller'
  | 'callerAuthenticated'
  | 'delegationChain'
  | 'params'
  | 'maskedPaths'
  | 'paramsDigest'
  | 'reason'
  | 'matchedRule'
  | 'effectiveRisk'
  | 'policyRevision'
  | 'ticketId'
  | 'correlationId'
  | 'auditId'
>;

/** A new pending request; its threshold comes from the effective risk (critical when unknown). */
export function newApprovalRecord(
  input: NewApprovalInput,
  settings: ApprovalSettings,
  now: number,
): ApprovalRecord {
  return {
    ...input,
    version: 1,
    status: 'pending',
    createdAt: now,
    expiresAt: now + settings.ttlMs,
    requiredApprovals: settings.thresholds[input.effectiveRisk ?? 'critical'],
    requireComment: settings.requireComment,
    approvals: [],
    denials: [],
    decidedAt: null,
    ticket: null,
  };
}

/** The record moved to `expired` when its time is up and it is still pending; otherwise undefined. */
export function expireIfDue(record: ApprovalRecord, now: number): ApprovalRecord | undefined {
  if (record.status !== 'pending' || now < record.expiresAt) return undefined;
  return { ...record, version: record.version + 1, status: 'expired', decidedAt: record.expiresAt };
}

/**
 * Applies one approver's verdict. Refused: an unauthenticated approver, one without an approver role,
 * the requester or anyone in its delegation chain (or an approver delegated from them), a second vote
 * by the same approver, a missing comment when comments are required, and any vote on a request that
 * is no longer pending. One denial denies; `requiredApprovals` distinct approvals approve.
 */
export function castVote(
  record: ApprovalRecord,
  input: VoteInput,
  settings: ApprovalSettings,
  now: number,
): VoteOutcome {
  const expired = expireIfDue(record, now);
  if (expired) {
    return {
      ok: false,
      code: 'EXPIRED',
      message: `approval request ${record.id} expired at ${new Date(record.expiresAt).toISOString()}; the agent must ask again`,
      record: expired,
    };
  }
  if (record.status !== 'pending') {
    return {
      ok: false,
      code: 'ALREADY_DECIDED',
      message: `approval request ${record.id} is already ${record.status}; nothing more can be decided on it`,
    };
  }
  const { approver } = input;
  if (!approver.authenticated) {
    return {
      ok: false,
      code: 'NOT_AUTHENTICATED',
      message:
        'approvers must present a verified identity token (agent-safe identity create), not a plain name',
    };
  }
  if (!approver.roles.some((role) => settings.approverRoles.includes(role))) {
    return {
      ok: false,
      code: 'NOT_APPROVER',
      message: `${approver.agentId} is not an approver: its token must carry one of the roles ${settings.approverRoles.join(', ')} (approvals.approver_roles)`,
    };
  }
  const requesters = new Set([record.caller, ...record.delegationChain]);
  const approverChain = [approver.agentId, ...approver.delegationChain.map((link) => link.agentId)];
  const overlap = approverChain.find((agentId) => requesters.has(agentId));
  if (overlap !== undefined) {
    return {
      ok: false,
      code: 'SELF_APPROVAL',
      message:
        overlap === approver.agentId
          ? `${approver.agentId} asked for this request (or delegated it) and cannot decide it; another approver must`
          : `${approver.agentId} was delegated by ${overlap}, who asked for this request (or delegated it); another approver must decide`,
    };
  }
  if ([...record.approvals, ...record.denials].some((vote) => vote.approver === approver.agentId)) {
    return {
      ok: false,
      code: 'ALREADY_VOTED',
      message: `${approver.agentId} has already voted on ${record.id}; each approver counts once`,
    };
  }
  const comment =
    input.comment === undefined || input.comment === null || input.comment === '' ? null : input.comment;
  if (comment !== null) {
    const reason =
      typeof comment !== 'string'
        ? 'must be a string'
        : comment.length > MAX_COMMENT_LENGTH
          ? `must be at most ${MAX_COMMENT_LENGTH} characters`
          : unsafeIdReason(comment.replace(/\n/g, ' '), MAX_COMMENT_LENGTH);
    if (reason) return { ok: false, code: 'COMMENT_INVALID', message: `the comment ${reason}` };
  } else if (record.requireComment) {
    return {
      ok: false,
      code: 'COMMENT_REQUIRED',
      message: 'a comment is required (approvals.require_comment): say why',
    };
  }
  const vote: ApprovalVote = { approver: approver.agentId, roles: [...approver.roles], at: now, comment };
  if (input.verdict === 'deny') {
    return {
      ok: true,
      record: {
        ...record,
        version: record.version + 1,
        status: 'denied',
        denials: [...record.denials, vote],
        decidedAt: now,
      },
    };
  }
  const approvals = [...record.approvals, vote];
  const approved = approvals.length >= record.requiredApprovals;
  return {
    ok: true,
    record: {
      ...record,
      version: record.version + 1,
      approvals,
      status: approved ? 'approved' : 'pending',
      decidedAt: approved ? now : null,
    },
  };
}

/** The approved request with its one ticket attached: it is now `used` and never yields another. */
export function attachTicket(record: ApprovalRecord, ticket: ApprovalTicket): ApprovalRecord {
  return { ...record, version: record.version + 1, status: 'used', ticket };
}
