import { describe, expect, it } from '@jest/globals';
import {
  type GuardStepInput,
  type GuardStepResult,
  InMemoryCircuitBreakerStore,
  InMemorySlidingWindowStore,
  ManualClock,
} from '@agent-safe/core';
import { type RateLimitAdmission, RateLimitGuard } from '../src/index.js';

const T0 = Date.UTC(2025, 0, 1);

interface Stores {
  readonly windowStore: InMemorySlidingWindowStore;
  readonly breakerStore: InMemoryCircuitBreakerStore;
}

function stores(): Stores {
  return { windowStore: new InMemorySlidingWindowStore(), breakerStore: new InMemoryCircuitBreakerStore() };
}

/**
 * guardStep on in-memory stores by calling the steps in order. Not atomic, and a refused window after a
 * half-open admission would still have spent the probe: the scenarios below avoid that case, which the
 * Redis store's tests cover.
 */
async function emulateGuardStep(target: Stores, input: GuardStepInput): Promise<GuardStepResult> {
  const result: { -readonly [K in keyof GuardStepResult]: GuardStepResult[K] } = {};
  if (input.breaker) {
    result.breaker = await target.breakerStore.admit(input.breaker.key, input.now, input.breaker.settings);
    if (!result.breaker.admitted) return result;
  }
  if (input.window) {
    const { key, windowMs, limit } = input.window;
    result.window = await target.windowStore.take(key, input.now, windowMs, limit);
    if (!result.window.allowed) return result;
  }
  return result;
}

function make(clock: ManualClock, target: Stores): RateLimitGuard {
  return new RateLimitGuard({
    maxRequests: 3,
    windowSeconds: 60,
    circuitBreakerThreshold: 2,
    circuitBreakerCooldownSeconds: 300,
    clock,
    ...target,
  });
}

function shape(admission: RateLimitAdmission): unknown {
  return admission.ok ? { ok: true, probe: admission.token.probe } : admission;
}

/** caller, milliseconds to advance first, and whether the policy denies the request. */
const SCRIPT: readonly [string, number, boolean][] = [
  ['x', 0, false],
  ['x', 10, false],
  ['x', 10, false],
  ['x', 10, false], // rate-limited
  ['y', 0, true],
  ['y', 0, true], // opens the breaker
  ['y', 1000, false], // paused
  ['y', 300_000, false], // probe, closes
  ['y', 1, true],
  ['y', 1, true], // opens again
  ['y', 300_001, true], // probe denied: paused again
  ['y', 1, false],
  ['x', 60_000, false], // the window slid
];

async function play(
  guard: RateLimitGuard,
  clock: ManualClock,
  fused: (step: number) => boolean,
  target: Stores,
): Promise<unknown[]> {
  const outcomes: unknown[] = [];
  for (const [index, [caller, advance, denied]] of SCRIPT.entries()) {
    clock.advance(advance);
    let admission: RateLimitAdmission;
    if (fused(index)) {
      const now = clock.now();
      const result = await emulateGuardStep(target, { now, ...guard.stepInput(caller) });
      admission = guard.fromStep(caller, result, now);
    } else {
      admission = await guard.before(caller);
    }
    if (admission.ok) await guard.after(admission.token, denied);
    outcomes.push(shape(admission));
  }
  return outcomes;
}

describe('RateLimitGuard fused guard steps', () => {
  it('gives the same admissions, reasons and probes as before(), also when mixed on shared stores', async () => {
    const normalClock = new ManualClock(T0);
    const normalStores = stores();
    const expected = await play(make(normalClock, normalStores), normalClock, () => false, normalStores);
    expect(expected.map((outcome) => (outcome as { code?: string }).code ?? 'ok')).toEqual([
      'ok',
      'ok',
      'ok',
      'RATE_LIMITED',
      'ok',
      'ok',
      'CIRCUIT_OPEN',
      'ok',
      'ok',
      'ok',
      'ok',
      'CIRCUIT_OPEN',
      'ok',
    ]);
    for (const fused of [() => true, (step: number) => step % 2 === 0]) {
      const clock = new ManualClock(T0);
      const target = stores();
      expect(await play(make(clock, target), clock, fused, target)).toEqual(expected);
    }
  });

  it('names the same keys and settings as the separate path', () => {
    const guard = make(new ManualClock(T0), stores());
    expect(guard.stepInput('agent-1')).toEqual({
      breaker: {
        key: 'circuit-breaker:agent-1',
        settings: { threshold: 2, windowMs: 60_000, cooldownMs: 300_000 },
      },
      window: { key: 'rate-limit:agent-1', windowMs: 60_000, limit: 3 },
    });
    const plain = new RateLimitGuard({ maxRequests: 1 });
    expect(plain.stepInput('agent-1')).toEqual({ window: { key: 'agent-1', windowMs: 60_000, limit: 1 } });
  });

  it('refuses a rate-limited request whose breaker is half-open without handing out a probe', () => {
    const guard = make(new ManualClock(T0), stores());
    const admission = guard.fromStep(
      'z',
      {
        breaker: { admitted: true, state: 'half-open', openUntil: 0, probe: false },
        window: { allowed: false, count: 3, retryAfterMs: 1234 },
      },
      T0,
    );
    expect(admission).toEqual({
      ok: false,
      code: 'RATE_LIMITED',
      reason: "Rate limit exceeded for caller 'z': 3 requests per 60s window.",
      retryAfterMs: 1234,
    });
  });

  it('fails closed on a bad caller key or an incomplete store answer', () => {
    const guard = make(new ManualClock(T0), stores());
    expect(() => guard.stepInput('')).toThrow(expect.objectContaining({ code: 'INPUT_INVALID' }));
    expect(() => guard.fromStep('z', { window: { allowed: true, count: 1, retryAfterMs: 0 } }, T0)).toThrow(
      expect.objectContaining({ code: 'INTERNAL' }),
    );
    expect(() =>
      guard.fromStep('z', { breaker: { admitted: true, state: 'closed', openUntil: 0, probe: false } }, T0),
    ).toThrow(expect.objectContaining({ code: 'INTERNAL' }));
    expect(() => guard.fromStep('z', null as unknown as GuardStepResult, T0)).toThrow(
      expect.objectContaining({ code: 'INTERNAL' }),
    );
  });
});
