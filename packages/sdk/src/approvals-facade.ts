import {
  AgentSafeError,
  type ApprovalListFilter,
  type ApprovalRecord,
  type CheckRequest,
  type Decision,
} from '@agent-safe/core';
import type { ApprovalService, Approver } from '@agent-safe/approvals';
import type { Security } from './security.js';

/** Options of {@link ApprovalsFacade.approve} and {@link ApprovalsFacade.deny}. */
export interface ApprovalVoteOptions {
  /** The approver's identity token (verified like any caller; its roles decide whether it may approve). */
  readonly approverToken: string;
  /** Why (required when `approvals.requireComment` is on). */
  readonly comment?: string;
}

/** Options of {@link ApprovalsFacade.waitForApproval}. */
export interface WaitForApprovalOptions {
  /** Give up after this long and resolve with the still-pending decision. Default 5 minutes. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /**
   * The request that needed approval. Not needed when this AgentSafe instance made that request; a
   * process that did not (another replica, a restarted agent) passes it so the approved request can be
   * collected: its params must be the approved ones (their digest is compared).
   */
  readonly request?: CheckRequest;
}

/** Longest accepted wait. */
const MAX_WAIT_MS = 24 * 3600 * 1000;

/** What the facade needs from its AgentSafe. */
export interface ApprovalsHost {
  service(): Promise<ApprovalService>;
  security(): Promise<Security>;
  check(request: CheckRequest): Promise<Decision>;
  /** The request this instance sent when it created `id`, if it did. */
  requestFor(id: string): CheckRequest | undefined;
  /** A DENY decision for a request that was denied or expired (no new approval request is made). */
  closedDecision(record: ApprovalRecord): Decision;
}

/**
 * `safe.approvals`: read approval requests, decide them as an authenticated approver, and wait for a
 * decision. Approvers are identity tokens carrying one of `approvals.approverRoles`; the requester and
 * its delegation chain can never approve their own request.
 */
export class ApprovalsFacade {
  readonly #host: ApprovalsHost;

  constructor(host: ApprovalsHost) {
    this.#host = host;
  }

  /** One request (an expired one is reported as expired). Rejects APPROVAL_UNKNOWN for an unknown id. */
  async get(id: string): Promise<ApprovalRecord> {
    return (await this.#host.service()).get(id);
  }

  /** Requests, newest first (default 100); filter by status. */
  async list(filter: ApprovalListFilter = {}): Promise<ApprovalRecord[]> {
    return (await this.#host.service()).list(filter);
  }

  /** Approves as the token's identity. Rejects APPROVAL_REFUSED (details.reason) or IDENTITY_INVALID. */
  async approve(id: string, options: ApprovalVoteOptions): Promise<ApprovalRecord> {
    const approver = await this.#approver(options);
    return (await this.#host.service()).approve(id, { approver, comment: options.comment ?? null });
  }

  /** Denies as the token's identity: one denial denies the request. */
  async deny(id: string, options: ApprovalVoteOptions): Promise<ApprovalRecord> {
    const approver = await this.#approver(options);
    return (await this.#host.service()).deny(id, { approver, comment: options.comment ?? null });
  }

  /** The seeds' `resolve_approval`: approve when `approved` is true, deny otherwise. */
  resolveApproval(id: string, options: ApprovalVoteOptions & { approved: boolean }): Promise<ApprovalRecord> {
    return options.approved ? this.approve(id, options) : this.deny(id, options);
  }

  /**
   * Waits (without polling: the store wakes it) until the request is decided, then answers as a check
   * would: approved gives ALLOW with the request's one execution ticket, after the policy is checked
   * again (a policy that now DENYs wins); denied or expired gives DENY; still pending at the timeout
   * gives REQUIRE_APPROVAL with the same approval id.
   */
  async waitForApproval(id: string, options: WaitForApprovalOptions = {}): Promise<Decision> {
    const timeoutMs = options.timeoutMs ?? 300_000;
    if (!Number.isFinite(timeoutMs) || timeoutMs < 0 || timeoutMs > MAX_WAIT_MS) {
      throw new AgentSafeError('USAGE', `timeoutMs must be between 0 and ${MAX_WAIT_MS}`);
    }
    const service = await this.#host.service();
    const request = options.request ?? this.#host.requestFor(id);
    const record = await service.waitFor(id, {
      timeoutMs,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (record.status === 'denied' || record.status === 'expired') return this.#host.closedDecision(record);
    if (!request) {
      throw new AgentSafeError(
        'USAGE',
        `approval ${id} was not requested by this AgentSafe instance: pass the original request (waitForApproval(id, { request }))`,
      );
    }
    // Pending (timed out), approved or used: asking again answers with the current state and collects
    // the one ticket of an approved request.
    const decision = await this.#host.check(request);
    if (decision.approvalId !== id && decision.result !== 'DENY') {
      throw new AgentSafeError(
        'USAGE',
        `the request given does not match approval ${id} (another caller, action, target or params)`,
      );
    }
    return decision;
  }

  async #approver(options: ApprovalVoteOptions): Promise<Approver> {
    if (typeof options?.approverToken !== 'string' || options.approverToken.length === 0) {
      throw new AgentSafeError(
        'USAGE',
        'approverToken is required: an identity token whose roles include an approver role (not a name)',
      );
    }
    const security = await this.#host.security();
    const verified = await security.identity.verify(options.approverToken);
    if (!verified.ok) {
      throw new AgentSafeError(
        'IDENTITY_INVALID',
        `the approver token was refused (${verified.code}): ${verified.reason}`,
      );
    }
    return verified.caller;
  }
}
