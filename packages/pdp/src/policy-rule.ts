import type { DecisionResult, RiskClass, Sensitivity } from '@agent-safe/core';

/** Which targets a rule applies to. Absent fields match every target. */
export interface TargetSelector {
  readonly environments?: readonly string[];
  readonly sensitivities?: readonly Sensitivity[];
  readonly types?: readonly string[];
  /** Every pair must be present on the target with the same value. */
  readonly labels?: Readonly<Record<string, string>>;
}

/** Which callers a rule applies to. Absent fields match every caller. */
export interface CallerSelector {
  readonly agentIds?: readonly string[];
  /** Matches when the caller holds any of these roles. */
  readonly roles?: readonly string[];
  /** Matches when the caller is in any of these groups. */
  readonly groups?: readonly string[];
  /** Matches when any agent of the caller's delegation chain is listed. */
  readonly delegatedFrom?: readonly string[];
  /** Matches when the delegation chain has at most this many hops. */
  readonly maxDelegationDepth?: number;
  /** true: only delegated callers; false: only callers acting on their own behalf. */
  readonly requireDelegation?: boolean;
}

/**
 * A recurring window of time. `days` are 0 (Monday) … 6 (Sunday); hours are inclusive; when
 * `startHour > endHour` the window wraps past midnight (22–2 means 22:00 to 02:59). Day and hour are
 * both read from the same local time (UTC unless the decision point has a time zone).
 */
export interface TimeWindow {
  /** Absent means every day. */
  readonly days?: readonly number[];
  readonly startHour: number;
  readonly endHour: number;
}

/** What a rule matches. Fields AND together; the values of a list OR together. */
export interface PolicyMatch {
  /** Action names; `*` and `?` are globs. */
  readonly actions: readonly string[];
  readonly targets?: TargetSelector;
  readonly callers?: CallerSelector;
  /** Matches when the current time is in any of the windows. */
  readonly timeWindows?: readonly TimeWindow[];
  /** Matched against the effective risk (action risk × target sensitivity). */
  readonly riskClasses?: readonly RiskClass[];
  /** true: only with a change ticket id; false: only without; absent: either. */
  readonly requireTicket?: boolean;
}

/** One policy rule, normalised from YAML. */
export interface PolicyRule {
  /** Unique across every loaded file. */
  readonly name: string;
  readonly description: string;
  /** Higher is evaluated first. */
  readonly priority: number;
  readonly match: PolicyMatch;
  readonly decision: DecisionResult;
  readonly reason: string;
  /** Where the rule was read from (not part of the policy revision). */
  readonly source?: { readonly file: string; readonly index: number };
}

/** Every loaded rule plus the content hash decisions are recorded under. */
export interface PolicySet {
  readonly rules: readonly PolicyRule[];
  /** SHA-256 (hex) of the canonical JSON of the rules: changes whenever their meaning changes. */
  readonly revision: string;
  /** Files the rules came from, in load order. */
  readonly files: readonly string[];
}
