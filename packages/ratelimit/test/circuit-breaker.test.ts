import { describe, expect, it } from '@jest/globals';
import { type CircuitBreakerStore, InMemoryCircuitBreakerStore, ManualClock } from '@agent-safe/core';
import { CircuitBreaker } from '../src/index.js';

const T0 = Date.UTC(2025, 0, 1);

function asyncOnly(inner = new InMemoryCircuitBreakerStore()): CircuitBreakerStore {
  return {
    admit: (key, now, settings) =>
      new Promise((resolve) => setImmediate(() => resolve(inner.admit(key, now, settings)))),
    record: (key, now, denied, probe, settings) =>
      new Promise((resolve) => setImmediate(() => resolve(inner.record(key, now, denied, probe, settings)))),
  };
}

function openBreaker(breaker: CircuitBreaker, caller: string, times: number): Promise<unknown> {
  return Promise.all(Array.from({ length: times }, () => breaker.record(caller, true, false)));
}

describe.each([
  ['in-memory', () => new InMemoryCircuitBreakerStore()],
  ['async-only', () => asyncOnly()],
])('CircuitBreaker (%s store)', (_name, makeStore) => {
  function make(clock: ManualClock): CircuitBreaker {
    return new CircuitBreaker({
      threshold: 3,
      cooldownSeconds: 300,
      windowSeconds: 60,
      clock,
      store: makeStore(),
    });
  }

  it('opens at the threshold and refuses during the cooldown with the reason', async () => {
    const clock = new ManualClock(T0);
    const breaker = make(clock);
    await openBreaker(breaker, 'agent-01', 2);
    expect((await breaker.admit('agent-01')).admitted).toBe(true);
    const opened = await breaker.record('agent-01', true, false);
    expect(opened).toEqual({ state: 'open', openUntil: T0 + 300_000, denials: 0 });
    clock.advance(299_999);
    expect(await breaker.admit('agent-01')).toEqual({
      admitted: false,
      state: 'open',
      probe: false,
      openUntil: T0 + 300_000,
      retryAfterMs: 1,
      reason:
        "Circuit breaker open for caller 'agent-01': 3 denied requests in 60s; paused until 2025-01-01T00:05:00.000Z.",
    });
    expect((await breaker.admit('agent-02')).admitted).toBe(true);
  });

  it('does not open for denials spread wider than the window', async () => {
    const clock = new ManualClock(T0);
    const breaker = make(clock);
    for (let index = 0; index < 10; index++) {
      await breaker.record('a', true, false);
      clock.advance(30_000);
    }
    expect((await breaker.admit('a')).admitted).toBe(true);
  });

  it('half-opens after the cooldown admitting exactly one probe among concurrent admits', async () => {
    const clock = new ManualClock(T0);
    const breaker = make(clock);
    await openBreaker(breaker, 'a', 3);
    clock.advance(300_000);
    const admissions = await Promise.all(Array.from({ length: 200 }, () => breaker.admit('a')));
    const admitted = admissions.filter((admission) => admission.admitted);
    expect(admitted).toHaveLength(1);
    expect(admitted[0]).toMatchObject({ probe: true, state: 'half-open' });
    const refused = admissions.find((admission) => !admission.admitted);
    expect(refused?.reason).toMatch(
      /^Circuit breaker half-open for caller 'a': a trial request is in progress/,
    );
  });

  it('probe ALLOW closes the breaker', async () => {
    const clock = new ManualClock(T0);
    const breaker = make(clock);
    await openBreaker(breaker, 'a', 3);
    clock.advance(300_000);
    const probe = await breaker.admit('a');
    expect(probe.probe).toBe(true);
    expect((await breaker.record('a', false, true)).state).toBe('closed');
    const next = await Promise.all([breaker.admit('a'), breaker.admit('a')]);
    expect(next.map((admission) => [admission.admitted, admission.probe])).toEqual([
      [true, false],
      [true, false],
    ]);
  });

  it('probe DENY re-opens for another cooldown', async () => {
    const clock = new ManualClock(T0);
    const breaker = make(clock);
    await openBreaker(breaker, 'a', 3);
    clock.advance(300_000);
    await breaker.admit('a');
    clock.advance(5);
    expect(await breaker.record('a', true, true)).toEqual({
      state: 'open',
      openUntil: T0 + 600_005,
      denials: 0,
    });
    clock.advance(299_999);
    expect((await breaker.admit('a')).state).toBe('open');
    clock.advance(1);
    expect((await breaker.admit('a')).probe).toBe(true);
  });

  it('releases a lost probe after another cooldown', async () => {
    const clock = new ManualClock(T0);
    const breaker = make(clock);
    await openBreaker(breaker, 'a', 3);
    clock.advance(300_000);
    expect((await breaker.admit('a')).probe).toBe(true);
    clock.advance(299_999);
    expect((await breaker.admit('a')).admitted).toBe(false);
    clock.advance(1);
    expect(await breaker.admit('a')).toEqual({
      admitted: true,
      state: 'half-open',
      openUntil: 0,
      probe: true,
    });
  });
});

describe('CircuitBreaker options', () => {
  it('defaults the window to 60 seconds', () => {
    expect(new CircuitBreaker({ threshold: 1, cooldownSeconds: 1 }).windowSeconds).toBe(60);
  });

  it.each([
    [{ threshold: 0, cooldownSeconds: 1 }, /threshold/],
    [{ threshold: 1, cooldownSeconds: 0 }, /cooldownSeconds/],
    [{ threshold: 1, cooldownSeconds: 1, windowSeconds: 0.5 }, /windowSeconds/],
    [{ threshold: 1, cooldown_seconds: 1 }, /unknown options/],
  ])('refuses %p', (options, message) => {
    expect(() => new CircuitBreaker(options as never)).toThrow(message);
  });

  it('suggests the camelCase name of a snake_case option', () => {
    try {
      new CircuitBreaker({ threshold: 1, cooldownSeconds: 1, cooldown_seconds: 1 } as never);
      throw new Error('expected a throw');
    } catch (error) {
      expect(error).toMatchObject({ code: 'USAGE' });
      expect((error as { issues: { message: string }[] }).issues[0]?.message).toMatch(
        /did you mean 'cooldownSeconds'/,
      );
    }
  });

  it('propagates store failures', async () => {
    const failing: CircuitBreakerStore = {
      admit: () => Promise.reject(new Error('store down')),
      record: () => Promise.reject(new Error('store down too')),
    };
    const breaker = new CircuitBreaker({ threshold: 1, cooldownSeconds: 1, store: failing });
    await expect(breaker.admit('a')).rejects.toThrow('store down');
    await expect(breaker.record('a', true, false)).rejects.toThrow('store down too');
  });
});
