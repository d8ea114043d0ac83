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
  if (input.record && input.breaker) {
    const { key, settings } = input.breaker;
    const probe = result.breaker?.probe === true;
    result.record = await target.breakerStore.record(key, input.now, input.record.denied, probe, settings);
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

/**
 * Plays SCRIPT, each step fused or not; a fused DENY passes its decision into the step (as the SDK does
 * for a policy DENY) when `recordDenials`, and `after` is still called, as the SDK does.
 */
async function play(
  guard: RateLimitGuard,
  clock: ManualClock,
  fused: (step: number) => boolean,
  target: Stores,
  recordDenials = false,
): Promise<unknown[]> {
  const outcomes: unknown[] = [];
  for (const [index, [caller, advance, denied]] of SCRIPT.entries()) {
    clock.advance(advance);
    let admission: RateLimitAdmission;
    if (fused(index)) {
      const now = clock.now();
      const options = recordDenials && denied ? { finalDecision: { denied: true } } : {};
      const result = await emulateGuardStep(target, { now, ...guard.stepInput(caller, options) });
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
    for (const recordDenials of [false, true]) {
      for (const fused of [() => true, (step: number) => step % 2 === 0, (step: number) => step % 2 === 1]) {
        const clock = new ManualClock(T0);
        const target = stores();
        expect(await play(make(clock, target), clock, fused, target, recordDenials)).toEqual(expected);
      }
    }
  });

  it('counts a DENY recorded in the step once: after() then records nothing', async () => {
    const clock = new ManualClock(T0);
    const target = stores();
    const records: boolean[] = [];
    const recordSync = target.breakerStore.recordSync.bind(target.breakerStore);
    // Every record of the in-memory store, async (the emulated step) or not (after()), runs recordSync.
    target.breakerStore.recordSync = (...args) => {
      records.push(args[2]);
      return recordSync(...args);
    };
    const guard = make(clock, target);
    const deny = async (): Promise<RateLimitAdmission> => {
      const now = clock.now();
      const input = { now, ...guard.stepInput('w', { finalDecision: { denied: true } }) };
      const admission = guard.fromStep('w', await emulateGuardStep(target, input), now);
      if (admission.ok) await guard.after(admission.token, true);
      return admission;
    };
    const breaker = guard.stepInput('w').breaker!;
    // Threshold 2: were each DENY counted twice, the first would already open the breaker.
    expect((await deny()).ok).toBe(true);
    expect(records).toEqual([true]);
    expect(recordSync(breaker.key, T0, false, false, breaker.settings)).toEqual({
      state: 'closed',
      openUntil: 0,
      denials: 1,
    });
    expect((await deny()).ok).toBe(true);
    expect(records).toEqual([true, true]);
    expect(await deny()).toMatchObject({ ok: false, code: 'CIRCUIT_OPEN' });
    // A store that ignored `record` answers without it, and after() records as usual.
    const now = clock.now();
    const admission = guard.fromStep(
      'v',
      {
        breaker: { admitted: true, state: 'closed', openUntil: 0, probe: false },
        window: { allowed: true, count: 1, retryAfterMs: 0 },
      },
      now,
    );
    if (!admission.ok) throw new Error('expected an admission');
    await guard.after(admission.token, true);
    expect(records).toEqual([true, true, true]);
  });

  it('asks the step to record only with a breaker and a known decision', () => {
    const guard = make(new ManualClock(T0), stores());
    expect(guard.stepInput('a', { finalDecision: { denied: true } }).record).toEqual({ denied: true });
    expect(guard.stepInput('a', { finalDecision: { denied: false } }).record).toEqual({ denied: false });
    expect(guard.stepInput('a').record).toBeUndefined();
    const plain = new RateLimitGuard({ maxRequests: 1 });
    expect(plain.stepInput('a', { finalDecision: { denied: true } })).toEqual({
      window: { key: 'a', windowMs: 60_000, limit: 1 },
    });
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
