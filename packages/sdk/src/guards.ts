import { isAbsolute, resolve } from 'node:path';
import {
  AgentSafeError,
  type CircuitBreakerStore,
  type Clock,
  type GuardStepInput,
  type GuardStepStore,
  type NonceStore,
  type RiskClass,
  type SlidingWindowStore,
} from '@agent-safe/core';
import {
  type RateLimitAdmission,
  RateLimitGuard,
  type RateLimitGuardOptions,
  type RateLimitStepOptions,
  type RateLimitToken,
} from '@agent-safe/ratelimit';
import {
  type CumulativeRiskInput,
  type CumulativeRiskOptions,
  type CumulativeRiskOutcome,
  CumulativeRiskTracker,
} from '@agent-safe/risk';
import { fileStore, inspectFileStore, type NamedStore } from './file-store.js';
import { loadRedisStore } from './load-redis-store.js';

/** Rate limit and circuit breaker settings (the seeds' `rate_limit`). */
export type RateLimitOptions = Omit<RateLimitGuardOptions, 'windowStore' | 'breakerStore' | 'clock'>;

/** Cumulative risk settings (the seeds' `cumulative_risk`). */
export type CumulativeRiskSettings = Omit<CumulativeRiskOptions, 'store' | 'clock' | 'keyPrefix'>;

/**
 * A store shared by every guard: windows, breakers and (for ticket validators) nonces. With `guardStep`
 * (a `GuardStepStore`, as RedisStore), each check's guard steps are one store operation.
 */
export type SharedStore = SlidingWindowStore &
  CircuitBreakerStore &
  NonceStore &
  Partial<GuardStepStore> & { close?(): Promise<void> };

/** What the guards need to know of one request after policy evaluation. */
export interface GuardedRequest {
  readonly callerKey: string;
  readonly rootKey: string | undefined;
  /** Null or absent when the policy gave none; cumulative risk is then not applied. */
  readonly effectiveRisk: RiskClass | null | undefined;
  readonly result: 'ALLOW' | 'DENY' | 'REQUIRE_APPROVAL';
}

/** Outcome of {@link Guards.admit}: the rate-limit admission and the cumulative risk, when configured. */
const RECORD_DENIAL: RateLimitStepOptions = Object.freeze({ finalDecision: Object.freeze({ denied: true }) });
const NO_RECORD: RateLimitStepOptions = Object.freeze({});

export interface GuardedOutcome {
  /** Absent without a rate limit. When refused, cumulative risk was not applied. */
  readonly admission?: RateLimitAdmission;
  readonly risk?: CumulativeRiskOutcome;
}

/**
 * Where guard state lives: `'memory'` (default; this process only), `file:PATH` (a directory shared by
 * the processes of one machine, e.g. successive CLI runs; see `@agent-safe/store-file`), a Redis URL
 * (`redis://127.0.0.1:6379`, shared by every replica using it), or a store object.
 */
export type StoreOption = 'memory' | string | SharedStore;

/** Longest `file:` path accepted. */
const MAX_STORE_PATH_LENGTH = 4096;

/** Where the CLI keeps guard state when `store` is not set: beside agent-safe.yaml. */
export const CLI_STATE_DIRECTORY = '.agent-safe/state';

/** Where guard state lives for one CLI run, and why (see {@link cliGuardStore}). */
export interface CliGuardStore {
  /** The store to pass to AgentSafe, or undefined to keep the configured one. */
  readonly store: string | undefined;
  /**
   * `none`: no rate_limit / cumulative_risk configured; `default`: the CLI's file store beside the
   * project; `configured`: the project's own `store` (file or Redis); `memory`: `store: memory`, which
   * persists nothing between CLI runs.
   */
  readonly kind: 'none' | 'default' | 'configured' | 'memory';
  /** One line for people: where the state lives (Redis credentials are never shown). */
  readonly description: string;
}

/**
 * The CLI's guard store. Every `agent-safe check` is a new process, so in-memory guards would start empty
 * each run and rate limits and cumulative risk would never trigger: when guards are configured and
 * `store` is not set, the CLI keeps their state in a file store at `.agent-safe/state/` beside
 * agent-safe.yaml (or the working directory). An explicit `store: memory` is honoured, and reported.
 */
export function cliGuardStore(
  config: {
    readonly rateLimit?: unknown;
    readonly cumulativeRisk?: unknown;
    readonly store?: string;
    readonly file?: string;
  },
  cwd: string = process.cwd(),
): CliGuardStore {
  if (config.rateLimit === undefined && config.cumulativeRisk === undefined) {
    return { store: undefined, kind: 'none', description: 'no rate_limit or cumulative_risk configured' };
  }
  if (config.store === 'memory') {
    return {
      store: undefined,
      kind: 'memory',
      description:
        'store: memory: rate limits and cumulative risk do not persist between CLI runs (every `agent-safe check` starts empty); remove the setting to keep them in a file store, or use a redis:// store',
    };
  }
  if (config.store !== undefined) {
    return { store: undefined, kind: 'configured', description: describeStore(config.store) };
  }
  const base = config.file === undefined ? cwd : resolve(config.file, '..');
  const directory = resolve(base, CLI_STATE_DIRECTORY);
  return {
    store: `file:${directory}`,
    kind: 'default',
    description: `file store at ${directory} (the CLI's default; set store: in agent-safe.yaml to change it)`,
  };
}

/**
 * `agent-safe validate`'s line about guard state: where it lives for the CLI (see {@link cliGuardStore}),
 * a warning for `store: memory`, and an error when a file store's directory or state file would be
 * refused (every check would then be DENY). Read-only. Undefined without guards.
 */
export async function guardStateFinding(
  config: Parameters<typeof cliGuardStore>[0],
  cwd: string = process.cwd(),
): Promise<{ severity: 'ok' | 'warning' | 'error'; message: string } | undefined> {
  const where = cliGuardStore(config, cwd);
  if (where.kind === 'none') return undefined;
  if (where.kind === 'memory') return { severity: 'warning', message: where.description };
  const location = where.store ?? config.store ?? '';
  if (location.startsWith('file:')) {
    const problem = await inspectFileStore(location.slice(5));
    if (problem !== undefined) {
      return { severity: 'error', message: `${where.description}: ${problem} (every check would be DENY)` };
    }
  }
  return { severity: 'ok', message: where.description };
}

/** Names a store location for people: a file store's directory, or a Redis URL without credentials. */
export function describeStore(store: string): string {
  if (store.startsWith('file:')) return `file store at ${store.slice(5)}`;
  if (/^rediss?:\/\//.test(store)) {
    try {
      const url = new URL(store);
      return `Redis store at ${url.protocol}//${url.host}${url.pathname === '/' ? '' : url.pathname}`;
    } catch {
      return 'Redis store (malformed URL)';
    }
  }
  return store === 'memory' ? 'in-memory store (this process only)' : store;
}

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
  /**
   * Checks whose guard step failed (the store unreachable or refusing): each answered DENY naming the
   * store. Counted by the guard stage; read by metrics (`agent_safe_guard_store_errors_total`).
   */
  storeErrors = 0;
  readonly #clock: Clock;
  readonly #stepStore: GuardStepStore | undefined;

  private constructor(
    rate: RateLimitGuard | undefined,
    risk: CumulativeRiskTracker | undefined,
    store: SharedStore | undefined,
    storeName: string,
    clock: Clock,
  ) {
    this.rate = rate;
    this.risk = risk;
    this.store = store;
    this.storeName = storeName;
    this.#clock = clock;
    this.#stepStore = typeof store?.guardStep === 'function' ? (store as GuardStepStore) : undefined;
  }

  /**
   * True when the store is a Redis URL, which needs an (asynchronous) connection. `memory`, `file:PATH`
   * and store objects are local (built synchronously; a file store opens its directory on first use).
   * Throws USAGE for any other string.
   */
  static remote(store: StoreOption | undefined): boolean {
    if (typeof store !== 'string' || store === 'memory') return false;
    if (store.startsWith('file:')) {
      const path = store.slice(5);
      if (path.length === 0 || path.length > MAX_STORE_PATH_LENGTH || path.includes('\0')) {
        throw new AgentSafeError(
          'USAGE',
          `store file:PATH needs the path of a directory (e.g. file:./.agent-safe/state), got "${store.slice(0, 80)}"`,
        );
      }
      return false;
    }
    if (!/^rediss?:\/\//.test(store)) {
      throw new AgentSafeError(
        'USAGE',
        `store must be "memory", file:PATH or a redis:// URL, got "${store.slice(0, 80)}"`,
      );
    }
    return true;
  }

  /** A `file:` store with a relative path resolved against `cwd`; anything else as it is. */
  static resolveStore<T extends StoreOption | undefined>(store: T, cwd: string): T {
    if (typeof store !== 'string' || !store.startsWith('file:')) return store;
    const path = store.slice(5);
    return (path.length === 0 || isAbsolute(path) ? store : `file:${resolve(cwd, path)}`) as T;
  }

  /**
   * Opens the store a location names (`file:DIR` or a Redis URL), loading its package only then: the
   * guards' store, and the ticket nonce store when no guards are configured.
   */
  static async openStore(location: string, options: { connections?: number } = {}): Promise<NamedStore> {
    if (!Guards.remote(location)) {
      if (location.startsWith('file:')) return fileStore(location.slice(5));
      throw new AgentSafeError('USAGE', `store "${location}" is not a location to open`);
    }
    const { RedisStore } = await loadRedisStore();
    const redis = await RedisStore.connect({
      url: location,
      ...(options.connections ? { connections: options.connections } : {}),
    });
    return Object.assign(redis, { name: `Redis store at ${redis.address}` });
  }

  /** Builds the guards; connects to Redis when the store is a URL (the client is loaded only then). */
  static async create(options: GuardsOptions): Promise<Guards> {
    if (typeof options.store !== 'string' || !Guards.remote(options.store))
      return Guards.createLocal(options);
    const store = await Guards.openStore(options.store, { connections: 2 });
    return Guards.#build(options, store, store.name);
  }

  /** Builds guards on local or given stores, synchronously: bad settings throw here. */
  static createLocal(options: GuardsOptions): Guards {
    if (typeof options.store === 'string' && !Guards.remote(options.store) && options.store !== 'memory') {
      const store = fileStore(options.store.slice(5));
      return Guards.#build(options, store, store.name);
    }
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
    return new Guards(rate, risk, store, storeName, options.clock);
  }

  /**
   * Rate limit and breaker, then (if admitted) cumulative risk of one evaluated request. With a store
   * that fuses guard steps this is ONE store operation, with the same answers as the separate calls;
   * for a policy DENY that operation also records the denial on the breaker, so `after` has nothing to do.
   * Rejects when a store fails; the caller fails closed.
   */
  /** True when every guard answers synchronously (in-memory stores): the hot path needs no await. */
  get synchronous(): boolean {
    return (
      this.#stepStore === undefined &&
      (this.rate === undefined || this.rate.isSynchronous) &&
      (this.risk === undefined || this.risk.isSynchronous)
    );
  }

  /** {@link Guards.admit} for {@link Guards.synchronous} guards. Throws on store failure. */
  admitSync(request: GuardedRequest): GuardedOutcome {
    const riskInput = this.#riskInput(request);
    const admission = this.rate?.beforeSync(request.callerKey);
    if (admission !== undefined && !admission.ok) return { admission };
    if (riskInput === undefined) return admission === undefined ? {} : { admission };
    const risk = this.risk!.applySync(riskInput);
    return admission === undefined ? { risk } : { admission, risk };
  }

  /** {@link Guards.after} for {@link Guards.synchronous} guards. */
  afterSync(token: RateLimitToken | undefined, denied: boolean): void {
    if (token) this.rate?.afterSync(token, denied);
  }

  admit(request: GuardedRequest): Promise<GuardedOutcome> {
    const riskInput = this.#riskInput(request);
    if (this.#stepStore !== undefined) return this.#admitFused(this.#stepStore, request, riskInput);
    return this.#admitSeparately(request, riskInput);
  }

  async #admitSeparately(
    request: GuardedRequest,
    riskInput: CumulativeRiskInput | undefined,
  ): Promise<GuardedOutcome> {
    const admission = await this.before(request.callerKey);
    if (admission !== undefined && !admission.ok) return { admission };
    const risk = riskInput === undefined ? undefined : await this.risk!.apply(riskInput);
    return { ...(admission ? { admission } : {}), ...(risk ? { risk } : {}) };
  }

  async #admitFused(
    store: GuardStepStore,
    request: GuardedRequest,
    riskInput: CumulativeRiskInput | undefined,
  ): Promise<GuardedOutcome> {
    const callerKey = request.callerKey;
    const now = this.#clock.now();
    // Cumulative risk only escalates, so a policy DENY is the final decision: the breaker records it in
    // this same operation, and the token comes back settled (after() then costs nothing).
    const rate = this.rate?.stepInput(callerKey, request.result === 'DENY' ? RECORD_DENIAL : NO_RECORD);
    const weights = riskInput === undefined ? undefined : this.risk!.stepInput(riskInput);
    if (rate === undefined && weights === undefined) return {};
    // Built field by field (no spreads): this runs for every check.
    const input: { -readonly [K in keyof GuardStepInput]: GuardStepInput[K] } = { now };
    if (rate !== undefined) {
      input.window = rate.window;
      if (rate.breaker !== undefined) input.breaker = rate.breaker;
      if (rate.record !== undefined) input.record = rate.record;
    }
    if (weights !== undefined) input.weights = weights;
    const result = await store.guardStep(input);
    const outcome: { -readonly [K in keyof GuardedOutcome]: GuardedOutcome[K] } = {};
    if (rate !== undefined) {
      const admission = this.rate!.fromStep(callerKey, result, now);
      outcome.admission = admission;
      if (!admission.ok) return outcome;
    }
    if (riskInput !== undefined) outcome.risk = this.risk!.fromStep(riskInput, result);
    return outcome;
  }

  #riskInput(request: GuardedRequest): CumulativeRiskInput | undefined {
    if (this.risk === undefined || !request.effectiveRisk) return undefined;
    // The request has exactly the tracker's input fields: no copy on the hot path.
    return request as CumulativeRiskInput;
  }

  /** Admission before policy evaluation. */
  async before(callerKey: string) {
    const rate = this.rate;
    if (!rate) return undefined;
    return rate.isSynchronous ? rate.beforeSync(callerKey) : rate.before(callerKey);
  }

  /** Records the final decision of an admitted request (DENYs feed the circuit breaker). */
  after(token: RateLimitToken | undefined, denied: boolean): Promise<void> | undefined {
    return token ? this.rate?.after(token, denied) : undefined;
  }

  async close(): Promise<void> {
    await this.store?.close?.();
  }
}
