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

/** Input of {@link GuardStepStore.guardStep}: the steps of one guarded check; omit a step to skip it. */
export interface GuardStepInput {
  /** Ignored by a store that reads its own clock. */
  readonly now: number;
  /** Breaker admission, as {@link CircuitBreakerStore.admit}. */
  readonly breaker?: { readonly key: string; readonly settings: BreakerSettings };
  /** Rate-limit take, as {@link SlidingWindowStore.take}. */
  readonly window?: { readonly key: string; readonly windowMs: number; readonly limit: number };
  /**
   * Weighted add, as {@link SlidingWindowStore.addBelow} (weight 0 just reads the sum). Its key must
   * differ from `window.key`.
   */
  readonly weights?: {
    readonly key: string;
    readonly windowMs: number;
    readonly weight: number;
    readonly ceiling: number;
  };
  /**
   * The request's final decision when it is already known (e.g. the policy said DENY, which nothing
   * later turns into a non-DENY), recorded on `breaker` as {@link CircuitBreakerStore.record} would,
   * with the admission's `probe`. Applied only when the breaker admitted the request and the window (if
   * given) allowed it; needs `breaker`. Saves the second operation a caller would otherwise make.
   */
  readonly record?: { readonly denied: boolean };
}

/**
 * Outcome of {@link GuardStepStore.guardStep}: one field per step that ran. A step after a refusal did
 * not run and is absent.
 */
export interface GuardStepResult {
  /** `probe` is true only when the half-open breaker's probe was handed out to this request. */
  readonly breaker?: BreakerAdmission;
  readonly window?: WindowTake;
  readonly weights?: WindowAdd;
  /**
   * Present only when `record` was asked for and applied: the breaker state after recording. When
   * absent, the decision was not recorded and the caller records it separately as usual.
   */
  readonly record?: BreakerRecord;
}

/**
 * Optional port of a shared store that runs every guard step of one check in ONE atomic operation (one
 * round trip to a remote store). Steps run in order, each only if the previous one passed:
 * 1. breaker admit — if refused, nothing else happens: no slot is taken, no weight added;
 * 2. window take — if refused, nothing is recorded and no probe is spent (a half-open breaker keeps
 *    its probe for a later request);
 * 3. weights addBelow — its own ceiling refusal records no weight but undoes nothing before it;
 * 4. breaker record (when asked for) — runs whenever steps 1 and 2 passed, whatever step 3 did.
 * Keys are the same keys the separate methods use, so fused and separate calls share state.
 */
export interface GuardStepStore {
  guardStep(input: GuardStepInput): Promise<GuardStepResult>;
}
