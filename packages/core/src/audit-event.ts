/**
 * Audit events as written to the JSONL log. Field names are snake_case: this is a wire format that
 * log shippers and SIEMs read, and it matches the original tool's log.
 */
export interface AuditEventBody {
  readonly event_id: string;
  /** ISO-8601 UTC. */
  readonly timestamp: string;
  /**
   * `decision`, `recovery`, and later kinds (`state_capture`, `ticket_validation`,
   * {@link SHADOW_DIFFERENCE_EVENT} …).
   */
  readonly event_type: string;
  readonly action?: string;
  readonly target?: string;
  readonly caller?: string;
  readonly caller_authenticated?: boolean;
  readonly delegation_chain?: readonly string[];
  readonly params?: Readonly<Record<string, unknown>>;
  /** Dotted paths of params whose values were masked. */
  readonly masked_paths?: readonly string[];
  readonly decision?: string;
  readonly reason?: string;
  readonly matched_rule?: string | null;
  readonly risk_class?: string | null;
  readonly effective_risk?: string | null;
  readonly correlation_id?: string | null;
  readonly ticket_id?: string | null;
  readonly policy_revision?: string;
  readonly errors?: readonly { code: string; message: string; path?: string }[];
  readonly context?: Readonly<Record<string, unknown>> | null;
  readonly [extra: string]: unknown;
}

/** The chain fields the log adds when it appends an event. */
export interface AuditChainFields {
  /** Position in this log, starting at 1, without gaps. */
  readonly sequence: number;
  /** Hash of the previous event, or {@link AUDIT_GENESIS_HASH} for the first. */
  readonly prev_hash: string;
  /** SHA-256 (hex) of the canonical JSON (RFC 8785) of the event without `hash` (so it covers `prev_hash` and `sequence`). */
  readonly hash: string;
}

/** A stored audit event. */
export type AuditEvent = AuditEventBody & AuditChainFields;

/** The `prev_hash` of the first event in a log. */
export const AUDIT_GENESIS_HASH = '0'.repeat(64);

/**
 * The event type of shadow mode: the candidate policy set answered a request otherwise than the enforced
 * one (see {@link ShadowDifferenceEventFields}). It follows the decision event it names.
 */
export const SHADOW_DIFFERENCE_EVENT = 'shadow_difference';

/**
 * The fields of a `shadow_difference` event, beside `event_id`, `timestamp`, `action`, `target`,
 * `caller`, `caller_authenticated`, `correlation_id` and `effective_risk`. It carries no params,
 * context or reasons: its decision event holds those, masked.
 */
export interface ShadowDifferenceEventFields {
  readonly event_type: typeof SHADOW_DIFFERENCE_EVENT;
  /** The `event_id` of the decision event of the same request. */
  readonly decision_event_id: string;
  /** What differs: `decision` (the result), `matched_rule`, or both. */
  readonly differences: readonly ('decision' | 'matched_rule')[];
  /** The enforced policy's result, before rate limits, cumulative risk and approvals. */
  readonly enforced_decision: string;
  readonly enforced_matched_rule: string | null;
  readonly enforced_policy_revision: string;
  /** The candidate policy's result on the same request, caller and instant; never the answer. */
  readonly shadow_decision: string;
  readonly shadow_matched_rule: string | null;
  readonly shadow_policy_revision: string;
  /** Error codes (and paths) of the candidate's evaluation, without messages. */
  readonly shadow_errors?: readonly { code: string; path?: string }[];
}
