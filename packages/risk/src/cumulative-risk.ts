import {
  AgentSafeError,
  type Clock,
  type DecisionResult,
  type GuardStepInput,
  type GuardStepResult,
  InMemorySlidingWindowStore,
  type Issue,
  RISK_CLASSES,
  type RiskClass,
  type SlidingWindowStore,
  type SlidingWindowStoreSync,
  type WindowAdd,
  systemClock,
} from '@agent-safe/core';

/** Points each effective risk class adds to a caller's cumulative score. */
export type RiskScores = Readonly<Record<RiskClass, number>>;

/** The original's default points per risk class. */
export const DEFAULT_RISK_SCORES: RiskScores = Object.freeze({ low: 1, medium: 5, high: 15, critical: 50 });

/** Longest window accepted, in seconds (one week). */
export const MAX_CUMULATIVE_RISK_WINDOW_SECONDS = 604_800;

/** Options of {@link CumulativeRiskTracker}: the original's `cumulative_risk` block in camelCase. */
export interface CumulativeRiskOptions {
  /** Sliding window over which points add up, in seconds. */
  readonly windowSeconds: number;
  /** Score at which ALLOW becomes REQUIRE_APPROVAL. */
  readonly escalationThreshold: number;
  /** Score a request may not reach: a request that would reach it becomes DENY. */
  readonly denyThreshold: number;
  /** Points per effective risk class (default {@link DEFAULT_RISK_SCORES}); non-negative integers. */
  readonly riskScores?: Partial<RiskScores>;
  /** Where scores live (default: a new in-memory store). Share one store between replicas. */
  readonly store?: SlidingWindowStore;
  readonly clock?: Clock;
  /**
   * Charge points to the root of a delegation chain (`rootKey`) instead of the caller, so an
   * orchestrator cannot spread risk over many workers. Default false.
   */
  readonly chargeRoot?: boolean;
  /** Namespace of the keys in the store: default `cumulative-risk:` for a given store, none otherwise. */
  readonly keyPrefix?: string;
}

/** Input of {@link CumulativeRiskTracker.apply}: one decision after policy evaluation. */
export interface CumulativeRiskInput {
  readonly callerKey: string;
  /** Root caller of the delegation chain, when the caller acts for another agent. */
  readonly rootKey?: string | undefined;
  readonly effectiveRisk: RiskClass;
  readonly result: DecisionResult;
}

/** Outcome of {@link CumulativeRiskTracker.apply}. */
export interface CumulativeRiskOutcome {
  /** The decision after cumulative risk: the input result, or an escalation of it. */
  readonly result: DecisionResult;
  /** Points in the charged key's window after this request (unchanged when nothing was recorded). */
  readonly cumulativeRiskScore: number;
  /** Class of the score; `critical` when this request was refused for reaching the deny threshold. */
  readonly cumulativeRiskClass: RiskClass;
  /** The original result when this tracker changed it, otherwise null. */
  readonly escalatedFrom: null | 'ALLOW' | 'REQUIRE_APPROVAL';
  /** Why the result changed; absent when it did not. */
  readonly reason?: string;
}

/** The cumulative-risk part of a fused guard step (`GuardStepInput['weights']`). */
export type CumulativeRiskStepInput = NonNullable<GuardStepInput['weights']>;

const OPTION_NAMES = [
  'windowSeconds',
  'escalationThreshold',
  'denyThreshold',
  'riskScores',
  'store',
  'clock',
  'chargeRoot',
  'keyPrefix',
];

/**
 * Per-caller cumulative risk (threat T7: chaining individually acceptable actions into a dangerous
 * whole). Applied after policy: every non-DENY decision adds the points of its effective risk to the
 * caller's sliding window; once the window reaches `escalationThreshold`, ALLOW becomes
 * REQUIRE_APPROVAL; a request that would bring it to `denyThreshold` becomes DENY and adds nothing.
 * DENY decisions add nothing. The check-and-add is one atomic store operation, so concurrent requests
 * can never push the recorded total to the deny threshold.
 *
 * `cumulativeRiskClass`: below half the escalation threshold `low`, below the escalation threshold
 * `medium`, below the deny threshold `high`, otherwise `critical`.
 */
export class CumulativeRiskTracker {
  readonly windowSeconds: number;
  readonly escalationThreshold: number;
  readonly denyThreshold: number;
  readonly riskScores: RiskScores;
  readonly chargeRoot: boolean;
  readonly #windowMs: number;
  readonly #store: SlidingWindowStore;
  readonly #syncStore: SlidingWindowStoreSync | undefined;
  readonly #clock: Clock;
  readonly #prefix: string;

  constructor(options: CumulativeRiskOptions) {
    const issues = validateOptions(options);
    if (issues.length > 0) {
      throw new AgentSafeError('USAGE', 'CumulativeRiskTracker options are invalid', { issues });
    }
    this.windowSeconds = options.windowSeconds;
    this.escalationThreshold = options.escalationThreshold;
    this.denyThreshold = options.denyThreshold;
    this.riskScores = Object.freeze({ ...DEFAULT_RISK_SCORES, ...pickScores(options.riskScores) });
    this.chargeRoot = options.chargeRoot === true;
    this.#windowMs = options.windowSeconds * 1000;
    this.#store = options.store ?? new InMemorySlidingWindowStore();
    const candidate = this.#store as SlidingWindowStore & Partial<SlidingWindowStoreSync>;
    this.#syncStore =
      typeof candidate.addBelowSync === 'function' ? (candidate as SlidingWindowStoreSync) : undefined;
    this.#clock = options.clock ?? systemClock;
    this.#prefix = options.keyPrefix ?? (options.store === undefined ? '' : 'cumulative-risk:');
  }

  /** Class of a cumulative score under this tracker's thresholds. */
  classify(score: number): RiskClass {
    if (score < this.escalationThreshold / 2) return 'low';
    if (score < this.escalationThreshold) return 'medium';
    if (score < this.denyThreshold) return 'high';
    return 'critical';
  }

  /**
   * Charges one decision and returns it, possibly escalated. Malformed input fails closed (DENY with
   * the reason); a store failure rejects, and the caller must fail closed.
   */
  /** True when the store answers synchronously, so {@link CumulativeRiskTracker.applySync} may be used. */
  get isSynchronous(): boolean {
    return this.#syncStore !== undefined;
  }

  /** {@link CumulativeRiskTracker.apply} without a promise, for synchronous (in-memory) stores. Throws on store failure. */
  applySync(input: CumulativeRiskInput): CumulativeRiskOutcome {
    const invalid = checkInput(input);
    if (invalid !== undefined) return invalid;
    if (this.#syncStore === undefined) {
      throw new AgentSafeError('USAGE', 'applySync needs a synchronous store; use apply()');
    }
    const charged = this.#chargedKey(input);
    const points = this.#points(input);
    const key = this.#prefix + charged.key;
    const added = this.#syncStore.addBelowSync(
      key,
      this.#clock.now(),
      this.#windowMs,
      points,
      this.#ceiling(points),
    );
    return this.#outcome(input, charged, points, added);
  }

  apply(input: CumulativeRiskInput): Promise<CumulativeRiskOutcome> {
    const invalid = checkInput(input);
    if (invalid !== undefined) return Promise.resolve(invalid);
    const charged = this.#chargedKey(input);
    const points = this.#points(input);
    const now = this.#clock.now();
    const key = this.#prefix + charged.key;
    if (this.#syncStore !== undefined) {
      try {
        const added = this.#syncStore.addBelowSync(key, now, this.#windowMs, points, this.#ceiling(points));
        return Promise.resolve(this.#outcome(input, charged, points, added));
      } catch (error) {
        return Promise.reject(error);
      }
    }
    return this.#store
      .addBelow(key, now, this.#windowMs, points, this.#ceiling(points))
      .then((added) => this.#outcome(input, charged, points, added));
  }

  /**
   * The weighted add `apply(input)` would make, with the same key, window, points and ceiling, for a
   * store's `guardStep` (a DENY adds weight 0, which only reads the score). Undefined for malformed
   * input, which {@link CumulativeRiskTracker.fromStep} answers without the store.
   */
  stepInput(input: CumulativeRiskInput): CumulativeRiskStepInput | undefined {
    if (checkInput(input) !== undefined) return undefined;
    const points = this.#points(input);
    return {
      key: this.#prefix + this.#chargedKey(input).key,
      windowMs: this.#windowMs,
      weight: points,
      ceiling: this.#ceiling(points),
    };
  }

  /**
   * The outcome `apply(input)` gives, from the `result` of a `guardStep` run on
   * {@link CumulativeRiskTracker.stepInput}. Throws (INTERNAL) when the result lacks the weights step:
   * the caller fails closed.
   */
  fromStep(input: CumulativeRiskInput, result: GuardStepResult): CumulativeRiskOutcome {
    const invalid = checkInput(input);
    if (invalid !== undefined) return invalid;
    const added = result?.weights;
    if (typeof added !== 'object' || added === null) {
      throw new AgentSafeError(
        'INTERNAL',
        'CumulativeRiskTracker.fromStep: the guard store returned no weights step',
        {
          issues: [
            { message: 'the store must answer every step of the input it was given', path: 'weights' },
          ],
        },
      );
    }
    return this.#outcome(input, this.#chargedKey(input), this.#points(input), added);
  }

  #points(input: CumulativeRiskInput): number {
    return input.result === 'DENY' ? 0 : this.riskScores[input.effectiveRisk];
  }

  // A zero-point request records nothing whatever the ceiling: Infinity just reads the score.
  #ceiling(points: number): number {
    return points === 0 ? Number.POSITIVE_INFINITY : this.denyThreshold;
  }

  #chargedKey(input: CumulativeRiskInput): { key: string; label: string } {
    if (this.chargeRoot && typeof input.rootKey === 'string' && input.rootKey.length > 0) {
      return { key: input.rootKey, label: `delegation root '${input.rootKey}'` };
    }
    return { key: input.callerKey, label: `caller '${input.callerKey}'` };
  }

  #outcome(
    input: CumulativeRiskInput,
    charged: { key: string; label: string },
    points: number,
    added: WindowAdd,
  ): CumulativeRiskOutcome {
    const score = added.after;
    if (input.result === 'DENY') {
      return {
        result: 'DENY',
        cumulativeRiskScore: score,
        cumulativeRiskClass: this.classify(score),
        escalatedFrom: null,
      };
    }
    // Zero points record nothing; such a request is refused only if the window already sits at the limit.
    const refused = points === 0 ? added.before >= this.denyThreshold : !added.recorded;
    if (refused) {
      return {
        result: 'DENY',
        cumulativeRiskScore: score,
        cumulativeRiskClass: 'critical',
        escalatedFrom: input.result,
        reason:
          `Cumulative risk for ${charged.label} would reach ${added.before + points} ` +
          `(deny threshold ${this.denyThreshold}) within ${this.windowSeconds}s: ` +
          `this ${input.effectiveRisk}-risk request adds ${points} to ${added.before}.`,
      };
    }
    if (input.result === 'ALLOW' && score >= this.escalationThreshold) {
      return {
        result: 'REQUIRE_APPROVAL',
        cumulativeRiskScore: score,
        cumulativeRiskClass: this.classify(score),
        escalatedFrom: 'ALLOW',
        reason:
          `Cumulative risk for ${charged.label} is ${score} within ${this.windowSeconds}s ` +
          `(escalation threshold ${this.escalationThreshold}): approval required.`,
      };
    }
    return {
      result: input.result,
      cumulativeRiskScore: score,
      cumulativeRiskClass: this.classify(score),
      escalatedFrom: null,
    };
  }
}

function checkInput(input: CumulativeRiskInput): CumulativeRiskOutcome | undefined {
  const problems: string[] = [];
  if (typeof input !== 'object' || input === null) {
    problems.push('input must be an object');
  } else {
    if (typeof input.callerKey !== 'string' || input.callerKey.length === 0)
      problems.push('callerKey must be a non-empty string');
    if (input.rootKey !== undefined && typeof input.rootKey !== 'string')
      problems.push('rootKey must be a string');
    if (!(RISK_CLASSES as readonly unknown[]).includes(input.effectiveRisk)) {
      problems.push(`effectiveRisk must be one of ${RISK_CLASSES.join(', ')}`);
    }
    if (input.result !== 'ALLOW' && input.result !== 'DENY' && input.result !== 'REQUIRE_APPROVAL') {
      problems.push('result must be ALLOW, DENY or REQUIRE_APPROVAL');
    }
  }
  if (problems.length === 0) return undefined;
  const original = typeof input === 'object' && input !== null ? input.result : undefined;
  return {
    result: 'DENY',
    cumulativeRiskScore: 0,
    cumulativeRiskClass: 'critical',
    escalatedFrom: original === 'ALLOW' || original === 'REQUIRE_APPROVAL' ? original : null,
    reason: `Cumulative risk could not be assessed: ${problems.join('; ')}.`,
  };
}

function pickScores(scores: Partial<RiskScores> | undefined): Partial<RiskScores> {
  const picked: Partial<Record<RiskClass, number>> = {};
  if (scores === undefined) return picked;
  for (const riskClass of RISK_CLASSES) {
    if (Object.hasOwn(scores, riskClass) && scores[riskClass] !== undefined)
      picked[riskClass] = scores[riskClass];
  }
  return picked;
}

function isPositiveNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0;
}

function validateOptions(options: CumulativeRiskOptions): Issue[] {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    return [
      {
        message: 'expected an object with windowSeconds, escalationThreshold, denyThreshold',
        path: 'options',
      },
    ];
  }
  const issues: Issue[] = [];
  for (const key of Object.keys(options)) {
    if (!OPTION_NAMES.includes(key)) {
      issues.push({ message: `unknown option '${key}' (allowed: ${OPTION_NAMES.join(', ')})`, path: key });
    }
  }
  const { windowSeconds, escalationThreshold, denyThreshold, riskScores } = options;
  if (
    !Number.isInteger(windowSeconds) ||
    windowSeconds < 1 ||
    windowSeconds > MAX_CUMULATIVE_RISK_WINDOW_SECONDS
  ) {
    issues.push({
      message: `expected an integer from 1 to ${MAX_CUMULATIVE_RISK_WINDOW_SECONDS}, got ${String(windowSeconds)}`,
      path: 'windowSeconds',
    });
  }
  if (!isPositiveNumber(escalationThreshold)) {
    issues.push({
      message: `expected a positive number, got ${String(escalationThreshold)}`,
      path: 'escalationThreshold',
    });
  }
  if (!isPositiveNumber(denyThreshold)) {
    issues.push({
      message: `expected a positive number, got ${String(denyThreshold)}`,
      path: 'denyThreshold',
    });
  }
  if (
    isPositiveNumber(escalationThreshold) &&
    isPositiveNumber(denyThreshold) &&
    escalationThreshold >= denyThreshold
  ) {
    issues.push({
      message: `must be below denyThreshold (${denyThreshold}), got ${escalationThreshold}`,
      path: 'escalationThreshold',
    });
  }
  if (riskScores !== undefined) {
    if (typeof riskScores !== 'object' || riskScores === null || Array.isArray(riskScores)) {
      issues.push({ message: 'expected an object of points per risk class', path: 'riskScores' });
    } else {
      for (const key of Object.keys(riskScores)) {
        const value: unknown = (riskScores as Record<string, unknown>)[key];
        if (!(RISK_CLASSES as readonly string[]).includes(key)) {
          issues.push({
            message: `unknown risk class '${key}' (expected ${RISK_CLASSES.join(', ')})`,
            path: `riskScores.${key}`,
          });
        } else if (!Number.isSafeInteger(value) || (value as number) < 0) {
          issues.push({
            message: `expected a non-negative integer, got ${String(value)}`,
            path: `riskScores.${key}`,
          });
        }
      }
    }
  }
  if (options.chargeRoot !== undefined && typeof options.chargeRoot !== 'boolean') {
    issues.push({ message: 'expected true or false', path: 'chargeRoot' });
  }
  if (
    options.keyPrefix !== undefined &&
    (typeof options.keyPrefix !== 'string' || options.keyPrefix.length > 64)
  ) {
    issues.push({ message: 'expected a string of at most 64 characters', path: 'keyPrefix' });
  }
  return issues;
}
