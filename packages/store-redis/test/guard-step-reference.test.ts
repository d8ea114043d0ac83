import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  type BreakerSettings,
  type GuardStepInput,
  type GuardStepResult,
  InMemoryCircuitBreakerStore,
  InMemorySlidingWindowStore,
} from '@agent-safe/core';
import { RedisStore } from '../src/index.js';
import { type RedisServer, startRedisServer } from './redis-server.js';

// The Redis guard step against a reference: core's in-memory stores, called one step after another with
// the semantics GuardStepStore documents. Random sequences (seeded) of breakers, windows, weights and
// records on a few keys, with fractional times; batches of steps are submitted together so that they
// share script runs.

let server: RedisServer;
let store: RedisStore;

beforeAll(async () => {
  server = await startRedisServer();
  // One connection: the steps of a batch then run in one script run, in submission order (with two, two
  // runs in flight may reach Redis in either order, as concurrent requests may).
  store = await RedisStore.connect({ url: server.url, time: 'client', keyPrefix: 'ref:' });
});

afterAll(async () => {
  await store?.close();
  await server?.stop();
});

/** Deterministic pseudo-random numbers (mulberry32). */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick<T>(next: () => number, values: readonly T[]): T {
  return values[Math.floor(next() * values.length)]!;
}

interface Reference {
  readonly windows: InMemorySlidingWindowStore;
  readonly breakers: InMemoryCircuitBreakerStore;
}

/**
 * GuardStepStore semantics on the in-memory stores, one call after another. One case cannot be expressed
 * this way: a half-open breaker whose probe is free, then the window refusing. The fused step keeps the
 * probe; a separate admit has already handed it out. The test stops a sequence before that case.
 */
async function referenceStep(reference: Reference, input: GuardStepInput): Promise<GuardStepResult> {
  const result: { -readonly [K in keyof GuardStepResult]: GuardStepResult[K] } = {};
  if (input.breaker) {
    result.breaker = await reference.breakers.admit(input.breaker.key, input.now, input.breaker.settings);
    if (!result.breaker.admitted) return result;
  }
  if (input.window) {
    const { key, windowMs, limit } = input.window;
    result.window = await reference.windows.take(key, input.now, windowMs, limit);
    if (!result.window.allowed) return result;
  }
  if (input.weights) {
    const { key, windowMs, weight, ceiling } = input.weights;
    result.weights = await reference.windows.addBelow(key, input.now, windowMs, weight, ceiling);
  }
  if (input.record && input.breaker) {
    const { key, settings } = input.breaker;
    const probe = result.breaker?.probe === true;
    result.record = await reference.breakers.record(key, input.now, input.record.denied, probe, settings);
  }
  return result;
}

const BREAKERS: Record<string, BreakerSettings> = {
  'b-1': { threshold: 1, windowMs: 200, cooldownMs: 50 },
  'b-2': { threshold: 2, windowMs: 1000, cooldownMs: 300 },
  'b-3': { threshold: 3, windowMs: 400.5, cooldownMs: 120 },
};
const WINDOWS: Record<string, { windowMs: number; limit: number }> = {
  'w-1': { windowMs: 100, limit: 2 },
  'w-2': { windowMs: 250, limit: 3 },
  'w-3': { windowMs: 1000, limit: 5 },
};
const WEIGHTS: Record<string, { windowMs: number; ceiling: number }> = {
  'r-1': { windowMs: 300, ceiling: 4 },
  'r-2': { windowMs: 1000, ceiling: Number.POSITIVE_INFINITY },
};

function sequence(seed: number, steps: number): GuardStepInput[] {
  const next = random(seed);
  const inputs: GuardStepInput[] = [];
  let now = 1_795_308_798_000 + seed * 1_000_000;
  for (let index = 0; index < steps; index += 1) {
    now += pick(next, [0, 0, 0.5, 1, 7, 30, 120, 400]);
    const input: { -readonly [K in keyof GuardStepInput]: GuardStepInput[K] } = { now };
    if (next() < 0.7) {
      const key = pick(next, Object.keys(BREAKERS));
      input.breaker = { key: `${seed}:${key}`, settings: BREAKERS[key]! };
      if (next() < 0.6) input.record = { denied: next() < 0.6 };
    }
    if (next() < 0.8) {
      const key = pick(next, Object.keys(WINDOWS));
      input.window = { key: `${seed}:${key}`, ...WINDOWS[key]! };
    }
    if (next() < 0.6) {
      const key = pick(next, Object.keys(WEIGHTS));
      input.weights = { key: `${seed}:${key}`, weight: pick(next, [0, 0.5, 1, 3]), ...WEIGHTS[key]! };
    }
    inputs.push(input);
  }
  return inputs;
}

describe('RedisStore.guardStep against the in-memory reference', () => {
  it('gives the same answers on 40 random sequences of 80 steps', async () => {
    let compared = 0;
    const seen = { refusedBreaker: 0, refusedWindow: 0, opened: 0, probes: 0, ceiling: 0 };
    for (let seed = 1; seed <= 40; seed += 1) {
      const inputs = sequence(seed, 80);
      const reference: Reference = {
        windows: new InMemorySlidingWindowStore(),
        breakers: new InMemoryCircuitBreakerStore(),
      };
      // Redis answers in batches of up to 6 steps submitted together (one script run, in order).
      const answers: GuardStepResult[] = [];
      for (let start = 0; start < inputs.length; start += 6) {
        answers.push(
          ...(await Promise.all(inputs.slice(start, start + 6).map((input) => store.guardStep(input)))),
        );
      }
      for (const [index, input] of inputs.entries()) {
        const answer = answers[index]!;
        // The case separate calls cannot express (see referenceStep): compare up to it, then go on with
        // the next sequence.
        if (
          answer.breaker?.state === 'half-open' &&
          answer.breaker.admitted &&
          answer.window?.allowed === false
        ) {
          break;
        }
        const expected = await referenceStep(reference, input);
        expect({ seed, index, input, result: answer }).toEqual({ seed, index, input, result: expected });
        compared += 1;
        if (answer.breaker?.admitted === false) seen.refusedBreaker += 1;
        if (answer.window?.allowed === false) seen.refusedWindow += 1;
        if (answer.record?.state === 'open') seen.opened += 1;
        if (answer.breaker?.probe) seen.probes += 1;
        if (answer.weights?.recorded === false && (input.weights?.weight ?? 0) > 0) seen.ceiling += 1;
      }
    }
    // The sequences exercise every path, and most steps are compared.
    expect(compared).toBeGreaterThan(2000);
    for (const count of Object.values(seen)) expect(count).toBeGreaterThan(5);
  });
});
