import { describe, expect, it } from '@jest/globals';
import { InMemorySlidingWindowStore, ManualClock, type SlidingWindowStore } from '@agent-safe/core';
import { CumulativeRiskTracker, type CumulativeRiskOptions } from '../src/index.js';

const T0 = Date.UTC(2025, 0, 1);

function make(clock: ManualClock, overrides: Partial<CumulativeRiskOptions> = {}): CumulativeRiskTracker {
  return new CumulativeRiskTracker({
    windowSeconds: 3600,
    escalationThreshold: 30,
    denyThreshold: 75,
    clock,
    ...overrides,
  });
}

/** A store that answers only asynchronously, each call resolving on a later turn (like a network store). */
function asyncOnly(inner = new InMemorySlidingWindowStore()): SlidingWindowStore {
  return {
    take: (...args) => inner.take(...args),
    addBelow: (...args) => new Promise((resolve) => setImmediate(() => resolve(inner.addBelow(...args)))),
    clear: (key) => inner.clear(key),
  };
}

describe('CumulativeRiskTracker', () => {
  it('follows the seed sequence: low, high, high escalates ALLOW to REQUIRE_APPROVAL', async () => {
    const tracker = make(new ManualClock(T0));
    expect(await tracker.apply({ callerKey: 'agent-01', effectiveRisk: 'low', result: 'ALLOW' })).toEqual({
      result: 'ALLOW',
      cumulativeRiskScore: 1,
      cumulativeRiskClass: 'low',
      escalatedFrom: null,
    });
    expect(
      await tracker.apply({ callerKey: 'agent-01', effectiveRisk: 'high', result: 'ALLOW' }),
    ).toMatchObject({
      result: 'ALLOW',
      cumulativeRiskScore: 16,
      cumulativeRiskClass: 'medium',
    });
    expect(await tracker.apply({ callerKey: 'agent-01', effectiveRisk: 'high', result: 'ALLOW' })).toEqual({
      result: 'REQUIRE_APPROVAL',
      cumulativeRiskScore: 31,
      cumulativeRiskClass: 'high',
      escalatedFrom: 'ALLOW',
      reason:
        "Cumulative risk for caller 'agent-01' is 31 within 3600s (escalation threshold 30): approval required.",
    });
    // Another caller is unaffected.
    expect(
      (await tracker.apply({ callerKey: 'agent-02', effectiveRisk: 'high', result: 'ALLOW' })).result,
    ).toBe('ALLOW');
  });

  it('denies a request that would reach the deny threshold and records nothing for it', async () => {
    const tracker = make(new ManualClock(T0));
    await tracker.apply({ callerKey: 'a', effectiveRisk: 'critical', result: 'ALLOW' }); // 50
    await tracker.apply({ callerKey: 'a', effectiveRisk: 'high', result: 'REQUIRE_APPROVAL' }); // 65
    expect(
      await tracker.apply({ callerKey: 'a', effectiveRisk: 'medium', result: 'REQUIRE_APPROVAL' }),
    ).toMatchObject({
      result: 'REQUIRE_APPROVAL',
      cumulativeRiskScore: 70,
      escalatedFrom: null,
    });
    expect(await tracker.apply({ callerKey: 'a', effectiveRisk: 'medium', result: 'ALLOW' })).toEqual({
      result: 'DENY',
      cumulativeRiskScore: 70,
      cumulativeRiskClass: 'critical',
      escalatedFrom: 'ALLOW',
      reason:
        "Cumulative risk for caller 'a' would reach 75 (deny threshold 75) within 3600s: this medium-risk request adds 5 to 70.",
    });
    // The refused request added nothing: a low-risk one still fits.
    expect(await tracker.apply({ callerKey: 'a', effectiveRisk: 'low', result: 'ALLOW' })).toMatchObject({
      result: 'REQUIRE_APPROVAL',
      cumulativeRiskScore: 71,
    });
  });

  it('adds nothing for DENY and reports the current score', async () => {
    const tracker = make(new ManualClock(T0));
    await tracker.apply({ callerKey: 'a', effectiveRisk: 'medium', result: 'ALLOW' });
    for (let index = 0; index < 10; index++) {
      expect(await tracker.apply({ callerKey: 'a', effectiveRisk: 'critical', result: 'DENY' })).toEqual({
        result: 'DENY',
        cumulativeRiskScore: 5,
        cumulativeRiskClass: 'low',
        escalatedFrom: null,
      });
    }
  });

  it('forgets points when they leave the window', async () => {
    const clock = new ManualClock(T0);
    const tracker = make(clock, { windowSeconds: 60 });
    await tracker.apply({ callerKey: 'a', effectiveRisk: 'critical', result: 'ALLOW' });
    clock.advance(30_000);
    await tracker.apply({ callerKey: 'a', effectiveRisk: 'high', result: 'ALLOW' });
    clock.advance(29_999);
    expect(
      (await tracker.apply({ callerKey: 'a', effectiveRisk: 'low', result: 'DENY' })).cumulativeRiskScore,
    ).toBe(65);
    clock.advance(1);
    expect(
      (await tracker.apply({ callerKey: 'a', effectiveRisk: 'low', result: 'DENY' })).cumulativeRiskScore,
    ).toBe(15);
    clock.advance(30_000);
    expect(await tracker.apply({ callerKey: 'a', effectiveRisk: 'low', result: 'ALLOW' })).toMatchObject({
      result: 'ALLOW',
      cumulativeRiskScore: 1,
    });
  });

  it('with chargeRoot sums the risk of all workers of one orchestrator', async () => {
    const tracker = make(new ManualClock(T0), { chargeRoot: true, escalationThreshold: 40 });
    const outcomes = [];
    for (const worker of ['worker-1', 'worker-2', 'worker-3']) {
      outcomes.push(
        await tracker.apply({
          callerKey: worker,
          rootKey: 'orchestrator',
          effectiveRisk: 'high',
          result: 'ALLOW',
        }),
      );
    }
    expect(outcomes.map((outcome) => outcome.result)).toEqual(['ALLOW', 'ALLOW', 'REQUIRE_APPROVAL']);
    expect(outcomes[2]?.reason).toMatch(/delegation root 'orchestrator' is 45/);
    // Without a root, a caller is charged on its own.
    expect(
      (await tracker.apply({ callerKey: 'worker-1', effectiveRisk: 'low', result: 'ALLOW' }))
        .cumulativeRiskScore,
    ).toBe(1);
  });

  it('without chargeRoot charges each worker separately', async () => {
    const tracker = make(new ManualClock(T0));
    for (const worker of ['worker-1', 'worker-2', 'worker-3']) {
      const outcome = await tracker.apply({
        callerKey: worker,
        rootKey: 'orchestrator',
        effectiveRisk: 'high',
        result: 'ALLOW',
      });
      expect(outcome).toMatchObject({ result: 'ALLOW', cumulativeRiskScore: 15 });
    }
  });

  it.each([
    ['in-memory', () => new InMemorySlidingWindowStore()],
    ['async-only', () => asyncOnly()],
  ])(
    'never records a total at or above the deny threshold under concurrency (%s)',
    async (_name, makeStore) => {
      const store = makeStore();
      const tracker = make(new ManualClock(T0), { store });
      const risks = ['low', 'medium', 'high', 'critical'] as const;
      const outcomes = await Promise.all(
        Array.from({ length: 400 }, (_, index) =>
          tracker.apply({
            callerKey: 'a',
            effectiveRisk: risks[index % 4]!,
            result: index % 3 === 0 ? 'REQUIRE_APPROVAL' : 'ALLOW',
          }),
        ),
      );
      const recorded = outcomes.filter((outcome) => outcome.result !== 'DENY');
      const total = (await store.addBelow('cumulative-risk:a', T0, 3_600_000, 0, Number.POSITIVE_INFINITY))
        .before;
      expect(total).toBeLessThan(75);
      expect(Math.max(...outcomes.map((outcome) => outcome.cumulativeRiskScore))).toBe(total);
      expect(recorded.length).toBeGreaterThan(0);
      expect(outcomes.filter((outcome) => outcome.result === 'DENY').length).toBeGreaterThan(300);
    },
  );

  it('classifies scores against the thresholds', () => {
    const tracker = make(new ManualClock(T0));
    expect([0, 14.9, 15, 29, 30, 74, 75, 1000].map((score) => tracker.classify(score))).toEqual([
      'low',
      'low',
      'medium',
      'medium',
      'high',
      'high',
      'critical',
      'critical',
    ]);
  });

  it('applies custom scores, including zero points that still respect the deny threshold', async () => {
    const tracker = make(new ManualClock(T0), { riskScores: { low: 0, critical: 74 } });
    expect(tracker.riskScores).toEqual({ low: 0, medium: 5, high: 15, critical: 74 });
    expect(
      (await tracker.apply({ callerKey: 'a', effectiveRisk: 'low', result: 'ALLOW' })).cumulativeRiskScore,
    ).toBe(0);
    expect((await tracker.apply({ callerKey: 'a', effectiveRisk: 'critical', result: 'ALLOW' })).result).toBe(
      'REQUIRE_APPROVAL',
    );
    expect((await tracker.apply({ callerKey: 'a', effectiveRisk: 'low', result: 'ALLOW' })).result).toBe(
      'REQUIRE_APPROVAL',
    );
    expect((await tracker.apply({ callerKey: 'a', effectiveRisk: 'medium', result: 'ALLOW' })).result).toBe(
      'DENY',
    );
  });

  it('fails closed on malformed input', async () => {
    const tracker = make(new ManualClock(T0));
    const bad = [
      { callerKey: '', effectiveRisk: 'low', result: 'ALLOW' },
      { callerKey: 'a', effectiveRisk: 'extreme', result: 'ALLOW' },
      { callerKey: 'a', effectiveRisk: '__proto__', result: 'ALLOW' },
      { callerKey: 'a', effectiveRisk: 'low', result: 'MAYBE' },
      { callerKey: 'a', rootKey: 7, effectiveRisk: 'low', result: 'ALLOW' },
      null,
    ];
    for (const input of bad) {
      const outcome = await tracker.apply(input as never);
      expect(outcome.result).toBe('DENY');
      expect(outcome.reason).toMatch(/^Cumulative risk could not be assessed/);
    }
  });

  it('propagates store failures', async () => {
    const failing: SlidingWindowStore = {
      take: () => Promise.reject(new Error('unused')),
      addBelow: () => Promise.reject(new Error('redis timeout')),
      clear: () => Promise.resolve(),
    };
    const tracker = make(new ManualClock(T0), { store: failing });
    await expect(tracker.apply({ callerKey: 'a', effectiveRisk: 'low', result: 'ALLOW' })).rejects.toThrow(
      'redis timeout',
    );
  });

  it.each([
    [{ windowSeconds: 0 }, 'windowSeconds'],
    [{ windowSeconds: 1.5 }, 'windowSeconds'],
    [{ escalationThreshold: 0 }, 'escalationThreshold'],
    [{ denyThreshold: Number.NaN }, 'denyThreshold'],
    [{ escalationThreshold: 75 }, 'escalationThreshold'],
    [{ riskScores: { low: -1 } }, 'riskScores.low'],
    [{ riskScores: { low: 0.5 } }, 'riskScores.low'],
    [{ riskScores: { extreme: 1 } }, 'riskScores.extreme'],
    [{ riskScores: JSON.parse('{"__proto__": 1}') }, 'riskScores.__proto__'],
    [{ chargeRoot: 'yes' }, 'chargeRoot'],
    [{ deny_threshold: 10 }, 'deny_threshold'],
  ])('refuses %p naming %s', (overrides, path) => {
    try {
      make(new ManualClock(T0), overrides as never);
      throw new Error('expected a throw');
    } catch (error) {
      expect(error).toMatchObject({ code: 'USAGE' });
      expect((error as { issues: { path: string }[] }).issues.map((issue) => issue.path)).toContain(path);
    }
  });
});

describe('CumulativeRiskTracker.applySync', () => {
  it('gives the same outcomes as apply() on an in-memory store, and refuses an asynchronous store', async () => {
    const options = { windowSeconds: 3600, escalationThreshold: 30, denyThreshold: 75 };
    const syncTracker = new CumulativeRiskTracker({ ...options, clock: new ManualClock(0) });
    const asyncTracker = new CumulativeRiskTracker({ ...options, clock: new ManualClock(0) });
    expect(syncTracker.isSynchronous).toBe(true);
    const inputs = [
      { callerKey: 'a', effectiveRisk: 'critical', result: 'REQUIRE_APPROVAL' },
      { callerKey: 'a', effectiveRisk: 'low', result: 'ALLOW' },
      { callerKey: 'a', effectiveRisk: 'critical', result: 'ALLOW' },
      { callerKey: 'a', effectiveRisk: 'high', result: 'DENY' },
    ] as const;
    for (const input of inputs) {
      expect(syncTracker.applySync(input)).toEqual(await asyncTracker.apply(input));
    }
    const slow: SlidingWindowStore = {
      take: async () => ({ allowed: true, count: 1, retryAfterMs: 0 }),
      addBelow: async () => ({ before: 0, after: 0, recorded: false }),
      clear: async () => undefined,
    };
    const remote = new CumulativeRiskTracker({ ...options, store: slow });
    expect(remote.isSynchronous).toBe(false);
    expect(() => remote.applySync(inputs[0])).toThrow(/synchronous store/);
  });
});
