import {
  AgentSafeError,
  type CircuitBreakerStore,
  type Clock,
  type NonceStore,
  type RiskClass,
  type SlidingWindowStore,
} from '@agent-safe/core';
import { RateLimitGuard, type RateLimitGuardOptions, type RateLimitToken } from '@agent-safe/ratelimit';
import {
  type CumulativeRiskOptions,
  type CumulativeRiskOutcome,
  CumulativeRiskTracker,
} from '@agent-safe/risk';

/** Rate limit and circuit breaker settings (the seeds' `rate_limit`). */
export type RateLimitOptions = Omit<RateLimitGuardOptions, 'windowStore' | 'breakerStore' | 'clock'>;

/** Cumulative risk settings (the seeds' `cumulative_risk`). */
export type CumulativeRiskSettings = Omit<CumulativeRiskOptions, 'store' | 'clock' | 'keyPrefix'>;

/** A store shared by every guard: windows, breakers and (for ticket validators) nonces. */
export type SharedStore = SlidingWindowStore & CircuitBreakerStore & NonceStore & { close?(): Promise<void> };

/**
 * Where guard state lives: `'memory'` (default; this process only), a Redis URL
 * (`redis://127.0.0.1:6379`, shared by every replica using it), or a store object.
 */
export type StoreOption = 'memory' | string | SharedStore;

/** Settings of {@link Guards}. */
export interface GuardsOptions {
  readonly rateLimit?: RateLimitOptions;
  readonly cumulativeRisk?: CumulativeRiskSettings;
  readonly store?: StoreOption;
  readonly clock: Clock;
}

/** The stateful guards of one AgentSafe instance. */
export class Guards {
  readonly rate: RateLimitGuard | undefined;
  readonly risk: CumulativeRiskTracker | undefined;
  readonly store: SharedStore | undefined;
  /** Names the store in refusals, e.g. `Redis store at 127.0.0.1:6379`. */
  readonly storeName: string;

  private constructor(
    rate: RateLimitGuard | undefined,
    risk: CumulativeRiskTracker | undefined,
    store: SharedStore | undefined,
    storeName: string,
  ) {
    this.rate = rate;
    this.risk = risk;
    this.store = store;
    this.storeName = storeName;
  }

  /** True when the store is a Redis URL, which needs an (asynchronous) connection. */
  static remote(store: StoreOption | undefined): store is string {
    if (typeof store !== 'string' || store === 'memory') return false;
    if (!/^rediss?:\/\//.test(store)) {
      throw new AgentSafeError('USAGE', `store must be "memory" or a redis:// URL, got "${store}"`);
    }
    return true;
  }

  /** Builds the guards; connects to Redis when the store is a URL (the client is loaded only then). */
  static async create(options: GuardsOptions): Promise<Guards> {
    if (!Guards.remote(options.store)) return Guards.createLocal(options);
    const { RedisStore } = await import('@agent-safe/store-redis');
    const redis = await RedisStore.connect({ url: options.store });
    return Guards.#build(options, redis, `Redis store at ${redis.address}`);
  }

  /** Builds guards on local or given stores, synchronously: bad settings throw here. */
  static createLocal(options: GuardsOptions): Guards {
    const store = options.store && typeof options.store === 'object' ? options.store : undefined;
    return Guards.#build(options, store, store ? 'shared guard store' : 'in-memory guard store');
  }

  static #build(options: GuardsOptions, store: SharedStore | undefined, storeName: string): Guards {
    const rate = options.rateLimit
      ? new RateLimitGuard({
          ...options.rateLimit,
          clock: options.clock,
          ...(store ? { windowStore: store, breakerStore: store } : {}),
        })
      : undefined;
    const risk = options.cumulativeRisk
      ? new CumulativeRiskTracker({
          ...options.cumulativeRisk,
          clock: options.clock,
          ...(store ? { store } : {}),
        })
      : undefined;
    return new Guards(rate, risk, store, storeName);
  }

  /** Admission before policy evaluation. */
  async before(callerKey: string) {
    const rate = this.rate;
    if (!rate) return undefined;
    return rate.isSynchronous ? rate.beforeSync(callerKey) : rate.before(callerKey);
  }

  /** Cumulative risk after policy evaluation. */
  applyRisk(input: {
    callerKey: string;
    rootKey: string | undefined;
    effectiveRisk: RiskClass;
    result: 'ALLOW' | 'DENY' | 'REQUIRE_APPROVAL';
  }): Promise<CumulativeRiskOutcome> | undefined {
    return this.risk?.apply(input);
  }

  /** Records the final decision of an admitted request (DENYs feed the circuit breaker). */
  after(token: RateLimitToken | undefined, denied: boolean): Promise<void> | undefined {
    return token ? this.rate?.after(token, denied) : undefined;
  }

  async close(): Promise<void> {
    await this.store?.close?.();
  }
}
