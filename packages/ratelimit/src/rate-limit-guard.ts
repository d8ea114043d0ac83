import {
  AgentSafeError,
  type CircuitBreakerStore,
  type Clock,
  type GuardStepInput,
  type GuardStepResult,
  type SlidingWindowStore,
  systemClock,
} from '@agent-safe/core';
import { CircuitBreaker, type CircuitAdmission } from './circuit-breaker.js';
import { RateLimiter } from './rate-limiter.js';
import { MAX_GUARD_SECONDS, checkOptionsObject, positiveInteger } from './validate-options.js';

/**
 * Options of {@link RateLimitGuard}: the original's `rate_limit` block in camelCase, plus stores.
 * Omit `circuitBreakerThreshold` to run without a breaker.
 */
export interface RateLimitGuardOptions {
  /** Requests per caller per window. */
  readonly maxRequests: number;
  /** Sliding window in seconds (default 60); also the window over which the breaker counts denials. */
  readonly windowSeconds?: number;
  /** DENY decisions within the window that pause a caller. */
  readonly circuitBreakerThreshold?: number;
  /** How long a paused caller is refused (default 300). */
  readonly circuitBreakerCooldownSeconds?: number;
  /** Store of the request windows (default in-memory). */
  readonly windowStore?: SlidingWindowStore;
  /** Store of the breakers (default in-memory). */
  readonly breakerStore?: CircuitBreakerStore;
  readonly clock?: Clock;
}

/** Why {@link RateLimitGuard.before} refused a request. */
export type RateLimitRefusalCode = 'RATE_LIMITED' | 'CIRCUIT_OPEN';

/** Outcome of {@link RateLimitGuard.before}. */
export type RateLimitAdmission =
  | { readonly ok: true; readonly token: RateLimitToken }
  | {
      readonly ok: false;
      readonly code: RateLimitRefusalCode;
      /** The text the DENY decision carries. */
      readonly reason: string;
      /** Milliseconds until a retry can succeed, when known. */
      readonly retryAfterMs?: number;
    };

/**
 * Proof that a request passed {@link RateLimitGuard.before}; hand it to {@link RateLimitGuard.after}
 * with the final decision. Only the guard that issued it accepts it, and only once.
 */
export class RateLimitToken {
  readonly callerKey: string;
  /** True when the request is the trial of a half-open breaker. */
  readonly probe: boolean;
  /** @internal */
  readonly issuer: object;
  /** @internal */
  settled = false;

  /** @internal Tokens are issued by {@link RateLimitGuard.before}. */
  constructor(issuer: object, callerKey: string, probe: boolean) {
    this.issuer = issuer;
    this.callerKey = callerKey;
    this.probe = probe;
  }
}

/** The rate-limit part of a fused guard step (`GuardStepInput` without `now` and `weights`). */
export type RateLimitStepInput = Pick<GuardStepInput, 'breaker' | 'record'> & {
  readonly window: NonNullable<GuardStepInput['window']>;
};

/** Options of {@link RateLimitGuard.stepInput}. */
export interface RateLimitStepOptions {
  /**
   * The request's final decision, when it is known before the guards run (a policy DENY stays DENY):
   * the breaker then records it in the same store operation and {@link RateLimitGuard.after} has
   * nothing left to do for the request. Leave it out when a later stage may still change the decision.
   */
  readonly finalDecision?: { readonly denied: boolean };
}

/** Default sliding window of the guard, in seconds. */
export const DEFAULT_RATE_LIMIT_WINDOW_SECONDS = 60;
/** Default breaker cooldown of the guard, in seconds. */
export const DEFAULT_CIRCUIT_BREAKER_COOLDOWN_SECONDS = 300;

const OPTION_NAMES = [
  'maxRequests',
  'windowSeconds',
  'circuitBreakerThreshold',
  'circuitBreakerCooldownSeconds',
  'windowStore',
  'breakerStore',
  'clock',
] as const;

const DONE: Promise<void> = Promise.resolve();

/**
 * The rate-limit stage of a check: a sliding-window limit per caller and an optional circuit breaker
 * that pauses callers whose requests keep being denied.
 *
 * Call {@link RateLimitGuard.before} ahead of policy evaluation and, when it admits, report the final
 * decision with {@link RateLimitGuard.after}. Design choices:
 * - The breaker is asked first, so a paused caller is told it is paused and consumes no rate slot.
 * - Requests refused here never reach `after`, so they do NOT count as denials: otherwise a flood of
 *   rate-limited requests would keep a breaker open for ever.
 * - A half-open trial request that is itself rate-limited pauses the caller for another cooldown (a
 *   caller still flooding when the pause ends stays paused).
 * - A store failure rejects the returned promise with the store's error; the caller must fail closed.
 *
 * With a store that fuses guard steps (`GuardStepStore`), {@link RateLimitGuard.stepInput} and
 * {@link RateLimitGuard.fromStep} replace `before` with one store operation and give the same
 * admissions. One difference, by the port's design: a half-open trial request that is rate-limited
 * takes no probe, so the breaker stays half-open (rather than pausing for another cooldown) and the
 * caller's next request within its limit becomes the trial.
 */
export class RateLimitGuard {
  readonly limiter: RateLimiter;
  readonly breaker: CircuitBreaker | undefined;
  readonly #synchronous: boolean;
  readonly #clock: Clock;

  constructor(options: RateLimitGuardOptions) {
    checkOptionsObject(options, 'RateLimitGuard', OPTION_NAMES);
    const windowSeconds = positiveInteger(
      'RateLimitGuard',
      'windowSeconds',
      options.windowSeconds,
      DEFAULT_RATE_LIMIT_WINDOW_SECONDS,
      MAX_GUARD_SECONDS,
    );
    const clock = options.clock ?? systemClock;
    this.#clock = clock;
    this.limiter = new RateLimiter({
      maxRequests: positiveInteger('RateLimitGuard', 'maxRequests', options.maxRequests, undefined),
      windowSeconds,
      clock,
      ...(options.windowStore === undefined ? {} : { store: options.windowStore }),
    });
    if (options.circuitBreakerThreshold === undefined) {
      if (options.circuitBreakerCooldownSeconds !== undefined) {
        throw new AgentSafeError(
          'USAGE',
          'RateLimitGuard: circuitBreakerCooldownSeconds needs circuitBreakerThreshold',
          {
            issues: [
              {
                message: 'set circuitBreakerThreshold (denials that pause a caller) or remove the cooldown',
                path: 'circuitBreakerThreshold',
              },
            ],
          },
        );
      }
      this.breaker = undefined;
    } else {
      this.breaker = new CircuitBreaker({
        threshold: positiveInteger(
          'RateLimitGuard',
          'circuitBreakerThreshold',
          options.circuitBreakerThreshold,
          undefined,
        ),
        cooldownSeconds: positiveInteger(
          'RateLimitGuard',
          'circuitBreakerCooldownSeconds',
          options.circuitBreakerCooldownSeconds,
          DEFAULT_CIRCUIT_BREAKER_COOLDOWN_SECONDS,
          MAX_GUARD_SECONDS,
        ),
        windowSeconds,
        clock,
        ...(options.breakerStore === undefined ? {} : { store: options.breakerStore }),
      });
    }
    this.#synchronous =
      this.limiter.isSynchronous && (this.breaker === undefined || this.breaker.isSynchronous);
  }

  /** True when both stores answer synchronously, so {@link RateLimitGuard.beforeSync} may be used. */
  get isSynchronous(): boolean {
    return this.#synchronous;
  }

  /** Admits or refuses a request of `callerKey`. Rejects (never resolves a refusal) when a store fails. */
  before(callerKey: string): Promise<RateLimitAdmission> {
    if (!this.#synchronous) return this.#beforeAsync(callerKey);
    try {
      return Promise.resolve(this.beforeSync(callerKey));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Synchronous {@link RateLimitGuard.before} for in-process stores (throws USAGE otherwise). */
  beforeSync(callerKey: string): RateLimitAdmission {
    if (!this.#synchronous) {
      throw new AgentSafeError('USAGE', 'RateLimitGuard.beforeSync needs synchronous stores; use before()');
    }
    const now = this.#clock.now();
    let probe = false;
    if (this.breaker !== undefined) {
      const admission = this.breaker.admitSync(callerKey, now);
      if (!admission.admitted) return this.#breakerRefusal(admission);
      probe = admission.probe;
    }
    const check = this.limiter.checkSync(callerKey, now);
    if (!check.allowed) {
      if (probe) this.breaker!.recordSync(callerKey, true, true);
      return { ok: false, code: 'RATE_LIMITED', reason: check.reason!, retryAfterMs: check.retryAfterMs };
    }
    return { ok: true, token: new RateLimitToken(this, callerKey, probe) };
  }

  /**
   * Reports the final decision of an admitted request (`denied` for DENY). Denials count toward the
   * breaker; a trial's outcome closes or re-opens it. A token is settled once: later calls do nothing.
   */
  after(token: RateLimitToken, denied: boolean): Promise<void> {
    if (!(token instanceof RateLimitToken) || token.issuer !== this) {
      return Promise.reject(
        new AgentSafeError('USAGE', 'RateLimitGuard.after needs a token returned by this guard’s before()'),
      );
    }
    if (token.settled) return DONE;
    token.settled = true;
    // Only denials and trial outcomes change a breaker, so an ordinary ALLOW costs nothing.
    if (this.breaker === undefined || (denied !== true && !token.probe)) return DONE;
    if (this.breaker.isSynchronous) {
      try {
        this.breaker.recordSync(token.callerKey, denied === true, token.probe);
        return DONE;
      } catch (error) {
        return Promise.reject(error);
      }
    }
    return this.breaker.record(token.callerKey, denied === true, token.probe).then(() => undefined);
  }

  /**
   * {@link RateLimitGuard.after} without a promise, for synchronous (in-memory) stores: records the final
   * decision of an admitted request. Throws what `after` would reject with.
   */
  afterSync(token: RateLimitToken, denied: boolean): void {
    if (!(token instanceof RateLimitToken) || token.issuer !== this) {
      throw new AgentSafeError(
        'USAGE',
        'RateLimitGuard.afterSync needs a token returned by this guard’s before()',
      );
    }
    if (token.settled) return;
    token.settled = true;
    if (this.breaker === undefined || (denied !== true && !token.probe)) return;
    this.breaker.recordSync(token.callerKey, denied === true, token.probe);
  }

  /**
   * The breaker and window steps `before(callerKey)` would take, with the same keys and settings, for a
   * store's `guardStep`. Throws (INPUT_INVALID) for an empty caller key, as `before` rejects. With
   * `finalDecision` and a breaker, the step also records that decision (see {@link RateLimitStepOptions}).
   */
  stepInput(callerKey: string, options: RateLimitStepOptions = {}): RateLimitStepInput {
    const window = this.limiter.stepInput(callerKey);
    if (this.breaker === undefined) return { window };
    const breaker = this.breaker.stepInput(callerKey);
    const decision = options?.finalDecision;
    if (decision === undefined) return { breaker, window };
    return { breaker, window, record: { denied: decision?.denied === true } };
  }

  /**
   * The admission `before(callerKey)` gives, from the `result` of a `guardStep` run at `now` on
   * {@link RateLimitGuard.stepInput}. The token works with {@link RateLimitGuard.after} as usual; when
   * the store already recorded the decision (`result.record`), the token comes settled, so `after` adds
   * nothing and the decision counts once. A store that ignored `record` answers without it, and `after`
   * records as usual. Throws (INTERNAL) when the result lacks a step that must have run: the caller fails
   * closed.
   */
  fromStep(callerKey: string, result: GuardStepResult, now: number): RateLimitAdmission {
    let probe = false;
    if (this.breaker !== undefined) {
      const admission = this.breaker.fromAdmission(callerKey, requireStep(result?.breaker, 'breaker'), now);
      if (!admission.admitted) return this.#breakerRefusal(admission);
      probe = admission.probe;
    }
    const check = this.limiter.fromTake(callerKey, requireStep(result?.window, 'window'));
    if (!check.allowed) {
      return { ok: false, code: 'RATE_LIMITED', reason: check.reason!, retryAfterMs: check.retryAfterMs };
    }
    const token = new RateLimitToken(this, callerKey, probe);
    if (this.breaker !== undefined && typeof result.record === 'object' && result.record !== null) {
      token.settled = true;
    }
    return { ok: true, token };
  }

  async #beforeAsync(callerKey: string): Promise<RateLimitAdmission> {
    let probe = false;
    if (this.breaker !== undefined) {
      const admission = await this.breaker.admit(callerKey);
      if (!admission.admitted) return this.#breakerRefusal(admission);
      probe = admission.probe;
    }
    const check = await this.limiter.check(callerKey);
    if (!check.allowed) {
      if (probe) await this.breaker!.record(callerKey, true, true);
      return { ok: false, code: 'RATE_LIMITED', reason: check.reason!, retryAfterMs: check.retryAfterMs };
    }
    return { ok: true, token: new RateLimitToken(this, callerKey, probe) };
  }

  #breakerRefusal(admission: CircuitAdmission): RateLimitAdmission {
    return {
      ok: false,
      code: 'CIRCUIT_OPEN',
      reason: admission.reason!,
      ...(admission.retryAfterMs === undefined ? {} : { retryAfterMs: admission.retryAfterMs }),
    };
  }
}

function requireStep<T>(value: T | undefined, step: string): T {
  if (typeof value === 'object' && value !== null) return value;
  throw new AgentSafeError('INTERNAL', `RateLimitGuard.fromStep: the guard store returned no ${step} step`, {
    issues: [{ message: 'the store must answer every step of the input it was given', path: step }],
  });
}
