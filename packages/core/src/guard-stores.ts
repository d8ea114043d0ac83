/**
 * Store ports for state that must be shared between replicas: rate-limit windows, circuit breakers and
 * cumulative risk. Every method is atomic per key across all processes sharing the store, so N
 * processes enforce exactly the limits one would. `now` is milliseconds since the epoch from the
 * caller's clock; a shared store may instead use its own single time source (documented by the store).
 * A store that cannot answer rejects; callers fail closed.
 */

/** Outcome of {@link SlidingWindowStore.take}. */
export interface WindowTake {
  readonly allowed: boolean;
  /** Entries in the window after the call. */
  readonly count: number;
  /** When refused: milliseconds until the oldest entry leaves the window. 0 when allowed. */
  readonly retryAfterMs: number;
}

/** Outcome of {@link SlidingWindowStore.addBelow}. */
export interface WindowAdd {
  /** Sum of weights in the window before the call. */
  readonly before: number;
  /** Sum after the call (equal to `before` when not recorded). */
  readonly after: number;
  readonly recorded: boolean;
}

/** Per-key sliding-window logs of timestamped weights. */
export interface SlidingWindowStore {
  /**
   * Drops entries at or before `now - windowMs`; if fewer than `limit` remain, records one (weight 1)
   * at `now` and allows.
   */
  take(key: string, now: number, windowMs: number, limit: number): Promise<WindowTake>;
  /**
   * Drops old entries, then records `weight` at `now` only if `before + weight < ceiling` (use
   * `Infinity` for no ceiling). `weight` 0 records nothing and just reports the sum.
   */
  addBelow(key: string, now: number, windowMs: number, weight: number, ceiling: number): Promise<WindowAdd>;
  /** Removes every entry of the key. */
  clear(key: string): Promise<void>;
}

/** Circuit breaker states. */
export type BreakerStateName = 'closed' | 'open' | 'half-open';

/** Settings of one breaker. */
export interface BreakerSettings {
  /** DENY decisions within `windowMs` that open the breaker. */
  readonly threshold: number;
  readonly windowMs: number;
  /** How long an opened breaker refuses everything before it half-opens. */
  readonly cooldownMs: number;
}

/** Outcome of {@link CircuitBreakerStore.admit}. */
export interface BreakerAdmission {
  readonly admitted: boolean;
  readonly state: BreakerStateName;
  /** While open: when the cooldown ends (ms since the epoch); otherwise 0. */
  readonly openUntil: number;
  /** True when this request is the single trial request of a half-open breaker. */
  readonly probe: boolean;
}

/** State after {@link CircuitBreakerStore.record}. */
export interface BreakerRecord {
  readonly state: BreakerStateName;
  readonly openUntil: number;
  /** DENY decisions currently in the window. */
  readonly denials: number;
}

/**
 * Per-key circuit breakers. Closed admits everything; `threshold` denials within the window open it;
 * open refuses everything until `openUntil`; then it half-opens and admits exactly one probe (a probe
 * that never reports back is released after another `cooldownMs`). A probe's non-DENY closes it, a
 * probe's DENY opens it again.
 */
export interface CircuitBreakerStore {
  admit(key: string, now: number, settings: BreakerSettings): Promise<BreakerAdmission>;
  /** Records the decision of an admitted request (`probe` as returned by `admit`). */
  record(
    key: string,
    now: number,
    denied: boolean,
    probe: boolean,
    settings: BreakerSettings,
  ): Promise<BreakerRecord>;
}
