import type { RiskClass } from './risk-class.js';
import type { ExecutionTicket } from './tickets.js';

/** Where an approval request stands. `used`: its one execution ticket has been issued. */
export type ApprovalStatus = 'pending' | 'approved' | 'denied' | 'expired' | 'used';

/** Every approval status, in lifecycle order. */
export const APPROVAL_STATUSES: readonly ApprovalStatus[] = Object.freeze([
  'pending',
  'approved',
  'denied',
  'expired',
  'used',
]);

/** One approver's verdict on a request. */
export interface ApprovalVote {
  /** Agent id of the approver, from a verified identity token. */
  readonly approver: string;
  /** The approver's roles when it voted (from the token). */
  readonly roles: readonly string[];
  /** Milliseconds since the epoch. */
  readonly at: number;
  readonly comment: string | null;
}

/** The execution ticket an approved request yielded (at most one, ever). */
export type ApprovalTicket = ExecutionTicket;

/**
 * A request for human approval, created when a check answers REQUIRE_APPROVAL. It is bound to the exact
 * request: action, target, caller and the RFC 8785 digest of its params, under a policy revision.
 * Stored as JSON (camelCase); `version` grows by one with every change so stores can compare-and-swap.
 */
export interface ApprovalRecord {
  /** Unguessable id, `apr-` and 32 hex digits. */
  readonly id: string;
  readonly version: number;
  readonly status: ApprovalStatus;
  readonly action: string;
  readonly target: string;
  /** Agent id of the requester. */
  readonly caller: string;
  readonly callerAuthenticated: boolean;
  /** Agent ids of the requester's delegation chain, root first. */
  readonly delegationChain: readonly string[];
  /** The params as shown to approvers: sensitive values masked. */
  readonly params: Readonly<Record<string, unknown>>;
  /** SHA-256 (hex) of the RFC 8785 canonical JSON of the real params. */
  readonly paramsDigest: string;
  readonly maskedPaths: readonly string[];
  /** Why approval is required (the policy's reason, or the cumulative-risk escalation). */
  readonly reason: string;
  readonly matchedRule: string | null;
  readonly effectiveRisk: RiskClass | null;
  readonly policyRevision: string;
  readonly ticketId: string | null;
  readonly correlationId: string | null;
  /** Audit event of the REQUIRE_APPROVAL decision that created the request. */
  readonly auditId: string;
  /** Milliseconds since the epoch. */
  readonly createdAt: number;
  readonly expiresAt: number;
  /** Distinct approvals needed. */
  readonly requiredApprovals: number;
  readonly requireComment: boolean;
  readonly approvals: readonly ApprovalVote[];
  readonly denials: readonly ApprovalVote[];
  /** When the request left `pending` (approved, denied or expired). */
  readonly decidedAt: number | null;
  readonly ticket: ApprovalTicket | null;
}

/** Filter of {@link ApprovalStore.list}. */
export interface ApprovalListFilter {
  readonly status?: ApprovalStatus;
  /** At most this many, newest first. Default 100. */
  readonly limit?: number;
}

/**
 * Where approval requests live, shared by every process (and replica) that decides or approves.
 * Changes are compare-and-swap on `version`, so two approvers acting at once never both win.
 */
export interface ApprovalStore {
  /** Human-readable name for errors ("the file store at …", "Redis at …"). */
  readonly name: string;
  get(id: string): Promise<ApprovalRecord | undefined>;
  /**
   * Stores a new request unless a `pending` (or `approved`, not yet collected) request with the same
   * `dedupeKey` exists, which is returned instead. Pass `dedupeKey: undefined` to always create.
   */
  create(
    record: ApprovalRecord,
    dedupeKey: string | undefined,
  ): Promise<{ record: ApprovalRecord; created: boolean }>;
  /** The open request (pending, approved or used) with this dedupe key, if any. */
  findOpen(dedupeKey: string): Promise<ApprovalRecord | undefined>;
  /**
   * Forgets that `id` is the open request for `dedupeKey` (only if it still is), so the next
   * {@link create} makes a new one: used when a `used` request's ticket has expired.
   */
  releaseOpen(dedupeKey: string, id: string): Promise<void>;
  /**
   * Replaces the record if the stored version is `next.version - 1`; resolves false (and changes
   * nothing) when another writer got there first.
   */
  replace(next: ApprovalRecord): Promise<boolean>;
  list(filter?: ApprovalListFilter): Promise<ApprovalRecord[]>;
  /**
   * Resolves when the record's version exceeds `version`, or when `timeoutMs` passes or `signal`
   * aborts (then resolves as well: the caller reads the record again). Implementations watch the
   * store (file events, Redis pub/sub) with a fallback poll, never a busy loop.
   */
  waitForChange(
    id: string,
    version: number,
    options: { timeoutMs: number; signal?: AbortSignal },
  ): Promise<void>;
  close(): Promise<void>;
}
