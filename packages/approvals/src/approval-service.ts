import {
  AgentSafeError,
  type ApprovalListFilter,
  type ApprovalRecord,
  type ApprovalStore,
  type ApprovalTicket,
  type AuditEventBody,
  type Clock,
  randomId,
  systemClock,
} from '@agent-safe/core';
import { approvalDedupeKey, isApprovalId, newApprovalId } from './approval-ids.js';
import type { ApprovalSettings } from './approval-settings.js';
import {
  type NewApprovalInput,
  type VoteInput,
  attachTicket,
  castVote,
  expireIfDue,
  newApprovalRecord,
} from './approval-transitions.js';
import type { ApprovalNotifier } from './notifiers.js';
import { MAX_LIST_LIMIT } from './store-helpers.js';

/** Options of {@link ApprovalService}. */
export interface ApprovalServiceOptions {
  readonly store: ApprovalStore;
  readonly settings: ApprovalSettings;
  readonly clock?: Clock;
  /** Records every transition (`approval_requested`, `approval_granted`, …). Failures are surfaced. */
  readonly audit?: (body: AuditEventBody) => Promise<unknown>;
  /** Told about new requests, off the hot path. */
  readonly notifier?: ApprovalNotifier;
}

/** What identifies "the same request" for deduplication and collection. */
export interface RequestIdentity {
  readonly caller: string;
  readonly callerAuthenticated: boolean;
  readonly action: string;
  readonly target: string;
  readonly paramsDigest: string;
}

/** Outcome of {@link ApprovalService.request}. */
export interface RequestOutcome {
  readonly record: ApprovalRecord;
  readonly created: boolean;
  /**
   * Settles once the `approval_requested` audit event is stored (at once when nothing was created).
   * Await it before answering: a request whose creation could not be recorded must not be relied on.
   */
  readonly recorded: Promise<void>;
}

const RECORDED: Promise<void> = Promise.resolve();

/** How often a compare-and-swap is retried when other writers keep winning. */
const MAX_SWAP_ATTEMPTS = 20;
/** Longest single wait on the store before the record is read again (also the fallback poll). */
const MAX_WAIT_SLICE_MS = 5_000;

/**
 * The approval workflow over a store: creates requests (deduplicated), applies approvers' votes with
 * compare-and-swap so concurrent approvers never both win, expires requests, attaches the one ticket,
 * and audits every transition. Never decides policy: the SDK re-checks it before a ticket is issued.
 */
export class ApprovalService {
  readonly store: ApprovalStore;
  readonly settings: ApprovalSettings;
  readonly #clock: Clock;
  readonly #audit: ((body: AuditEventBody) => Promise<unknown>) | undefined;
  readonly #notifier: ApprovalNotifier | undefined;

  constructor(options: ApprovalServiceOptions) {
    this.store = options.store;
    this.settings = options.settings;
    this.#clock = options.clock ?? systemClock;
    this.#audit = options.audit;
    this.#notifier = options.notifier;
  }

  /** The dedupe key of a request (see {@link approvalDedupeKey}), or undefined when dedupe is off. */
  dedupeKey(input: RequestIdentity): string | undefined {
    return this.settings.dedupe ? approvalDedupeKey(input) : undefined;
  }

  /** The open request for these exact (caller, action, target, params), expiring it first if due. */
  async findOpen(input: RequestIdentity) {
    const key = this.dedupeKey(input);
    if (key === undefined) return undefined;
    const record = await this.store.findOpen(key);
    if (!record) return undefined;
    const current = await this.#settle(record);
    return current.status === 'pending' || current.status === 'approved' || usable(current, this.#clock.now())
      ? current
      : undefined;
  }

  /**
   * Creates a pending request for a REQUIRE_APPROVAL decision, or returns the open one for the same
   * request. New requests are audited and handed to the notifier.
   */
  async request(input: Omit<NewApprovalInput, 'id'>): Promise<RequestOutcome> {
    const now = this.#clock.now();
    const record = newApprovalRecord({ ...input, id: newApprovalId() }, this.settings, now);
    const key = this.dedupeKey(input);
    let outcome = await this.store.create(record, key);
    for (let attempt = 0; !outcome.created && key !== undefined && attempt < MAX_SWAP_ATTEMPTS; attempt++) {
      // The open request may be over by now (expired, or used with its ticket expired): start afresh.
      const existing = await this.#settle(outcome.record);
      if (existing.status === 'pending' || existing.status === 'approved' || usable(existing, now)) {
        return { record: existing, created: false, recorded: RECORDED };
      }
      await this.store.releaseOpen(key, existing.id);
      outcome = await this.store.create(record, key);
    }
    if (!outcome.created) return { ...outcome, recorded: RECORDED };
    // Started now, awaited by the caller together with its own event (one group commit for both).
    const recorded = this.#record('approval_requested', outcome.record, {
      reason: record.reason,
      required_approvals: record.requiredApprovals,
      expires_at: new Date(record.expiresAt).toISOString(),
    });
    recorded.catch(() => undefined);
    this.#notifier?.notify(outcome.record);
    return { ...outcome, recorded };
  }

  /** One request, expired first if its time is up. Throws APPROVAL_UNKNOWN for an unknown or malformed id. */
  async get(id: string): Promise<ApprovalRecord> {
    const record = isApprovalId(id) ? await this.store.get(id) : undefined;
    if (!record) {
      throw new AgentSafeError(
        'APPROVAL_UNKNOWN',
        isApprovalId(id)
          ? `no approval request ${id} in ${this.store.name}`
          : 'an approval id looks like apr- followed by 32 hex digits (see agent-safe approval list)',
      );
    }
    return this.#settle(record);
  }

  /**
   * Requests, newest first, at most `limit` (default 100); pending requests whose time is up are
   * expired first, so `status: 'pending'` never lists a request nobody can approve any more.
   */
  async list(filter: ApprovalListFilter = {}): Promise<ApprovalRecord[]> {
    const limit = filter.limit ?? 100;
    const now = this.#clock.now();
    // Pending and expired are read together: a stored "pending" may be expired by now.
    const stored =
      filter.status === 'pending' || filter.status === 'expired'
        ? [
            ...(await this.store.list({ status: 'pending', limit: MAX_LIST_LIMIT })),
            ...(await this.store.list({ status: 'expired', limit: MAX_LIST_LIMIT })),
          ]
        : await this.store.list({ ...filter, limit: filter.status === undefined ? limit : MAX_LIST_LIMIT });
    const settled = await Promise.all(
      stored.map((record) => (expireIfDue(record, now) ? this.#settle(record) : record)),
    );
    return settled
      .filter((record) => filter.status === undefined || record.status === filter.status)
      .sort((a, b) => b.createdAt - a.createdAt)
      .slice(0, limit);
  }

  /** Applies an approval. Throws APPROVAL_REFUSED (details.reason: the refusal code) when refused. */
  approve(id: string, vote: Omit<VoteInput, 'verdict'>): Promise<ApprovalRecord> {
    return this.#vote(id, { ...vote, verdict: 'approve' });
  }

  /** Applies a denial: one denial denies the request. */
  deny(id: string, vote: Omit<VoteInput, 'verdict'>): Promise<ApprovalRecord> {
    return this.#vote(id, { ...vote, verdict: 'deny' });
  }

  /**
   * Attaches the one execution ticket to an approved request (made by `issue`, called at most once per
   * winning writer). If another process attached one first, that one is returned and ours is dropped
   * unused, so a request never yields two tickets that were both handed out.
   */
  async attachTicket(id: string, issue: () => Promise<ApprovalTicket>): Promise<ApprovalTicket> {
    for (let attempt = 0; attempt < MAX_SWAP_ATTEMPTS; attempt++) {
      const current = await this.get(id);
      if (current.status === 'used' && current.ticket) return current.ticket;
      if (current.status !== 'approved') {
        throw new AgentSafeError(
          'APPROVAL_REFUSED',
          `approval request ${id} is ${current.status}, not approved`,
          {
            details: { reason: current.status.toUpperCase() },
          },
        );
      }
      const ticket = await issue();
      const next = attachTicket(current, ticket);
      if (await this.store.replace(next)) {
        await this.#record('approval_ticket_issued', next, {
          ticket_nonce: ticket.nonce,
          ticket_expires_at: new Date(ticket.expiresAt).toISOString(),
          ticket_audit_id: ticket.auditId,
        });
        return ticket;
      }
    }
    throw contention(id);
  }

  /**
   * Waits until the request leaves `pending` (approved, denied or expired) or the timeout passes or the
   * signal aborts; returns the record as it then stands. Wakes on store changes, never busy-polls.
   */
  async waitFor(id: string, options: { timeoutMs: number; signal?: AbortSignal }): Promise<ApprovalRecord> {
    const deadline = this.#clock.now() + options.timeoutMs;
    const started = Date.now();
    let record = await this.get(id);
    while (record.status === 'pending' && !options.signal?.aborted) {
      const left = Math.min(deadline - this.#clock.now(), options.timeoutMs - (Date.now() - started));
      if (left <= 0) break;
      // Sleep until a change, the expiry or a slice passes, whichever is first.
      const untilExpiry = Math.max(1, record.expiresAt - this.#clock.now());
      await this.store.waitForChange(id, record.version, {
        timeoutMs: Math.min(left, untilExpiry, MAX_WAIT_SLICE_MS),
        ...(options.signal ? { signal: options.signal } : {}),
      });
      record = await this.get(id);
    }
    return record;
  }

  async close(): Promise<void> {
    await this.#notifier?.close();
    await this.store.close();
  }

  async #vote(id: string, vote: VoteInput): Promise<ApprovalRecord> {
    for (let attempt = 0; attempt < MAX_SWAP_ATTEMPTS; attempt++) {
      const current = await this.get(id);
      const outcome = castVote(current, vote, this.settings, this.#clock.now());
      if (!outcome.ok) {
        if (outcome.record && (await this.store.replace(outcome.record))) {
          await this.#record('approval_expired', outcome.record, {});
        }
        throw new AgentSafeError('APPROVAL_REFUSED', outcome.message, { details: { reason: outcome.code } });
      }
      if (await this.store.replace(outcome.record)) {
        const next = outcome.record;
        const votes = vote.verdict === 'deny' ? next.denials : next.approvals;
        const cast = votes[votes.length - 1]!;
        await this.#record(vote.verdict === 'deny' ? 'approval_denied' : 'approval_granted', next, {
          approver: cast.approver,
          approver_roles: cast.roles,
          comment: cast.comment,
          approvals: next.approvals.length,
          required_approvals: next.requiredApprovals,
        });
        return next;
      }
    }
    throw contention(id);
  }

  /** Persists the expiry of a request whose time is up (once: losers of the swap re-read). */
  async #settle(record: ApprovalRecord): Promise<ApprovalRecord> {
    const expired = expireIfDue(record, this.#clock.now());
    if (!expired) return record;
    if (await this.store.replace(expired)) {
      await this.#record('approval_expired', expired, {});
      return expired;
    }
    return (await this.store.get(record.id)) ?? expired;
  }

  async #record(eventType: string, record: ApprovalRecord, extra: Record<string, unknown>): Promise<void> {
    if (!this.#audit) return;
    await this.#audit({
      event_id: randomId('evt'),
      timestamp: new Date(this.#clock.now()).toISOString(),
      event_type: eventType,
      approval_id: record.id,
      approval_status: record.status,
      action: record.action,
      target: record.target,
      caller: record.caller,
      caller_authenticated: record.callerAuthenticated,
      ...(record.delegationChain.length > 0 ? { delegation_chain: record.delegationChain } : {}),
      params_digest: record.paramsDigest,
      effective_risk: record.effectiveRisk,
      policy_revision: record.policyRevision,
      decision_audit_id: record.auditId,
      ...extra,
    });
  }
}

/** A used request whose ticket has not expired: asking again returns that ticket. */
function usable(record: ApprovalRecord, now: number): boolean {
  return record.status === 'used' && record.ticket !== null && record.ticket.expiresAt > now;
}

function contention(id: string): AgentSafeError {
  return new AgentSafeError(
    'INTERNAL',
    `approval request ${id} kept changing under concurrent writers; try again`,
  );
}
