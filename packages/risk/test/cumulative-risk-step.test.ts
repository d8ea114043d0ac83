import { describe, expect, it } from '@jest/globals';
import { type GuardStepResult, InMemorySlidingWindowStore, ManualClock } from '@agent-safe/core';
import {
  type CumulativeRiskInput,
  CumulativeRiskTracker,
  type CumulativeRiskStepInput,
} from '../src/index.js';

const T0 = Date.UTC(2025, 0, 1);

function make(
  clock: ManualClock,
  store: InMemorySlidingWindowStore,
  chargeRoot = false,
): CumulativeRiskTracker {
  return new CumulativeRiskTracker({
    windowSeconds: 3600,
    escalationThreshold: 30,
    denyThreshold: 75,
    clock,
    store,
    chargeRoot,
  });
}

/** The weights step of a store's guardStep, on an in-memory store. */
async function emulateGuardStep(
  store: InMemorySlidingWindowStore,
  now: number,
  weights: CumulativeRiskStepInput | undefined,
): Promise<GuardStepResult> {
  if (weights === undefined) return {};
  const { key, windowMs, weight, ceiling } = weights;
  return { weights: await store.addBelow(key, now, windowMs, weight, ceiling) };
}

/** Inputs and the milliseconds to advance before each. */
const SCRIPT: readonly [CumulativeRiskInput, number][] = [
  [{ callerKey: 'a', effectiveRisk: 'low', result: 'ALLOW' }, 0],
  [{ callerKey: 'a', effectiveRisk: 'high', result: 'ALLOW' }, 10],
  [{ callerKey: 'a', effectiveRisk: 'critical', result: 'DENY' }, 10],
  [{ callerKey: 'a', effectiveRisk: 'high', result: 'ALLOW' }, 10], // escalates to REQUIRE_APPROVAL
  [{ callerKey: 'w1', rootKey: 'a', effectiveRisk: 'critical', result: 'REQUIRE_APPROVAL' }, 10],
  [{ callerKey: 'a', effectiveRisk: 'critical', result: 'ALLOW' }, 10], // would reach the deny threshold
  [{ callerKey: 'a', effectiveRisk: 'medium', result: 'REQUIRE_APPROVAL' }, 10],
  [{ callerKey: '', effectiveRisk: 'low', result: 'ALLOW' }, 0], // malformed
  [{ callerKey: 'a', effectiveRisk: 'extreme', result: 'ALLOW' } as unknown as CumulativeRiskInput, 0],
  [{ callerKey: 'a', effectiveRisk: 'low', result: 'ALLOW' }, 3_600_000], // the window slid
];

async function play(chargeRoot: boolean, fused: (step: number) => boolean): Promise<unknown[]> {
  const clock = new ManualClock(T0);
  const store = new InMemorySlidingWindowStore();
  const tracker = make(clock, store, chargeRoot);
  const outcomes: unknown[] = [];
  for (const [index, [input, advance]] of SCRIPT.entries()) {
    clock.advance(advance);
    if (fused(index)) {
      const result = await emulateGuardStep(store, clock.now(), tracker.stepInput(input));
      outcomes.push(tracker.fromStep(input, result));
    } else {
      outcomes.push(await tracker.apply(input));
    }
  }
  return outcomes;
}

describe('CumulativeRiskTracker fused guard steps', () => {
  it('gives the same outcomes as apply(), also when mixed on one store', async () => {
    for (const chargeRoot of [false, true]) {
      const expected = await play(chargeRoot, () => false);
      expect(expected.map((outcome) => (outcome as { result: string }).result)).toEqual(
        chargeRoot
          ? [
              'ALLOW',
              'ALLOW',
              'DENY',
              'REQUIRE_APPROVAL',
              'DENY',
              'DENY',
              'REQUIRE_APPROVAL',
              'DENY',
              'DENY',
              'ALLOW',
            ]
          : [
              'ALLOW',
              'ALLOW',
              'DENY',
              'REQUIRE_APPROVAL',
              'REQUIRE_APPROVAL',
              'DENY',
              'REQUIRE_APPROVAL',
              'DENY',
              'DENY',
              'ALLOW',
            ],
      );
      expect(await play(chargeRoot, () => true)).toEqual(expected);
      expect(await play(chargeRoot, (step) => step % 2 === 1)).toEqual(expected);
    }
  });

  it('names the key, window, points and ceiling apply() uses', () => {
    const tracker = make(new ManualClock(T0), new InMemorySlidingWindowStore(), true);
    expect(
      tracker.stepInput({ callerKey: 'w', rootKey: 'root', effectiveRisk: 'high', result: 'ALLOW' }),
    ).toEqual({
      key: 'cumulative-risk:root',
      windowMs: 3_600_000,
      weight: 15,
      ceiling: 75,
    });
    // A DENY only reads the score.
    expect(tracker.stepInput({ callerKey: 'w', effectiveRisk: 'high', result: 'DENY' })).toEqual({
      key: 'cumulative-risk:w',
      windowMs: 3_600_000,
      weight: 0,
      ceiling: Number.POSITIVE_INFINITY,
    });
    expect(
      tracker.stepInput({ callerKey: 'w', effectiveRisk: 'high', result: 'MAYBE' } as never),
    ).toBeUndefined();
  });

  it('fails closed when the store answer lacks the weights step', () => {
    const tracker = make(new ManualClock(T0), new InMemorySlidingWindowStore());
    const input: CumulativeRiskInput = { callerKey: 'a', effectiveRisk: 'low', result: 'ALLOW' };
    expect(() => tracker.fromStep(input, {})).toThrow(expect.objectContaining({ code: 'INTERNAL' }));
    expect(() => tracker.fromStep(input, null as unknown as GuardStepResult)).toThrow(
      expect.objectContaining({ code: 'INTERNAL' }),
    );
  });
});
