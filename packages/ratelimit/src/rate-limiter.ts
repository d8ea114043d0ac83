import {
  AgentSafeError,
  type Clock,
  InMemorySlidingWindowStore,
  type SlidingWindowStore,
  type SlidingWindowStoreSync,
  type WindowTake,
  systemClock,
} from '@agent-safe/core';
import {
  MAX_GUARD_SECONDS,
  checkCallerKey,
  checkOptionsObject,
  keyPrefix,
  positiveInteger,
} from './validate-options.js';

/** Options of {@link RateLimiter}. */
export interface RateLimiterOptions {
  /** Requests each caller may make per window. */
  readonly maxRequests: number;
  /** Length of the sliding window in seconds. */
  readonly windowSeconds: number;
  /** Where windows live (default: a new {@link InMemorySlidingWindowStore}). Share one for replicas. */
  readonly store?: SlidingWindowStore;
  readonly clock?: Clock;
  /**
   * Namespace of this limiter's keys in the store: default `rate-limit:` for a given store, none for the
   * private default store (nothing else can write to it, and the prefix would cost a string per call).
   */
  readonly keyPrefix?: string;
}

/** Outcome of {@link RateLimiter.check}. */
export interface RateLimitCheck {
  readonly allowed: boolean;
  /** Requests counted in the caller's window, including this one when allowed. */
  readonly count: number;
  /** When refused: milliseconds until a slot frees up; 0 when allowed. */
  readonly retryAfterMs: number;
  /** When refused: the text a DENY decision carries. */
  readonly reason?: string;
}

const OPTION_NAMES = ['maxRequests', 'windowSeconds', 'store', 'clock', 'keyPrefix'] as const;

/**
 * Per-caller sliding-window rate limit. Only allowed requests take a slot: a refused request does not,
 * so a caller that keeps retrying is admitted again as soon as its oldest request leaves the window.
 */
export class RateLimiter {
  readonly maxRequests: number;
  readonly windowSeconds: number;
  readonly #windowMs: number;
  readonly #store: SlidingWindowStore;
  readonly #syncStore: SlidingWindowStoreSync | undefined;
  readonly #clock: Clock;
  readonly #prefix: string;

  constructor(options: RateLimiterOptions) {
    checkOptionsObject(options, 'RateLimiter', OPTION_NAMES);
    this.maxRequests = positiveInteger('RateLimiter', 'maxRequests', options.maxRequests, undefined);
    this.windowSeconds = positiveInteger(
      'RateLimiter',
      'windowSeconds',
      options.windowSeconds,
      undefined,
      MAX_GUARD_SECONDS,
    );
    this.#windowMs = this.windowSeconds * 1000;
    this.#store = options.store ?? new InMemorySlidingWindowStore();
    this.#prefix = keyPrefix(
      'RateLimiter',
      options.keyPrefix,
      options.store === undefined ? '' : 'rate-limit:',
    );
    this.#syncStore = syncWindowStore(this.#store);
    this.#clock = options.clock ?? systemClock;
  }

  /** True when the store answers synchronously, so {@link RateLimiter.checkSync} may be used. */
  get isSynchronous(): boolean {
    return this.#syncStore !== undefined;
  }

  /** Counts a request of `callerKey` if it is under the limit. Rejects when the store fails. */
  check(callerKey: string): Promise<RateLimitCheck> {
    if (this.#syncStore !== undefined) {
      try {
        return Promise.resolve(this.checkSync(callerKey));
      } catch (error) {
        return Promise.reject(error);
      }
    }
    return this.#checkAsync(callerKey);
  }

  /**
   * Synchronous {@link RateLimiter.check}; only for a synchronous store (throws USAGE otherwise).
   * `now` lets a caller that already read the clock skip a second read.
   */
  checkSync(callerKey: string, now: number = this.#clock.now()): RateLimitCheck {
    checkCallerKey('RateLimiter', callerKey);
    if (this.#syncStore === undefined) {
      throw new AgentSafeError('USAGE', 'RateLimiter.checkSync needs a store with takeSync; use check()');
    }
    const take = this.#syncStore.takeSync(this.#prefix + callerKey, now, this.#windowMs, this.maxRequests);
    return this.fromTake(callerKey, take);
  }

  /**
   * The store key, window and limit {@link RateLimiter.check} uses for `callerKey`, for a store that
   * fuses several guard steps into one operation (`GuardStepStore`).
   */
  stepInput(callerKey: string): { readonly key: string; readonly windowMs: number; readonly limit: number } {
    checkCallerKey('RateLimiter', callerKey);
    return { key: this.#prefix + callerKey, windowMs: this.#windowMs, limit: this.maxRequests };
  }

  /** The {@link RateLimitCheck} `check` would give for a store's `take` (from a fused guard step). */
  fromTake(callerKey: string, take: WindowTake): RateLimitCheck {
    if (take.allowed) return take;
    return {
      allowed: false,
      count: take.count,
      retryAfterMs: take.retryAfterMs,
      reason: `Rate limit exceeded for caller '${callerKey}': ${this.maxRequests} requests per ${this.windowSeconds}s window.`,
    };
  }

  async #checkAsync(callerKey: string): Promise<RateLimitCheck> {
    checkCallerKey('RateLimiter', callerKey);
    const take = await this.#store.take(
      this.#prefix + callerKey,
      this.#clock.now(),
      this.#windowMs,
      this.maxRequests,
    );
    return this.fromTake(callerKey, take);
  }
}

function syncWindowStore(store: SlidingWindowStore): SlidingWindowStoreSync | undefined {
  const candidate = store as SlidingWindowStore & Partial<SlidingWindowStoreSync>;
  return typeof candidate.takeSync === 'function' ? (candidate as SlidingWindowStoreSync) : undefined;
}
