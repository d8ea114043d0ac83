import {
  type BreakerAdmission,
  type BreakerRecord,
  type BreakerSettings,
  type BreakerStateName,
  type CircuitBreakerStore,
  type CircuitBreakerStoreSync,
  type Clock,
  AgentSafeError,
  InMemoryCircuitBreakerStore,
  systemClock,
} from '@agent-safe/core';
import {
  MAX_GUARD_SECONDS,
  checkCallerKey,
  checkOptionsObject,
  keyPrefix,
  positiveInteger,
} from './validate-options.js';

/** Options of {@link CircuitBreaker}. */
export interface CircuitBreakerOptions {
  /** DENY decisions within the window that pause a caller. */
  readonly threshold: number;
  /** How long a paused caller is refused before one trial request is let through. */
  readonly cooldownSeconds: number;
  /** Window over which denials are counted (default 60). */
  readonly windowSeconds?: number;
  /** Where breaker state lives (default: a new {@link InMemoryCircuitBreakerStore}). */
  readonly store?: CircuitBreakerStore;
  readonly clock?: Clock;
  /** Namespace of this breaker's keys in the store: default `circuit-breaker:` for a given store, none for the private default store. */
  readonly keyPrefix?: string;
}

/** Outcome of {@link CircuitBreaker.admit}. */
export interface CircuitAdmission {
  readonly admitted: boolean;
  readonly state: BreakerStateName;
  /** True when this request is the single trial of a half-open breaker: report its decision. */
  readonly probe: boolean;
  /** While open: when the pause ends (ms since the epoch); otherwise 0. */
  readonly openUntil: number;
  /** When refused while open: milliseconds until the pause ends; undefined otherwise. */
  readonly retryAfterMs?: number;
  /** When refused: the text a DENY decision carries. */
  readonly reason?: string;
}

const OPTION_NAMES = [
  'threshold',
  'cooldownSeconds',
  'windowSeconds',
  'store',
  'clock',
  'keyPrefix',
] as const;

/** Default window over which denials are counted, in seconds. */
export const DEFAULT_BREAKER_WINDOW_SECONDS = 60;

/**
 * Per-caller circuit breaker: a caller whose requests are denied `threshold` times within the window
 * is paused for the cooldown, then half-opens and admits exactly one trial request; the trial's ALLOW
 * (or REQUIRE_APPROVAL) closes the breaker, its DENY pauses the caller again. A trial that never reports
 * back is released after another cooldown.
 */
export class CircuitBreaker {
  readonly threshold: number;
  readonly cooldownSeconds: number;
  readonly windowSeconds: number;
  readonly #settings: BreakerSettings;
  readonly #store: CircuitBreakerStore;
  readonly #syncStore: CircuitBreakerStoreSync | undefined;
  readonly #clock: Clock;
  readonly #prefix: string;

  constructor(options: CircuitBreakerOptions) {
    checkOptionsObject(options, 'CircuitBreaker', OPTION_NAMES);
    this.threshold = positiveInteger('CircuitBreaker', 'threshold', options.threshold, undefined);
    this.cooldownSeconds = positiveInteger(
      'CircuitBreaker',
      'cooldownSeconds',
      options.cooldownSeconds,
      undefined,
      MAX_GUARD_SECONDS,
    );
    this.windowSeconds = positiveInteger(
      'CircuitBreaker',
      'windowSeconds',
      options.windowSeconds,
      DEFAULT_BREAKER_WINDOW_SECONDS,
      MAX_GUARD_SECONDS,
    );
    this.#settings = Object.freeze({
      threshold: this.threshold,
      windowMs: this.windowSeconds * 1000,
      cooldownMs: this.cooldownSeconds * 1000,
    });
    this.#store = options.store ?? new InMemoryCircuitBreakerStore();
    this.#prefix = keyPrefix(
      'CircuitBreaker',
      options.keyPrefix,
      options.store === undefined ? '' : 'circuit-breaker:',
    );
    this.#syncStore = syncBreakerStore(this.#store);
    this.#clock = options.clock ?? systemClock;
  }

  /** True when the store answers synchronously, so the `…Sync` methods may be used. */
  get isSynchronous(): boolean {
    return this.#syncStore !== undefined;
  }

  /** Asks whether a request of `callerKey` may proceed. Rejects when the store fails. */
  admit(callerKey: string): Promise<CircuitAdmission> {
    if (this.#syncStore !== undefined) {
      try {
        return Promise.resolve(this.admitSync(callerKey));
      } catch (error) {
        return Promise.reject(error);
      }
    }
    return this.#admitAsync(callerKey);
  }

  /**
   * Synchronous {@link CircuitBreaker.admit}; only for a synchronous store (throws USAGE otherwise).
   * `now` lets a caller that already read the clock skip a second read.
   */
  admitSync(callerKey: string, now: number = this.#clock.now()): CircuitAdmission {
    checkCallerKey('CircuitBreaker', callerKey);
    const admission = this.#requireSync('admitSync').admitSync(this.#prefix + callerKey, now, this.#settings);
    return this.fromAdmission(callerKey, admission, now);
  }

  /**
   * Records the final decision of an admitted request (`probe` as returned by `admit`). Only denials
   * and probe outcomes change state.
   */
  record(callerKey: string, denied: boolean, probe: boolean): Promise<BreakerRecord> {
    if (this.#syncStore !== undefined) {
      try {
        return Promise.resolve(this.recordSync(callerKey, denied, probe));
      } catch (error) {
        return Promise.reject(error);
      }
    }
    checkCallerKey('CircuitBreaker', callerKey);
    return this.#store.record(
      this.#prefix + callerKey,
      this.#clock.now(),
      denied === true,
      probe === true,
      this.#settings,
    );
  }

  /** Synchronous {@link CircuitBreaker.record}; only for a synchronous store (throws USAGE otherwise). */
  recordSync(callerKey: string, denied: boolean, probe: boolean): BreakerRecord {
    checkCallerKey('CircuitBreaker', callerKey);
    return this.#requireSync('recordSync').recordSync(
      this.#prefix + callerKey,
      this.#clock.now(),
      denied === true,
      probe === true,
      this.#settings,
    );
  }

  /**
   * The store key and settings {@link CircuitBreaker.admit} uses for `callerKey`, for a store that fuses
   * several guard steps into one operation (`GuardStepStore`).
   */
  stepInput(callerKey: string): { readonly key: string; readonly settings: BreakerSettings } {
    checkCallerKey('CircuitBreaker', callerKey);
    return { key: this.#prefix + callerKey, settings: this.#settings };
  }

  /**
   * The {@link CircuitAdmission} `admit` would give for a store's `admission` (from a fused guard step)
   * read at `now`.
   */
  fromAdmission(callerKey: string, admission: BreakerAdmission, now: number): CircuitAdmission {
    return admission.admitted ? admission : this.#refusal(callerKey, admission, now);
  }

  async #admitAsync(callerKey: string): Promise<CircuitAdmission> {
    checkCallerKey('CircuitBreaker', callerKey);
    const now = this.#clock.now();
    const admission = await this.#store.admit(this.#prefix + callerKey, now, this.#settings);
    return this.fromAdmission(callerKey, admission, now);
  }

  #requireSync(method: string): CircuitBreakerStoreSync {
    if (this.#syncStore === undefined) {
      throw new AgentSafeError(
        'USAGE',
        `CircuitBreaker.${method} needs a store with ${method}; use the async method`,
      );
    }
    return this.#syncStore;
  }

  #refusal(callerKey: string, admission: BreakerAdmission, now: number): CircuitAdmission {
    const reason =
      admission.state === 'open'
        ? `Circuit breaker open for caller '${callerKey}': ${this.threshold} denied requests in ` +
          `${this.windowSeconds}s; paused until ${isoTime(admission.openUntil)}.`
        : `Circuit breaker half-open for caller '${callerKey}': a trial request is in progress; ` +
          `other requests are paused until it completes (at most ${this.cooldownSeconds}s).`;
    return {
      admitted: false,
      state: admission.state,
      probe: false,
      openUntil: admission.openUntil,
      ...(admission.state === 'open' ? { retryAfterMs: Math.max(0, admission.openUntil - now) } : {}),
      reason,
    };
  }
}

function isoTime(epochMs: number): string {
  const date = new Date(epochMs);
  return Number.isNaN(date.getTime()) ? 'an unknown time' : date.toISOString();
}

function syncBreakerStore(store: CircuitBreakerStore): CircuitBreakerStoreSync | undefined {
  const candidate = store as CircuitBreakerStore & Partial<CircuitBreakerStoreSync>;
  return typeof candidate.admitSync === 'function' && typeof candidate.recordSync === 'function'
    ? (candidate as CircuitBreakerStoreSync)
    : undefined;
}
