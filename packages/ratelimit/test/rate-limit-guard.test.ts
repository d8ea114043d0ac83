import { describe, expect, it } from '@jest/globals';
import {
  type CircuitBreakerStore,
  InMemoryCircuitBreakerStore,
  InMemorySlidingWindowStore,
  ManualClock,
  type SlidingWindowStore,
} from '@agent-safe/core';
import { RateLimitGuard, type RateLimitGuardOptions, type RateLimitToken } from '../src/index.js';

const T0 = Date.UTC(2025, 0, 1);

function make(clock: ManualClock, overrides: Partial<RateLimitGuardOptions> = {}): RateLimitGuard {
  return new RateLimitGuard({
    maxRequests: 5,
    windowSeconds: 60,
    circuitBreakerThreshold: 3,
    circuitBreakerCooldownSeconds: 300,
    clock,
    ...overrides,
  });
}

async function admitted(guard: RateLimitGuard, caller: string): Promise<RateLimitToken> {
  const result = await guard.before(caller);
  if (!result.ok) throw new Error(`expected admission, got ${result.reason}`);
  return result.token;
}

function asyncStores(): Pick<RateLimitGuardOptions, 'windowStore' | 'breakerStore'> {
  const window = new InMemorySlidingWindowStore();
  const breaker = new InMemoryCircuitBreakerStore();
  const windowStore: SlidingWindowStore = {
    take: (...args) => new Promise((resolve) => setImmediate(() => resolve(window.take(...args)))),
    addBelow: (...args) => window.addBelow(...args),
    clear: (key) => window.clear(key),
  };
  const breakerStore: CircuitBreakerStore = {
    admit: (...args) => new Promise((resolve) => setImmediate(() => resolve(breaker.admit(...args)))),
    record: (...args) => new Promise((resolve) => setImmediate(() => resolve(breaker.record(...args)))),
  };
  return { windowStore, breakerStore };
}

describe.each([
  ['in-memory stores', () => ({})],
  ['async-only stores', asyncStores],
])('RateLimitGuard (%s)', (_name, stores) => {
  it('rate-limits with the seed reason and code RATE_LIMITED', async () => {
    const clock = new ManualClock(T0);
    const guard = make(clock, stores());
    for (let index = 0; index < 5; index++) await guard.after(await admitted(guard, 'agent-01'), false);
    expect(await guard.before('agent-01')).toEqual({
      ok: false,
      code: 'RATE_LIMITED',
      reason: "Rate limit exceeded for caller 'agent-01': 5 requests per 60s window.",
      retryAfterMs: 60_000,
    });
    clock.advance(60_000);
    expect((await guard.before('agent-01')).ok).toBe(true);
  });

  it('opens the breaker after threshold denials and reports CIRCUIT_OPEN', async () => {
    const clock = new ManualClock(T0);
    const guard = make(clock, stores());
    for (let index = 0; index < 3; index++) await guard.after(await admitted(guard, 'a'), true);
    clock.advance(1000);
    const refused = await guard.before('a');
    expect(refused).toEqual({
      ok: false,
      code: 'CIRCUIT_OPEN',
      reason:
        "Circuit breaker open for caller 'a': 3 denied requests in 60s; paused until 2025-01-01T00:05:00.000Z.",
      retryAfterMs: 299_000,
    });
    expect((await guard.before('b')).ok).toBe(true);
  });

  it('does not count rate-limited refusals as denials', async () => {
    const clock = new ManualClock(T0);
    const guard = make(clock, { ...stores(), maxRequests: 1 });
    await guard.after(await admitted(guard, 'a'), false);
    for (let index = 0; index < 50; index++) expect((await guard.before('a')).ok).toBe(false);
    clock.advance(60_000);
    const result = await guard.before('a');
    expect(result.ok).toBe(true);
  });

  it('closes after an allowed probe; a denied probe pauses again', async () => {
    const clock = new ManualClock(T0);
    const guard = make(clock, stores());
    for (let index = 0; index < 3; index++) await guard.after(await admitted(guard, 'a'), true);
    clock.advance(300_000);
    const probes = await Promise.all(Array.from({ length: 20 }, () => guard.before('a')));
    const tokens = probes.flatMap((result) => (result.ok ? [result.token] : []));
    expect(tokens).toHaveLength(1);
    expect(tokens[0]?.probe).toBe(true);
    await guard.after(tokens[0]!, true);
    expect(await guard.before('a')).toMatchObject({ ok: false, code: 'CIRCUIT_OPEN' });
    clock.advance(300_000);
    const probe = await admitted(guard, 'a');
    expect(probe.probe).toBe(true);
    await guard.after(probe, false);
    const after = await admitted(guard, 'a');
    expect(after.probe).toBe(false);
  });

  it('pauses again when the probe itself is rate-limited', async () => {
    const clock = new ManualClock(T0);
    const guard = make(clock, { ...stores(), maxRequests: 3, windowSeconds: 600 });
    for (let index = 0; index < 3; index++) await guard.after(await admitted(guard, 'a'), true);
    clock.advance(300_000);
    expect(await guard.before('a')).toMatchObject({ ok: false, code: 'RATE_LIMITED' });
    expect(await guard.before('a')).toMatchObject({ ok: false, code: 'CIRCUIT_OPEN' });
  });

  it('settles a token once and refuses foreign tokens', async () => {
    const clock = new ManualClock(T0);
    const guard = make(clock, stores());
    const token = await admitted(guard, 'a');
    await guard.after(token, true);
    await guard.after(token, true);
    await guard.after(token, true);
    // Only one denial was counted: two more are needed to open the breaker.
    await guard.after(await admitted(guard, 'a'), true);
    expect((await guard.before('a')).ok).toBe(true);
    const other = make(clock, stores());
    await expect(other.after(token, true)).rejects.toMatchObject({ code: 'USAGE' });
    await expect(other.after({} as RateLimitToken, true)).rejects.toMatchObject({ code: 'USAGE' });
  });
});

describe('RateLimitGuard without a breaker', () => {
  it('never pauses a caller for denials', async () => {
    const guard = new RateLimitGuard({ maxRequests: 100, windowSeconds: 60, clock: new ManualClock(T0) });
    expect(guard.breaker).toBeUndefined();
    for (let index = 0; index < 50; index++) await guard.after(await admitted(guard, 'a'), true);
    expect((await guard.before('a')).ok).toBe(true);
  });
});

describe('RateLimitGuard store failures', () => {
  it('rejects with the store message from an async store', async () => {
    const guard = new RateLimitGuard({
      maxRequests: 1,
      circuitBreakerThreshold: 1,
      breakerStore: {
        admit: () => Promise.reject(new Error('ECONNREFUSED 127.0.0.1:6379')),
        record: () => Promise.reject(new Error('ECONNREFUSED')),
      },
    });
    await expect(guard.before('a')).rejects.toThrow('ECONNREFUSED 127.0.0.1:6379');
  });

  it('rejects (does not throw synchronously) when a synchronous store throws', async () => {
    const inner = new InMemorySlidingWindowStore();
    const broken = Object.assign(Object.create(inner) as InMemorySlidingWindowStore, {
      takeSync: () => {
        throw new Error('window store exploded');
      },
    });
    const guard = new RateLimitGuard({ maxRequests: 1, windowStore: broken });
    const pending = guard.before('a');
    await expect(pending).rejects.toThrow('window store exploded');
  });

  it('propagates a failure to record a denial', async () => {
    const inner = new InMemoryCircuitBreakerStore();
    const guard = new RateLimitGuard({
      maxRequests: 5,
      circuitBreakerThreshold: 2,
      breakerStore: {
        admit: (...args) => inner.admit(...args),
        record: () => Promise.reject(new Error('write failed')),
      },
    });
    await expect(guard.after(await admitted(guard, 'a'), true)).rejects.toThrow('write failed');
  });
});

describe('RateLimitGuard memory', () => {
  it('stays bounded across many callers', async () => {
    const windowStore = new InMemorySlidingWindowStore({ maxKeys: 500 });
    const breakerStore = new InMemoryCircuitBreakerStore({ maxKeys: 500 });
    const guard = make(new ManualClock(T0), { windowStore, breakerStore });
    for (let index = 0; index < 5000; index++) {
      const result = guard.beforeSync(`caller-${index}`);
      if (result.ok) await guard.after(result.token, index % 2 === 0);
    }
    expect(windowStore.size).toBe(500);
    expect(breakerStore.size).toBe(500);
  });

  it('holds no breaker key for callers that are never denied', async () => {
    const breakerStore = new InMemoryCircuitBreakerStore();
    const guard = make(new ManualClock(T0), { breakerStore });
    for (let index = 0; index < 100; index++) await guard.after(await admitted(guard, `c${index}`), false);
    expect(breakerStore.size).toBe(0);
  });
});

describe('RateLimitGuard options', () => {
  it('accepts the seed configuration in camelCase', () => {
    const guard = new RateLimitGuard({
      maxRequests: 50,
      windowSeconds: 60,
      circuitBreakerThreshold: 10,
      circuitBreakerCooldownSeconds: 300,
    });
    expect(guard.limiter.maxRequests).toBe(50);
    expect(guard.breaker?.threshold).toBe(10);
    expect(guard.breaker?.cooldownSeconds).toBe(300);
    expect(guard.breaker?.windowSeconds).toBe(60);
    expect(guard.isSynchronous).toBe(true);
  });

  it.each([
    [{ maxRequests: -1 }, /maxRequests must be a positive integer/],
    [{ maxRequests: 10, windowSeconds: Number.POSITIVE_INFINITY }, /windowSeconds/],
    [{ maxRequests: 10, circuitBreakerThreshold: 0 }, /circuitBreakerThreshold/],
    [
      { maxRequests: 10, circuitBreakerThreshold: 2, circuitBreakerCooldownSeconds: 2.5 },
      /circuitBreakerCooldownSeconds/,
    ],
    [{ maxRequests: 10, circuitBreakerCooldownSeconds: 30 }, /needs circuitBreakerThreshold/],
    [{ max_requests: 10 }, /unknown options/],
    [[], /must be an object/],
  ])('refuses %p with a USAGE error', (options, message) => {
    expect(() => new RateLimitGuard(options as never)).toThrow(message);
    expect(() => new RateLimitGuard(options as never)).toThrow(expect.objectContaining({ code: 'USAGE' }));
  });

  it('beforeSync refuses when a store is asynchronous', () => {
    const guard = new RateLimitGuard({ maxRequests: 1, ...asyncStores() });
    expect(guard.isSynchronous).toBe(false);
    expect(() => guard.beforeSync('a')).toThrow(expect.objectContaining({ code: 'USAGE' }));
  });
});

describe('RateLimitGuard.afterSync', () => {
  it('records denials like after(), once per token, and refuses foreign tokens', () => {
    const guard = new RateLimitGuard({
      maxRequests: 100,
      windowSeconds: 60,
      circuitBreakerThreshold: 2,
      circuitBreakerCooldownSeconds: 60,
      clock: new ManualClock(0),
    });
    const first = guard.beforeSync('bot');
    if (!first.ok) throw new Error('expected admission');
    guard.afterSync(first.token, true);
    guard.afterSync(first.token, true);
    const second = guard.beforeSync('bot');
    if (!second.ok) throw new Error('expected admission after one denial');
    guard.afterSync(second.token, true);
    const third = guard.beforeSync('bot');
    expect(third).toMatchObject({ ok: false, code: 'CIRCUIT_OPEN' });
    const other = new RateLimitGuard({ maxRequests: 1, windowSeconds: 60 });
    const foreign = other.beforeSync('x');
    if (!foreign.ok) throw new Error('expected admission');
    expect(() => guard.afterSync(foreign.token, false)).toThrow(/this guard/);
  });
});
