import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  type BreakerSettings,
  type GuardStepInput,
  type GuardStepResult,
  InMemoryCircuitBreakerStore,
  InMemorySlidingWindowStore,
} from '@agent-safe/core';
import { FileGuardStore } from '../src/index.js';
import { pick, random, temporaryDirectory } from './helpers.js';

// The file store against a reference: core's in-memory stores. Random sequences (seeded) of breakers,
// windows, weights and records on a few keys, with fractional times and weights. Every answer of the
// file store comes from state read back from its file, so this also checks that saving and loading
// loses nothing (running sums included).

const directory = temporaryDirectory();
let store: FileGuardStore;

beforeAll(() => {
  store = new FileGuardStore({ directory: directory.path, durability: 'write' });
});

afterAll(async () => {
  await store.close();
  directory.remove();
});

interface Reference {
  readonly windows: InMemorySlidingWindowStore;
  readonly breakers: InMemoryCircuitBreakerStore;
}

/**
 * GuardStepStore semantics on the in-memory stores, one call after another. One case cannot be expressed
 * this way: a half-open breaker whose probe is free, then the window refusing. The fused step keeps the
 * probe; a separate admit has already handed it out. The sequence stops before that case (tested below).
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
      input.weights = { key: `${seed}:${key}`, weight: pick(next, [0, 0.1, 0.5, 1, 3]), ...WEIGHTS[key]! };
    }
    inputs.push(input);
  }
  return inputs;
}

describe('FileGuardStore.guardStep against the in-memory reference', () => {
  it('gives the same answers on 40 random sequences of 80 steps', async () => {
    let compared = 0;
    const seen = { refusedBreaker: 0, refusedWindow: 0, opened: 0, probes: 0, ceiling: 0 };
    for (let seed = 1; seed <= 40; seed += 1) {
      const reference: Reference = {
        windows: new InMemorySlidingWindowStore(),
        breakers: new InMemoryCircuitBreakerStore(),
      };
      for (const [index, input] of sequence(seed, 80).entries()) {
        const answer = await store.guardStep(input);
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
    expect(compared).toBeGreaterThan(2000);
    for (const count of Object.values(seen)) expect(count).toBeGreaterThan(5);
  });

  it('keeps a half-open probe when the window refuses (then hands it to the next request)', async () => {
    const settings: BreakerSettings = { threshold: 1, windowMs: 1000, cooldownMs: 100 };
    const breaker = { key: 'probe:b', settings };
    const window = { key: 'probe:w', windowMs: 10_000, limit: 1 };
    const now = 1_800_000_000_000;
    await store.record('probe:b', now, true, false, settings); // opens
    await store.take('probe:w', now, 10_000, 1); // fills the window
    const refused = await store.guardStep({ now: now + 150, breaker, window });
    expect(refused).toEqual({
      breaker: { admitted: true, state: 'half-open', openUntil: 0, probe: false },
      window: { allowed: false, count: 1, retryAfterMs: 10_000 - 150 },
    });
    // The probe is still free: a request without the window gets it.
    expect(await store.admit('probe:b', now + 151, settings)).toEqual({
      admitted: true,
      state: 'half-open',
      openUntil: 0,
      probe: true,
    });
  });
});

describe('FileGuardStore separate methods against the in-memory reference', () => {
  it('gives the same answers to 3000 random take / addBelow / admit / record / clear calls', async () => {
    const windows = new InMemorySlidingWindowStore();
    const breakers = new InMemoryCircuitBreakerStore();
    const next = random(7);
    let now = 1_795_400_000_000;
    const probes = new Map<string, boolean>();
    for (let index = 0; index < 3000; index += 1) {
      now += pick(next, [0, 0.25, 1, 5, 40, 150, 900]);
      const operation = pick(next, ['take', 'take', 'addBelow', 'addBelow', 'admit', 'record', 'clear']);
      const slot = pick(next, ['a', 'b', 'c']);
      let answer: unknown;
      let expected: unknown;
      if (operation === 'take') {
        const limit = { a: 1, b: 3, c: 6 }[slot]!;
        answer = await store.take(`m:w:${slot}`, now, 500, limit);
        expected = await windows.take(`m:w:${slot}`, now, 500, limit);
      } else if (operation === 'addBelow') {
        const weight = pick(next, [0, 0.1, 0.3, 1, 2.5]);
        const ceiling = slot === 'c' ? Number.POSITIVE_INFINITY : 3.2;
        answer = await store.addBelow(`m:r:${slot}`, now, 700, weight, ceiling);
        expected = await windows.addBelow(`m:r:${slot}`, now, 700, weight, ceiling);
      } else if (operation === 'clear') {
        await store.clear(`m:w:${slot}`);
        await windows.clear(`m:w:${slot}`);
      } else {
        const settings = BREAKERS[`b-${'abc'.indexOf(slot) + 1}`]!;
        const key = `m:b:${slot}`;
        if (operation === 'admit') {
          answer = await store.admit(key, now, settings);
          expected = await breakers.admit(key, now, settings);
          probes.set(key, (expected as { probe: boolean }).probe);
        } else {
          const denied = next() < 0.7;
          const probe = probes.get(key) === true;
          probes.delete(key);
          answer = await store.record(key, now, denied, probe, settings);
          expected = await breakers.record(key, now, denied, probe, settings);
        }
      }
      expect({ index, operation, answer }).toEqual({ index, operation, answer: expected });
    }
  });
});
