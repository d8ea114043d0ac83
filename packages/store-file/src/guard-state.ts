import type {
  BreakerAdmission,
  BreakerRecord,
  BreakerSettings,
  BreakerStateName,
  GuardStepInput,
  GuardStepResult,
  WindowAdd,
  WindowTake,
} from '@agent-safe/core';

/**
 * The guard stores' semantics on plain, serialisable state: exactly those of core's in-memory stores
 * (`InMemorySlidingWindowStore`, `InMemoryCircuitBreakerStore`), step for step and with the same
 * floating-point arithmetic (the running sum is kept, never recomputed), so that a state loaded from a
 * file answers as the memory store would have. A differential test holds the two together.
 */

/** A per-key log of (time, weight) entries, oldest first; entries of the same millisecond are merged. */
export interface WindowState {
  /** Window of the last call (a key whose entries all left it is idle and dropped on write). */
  windowMs: number;
  times: number[];
  weights: number[];
  /** Running sum, kept incrementally as the memory store keeps it. */
  sum: number;
}

/** Numeric breaker states, as the memory store numbers them. */
export const CLOSED = 0;
export const OPEN = 1;
export const HALF_OPEN = 2;
const STATE_NAMES: readonly BreakerStateName[] = ['closed', 'open', 'half-open'];

export interface BreakerState {
  state: number;
  openUntil: number;
  /** When the outstanding half-open probe's lease ends (0: no probe out). */
  probeUntil: number;
  denials: WindowState;
}

/** Everything one store holds. Maps keep insertion order, which is the least-recently-used order. */
export interface GuardState {
  readonly windows: Map<string, WindowState>;
  readonly breakers: Map<string, BreakerState>;
}

export function emptyWindow(windowMs: number): WindowState {
  return { windowMs, times: [], weights: [], sum: 0 };
}

function prune(log: WindowState, cutoff: number): void {
  let drop = 0;
  while (drop < log.times.length && log.times[drop]! <= cutoff) {
    log.sum -= log.weights[drop]!;
    drop++;
  }
  if (drop > 0) {
    log.times.splice(0, drop);
    log.weights.splice(0, drop);
  }
  // Fractional weights could leave rounding residue; an empty window is exactly zero.
  if (log.times.length === 0) log.sum = 0;
}

function append(log: WindowState, time: number, weight: number): void {
  log.sum += weight;
  const last = log.times.length - 1;
  // A clock that steps back must not break the ordering: the entry then lives slightly longer.
  if (last >= 0 && time <= log.times[last]!) {
    log.weights[last]! += weight;
    return;
  }
  log.times.push(time);
  log.weights.push(weight);
}

/** True when nothing in the log is still inside its window at `now`: the key can be forgotten. */
export function windowIdle(log: WindowState, now: number): boolean {
  const last = log.times.length - 1;
  return last < 0 || log.times[last]! <= now - log.windowMs;
}

/** A closed breaker with no denials in its window is the default state: the key can be forgotten. */
export function breakerIdle(entry: BreakerState, now: number): boolean {
  return entry.state === CLOSED && windowIdle(entry.denials, now);
}

/** Marks a key as just used (moves it to the end of the map's order). */
function touch<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key);
  map.set(key, value);
}

export function take(
  state: GuardState,
  key: string,
  now: number,
  windowMs: number,
  limit: number,
): WindowTake {
  let log = state.windows.get(key);
  if (log !== undefined) {
    touch(state.windows, key, log);
    log.windowMs = windowMs;
    prune(log, now - windowMs);
  }
  const count = log === undefined ? 0 : log.sum;
  if (count >= limit) {
    if (log !== undefined && log.times.length === 0) state.windows.delete(key);
    const retryAfterMs =
      log === undefined || log.times.length === 0 ? 0 : Math.max(0, log.times[0]! + windowMs - now);
    return { allowed: false, count, retryAfterMs };
  }
  if (log === undefined) {
    log = emptyWindow(windowMs);
    state.windows.set(key, log);
  }
  append(log, now, 1);
  return { allowed: true, count: count + 1, retryAfterMs: 0 };
}

export function addBelow(
  state: GuardState,
  key: string,
  now: number,
  windowMs: number,
  weight: number,
  ceiling: number,
): WindowAdd {
  let log = state.windows.get(key);
  if (log !== undefined) {
    touch(state.windows, key, log);
    log.windowMs = windowMs;
    prune(log, now - windowMs);
  }
  const before = log === undefined ? 0 : log.sum;
  const after = before + weight;
  if (weight === 0 || !(after < ceiling)) {
    if (log !== undefined && log.times.length === 0) state.windows.delete(key);
    return { before, after: before, recorded: false };
  }
  if (log === undefined) {
    log = emptyWindow(windowMs);
    state.windows.set(key, log);
  }
  append(log, now, weight);
  return { before, after, recorded: true };
}

export function clear(state: GuardState, key: string): void {
  state.windows.delete(key);
}

function advance(entry: BreakerState, now: number, windowMs: number): void {
  if (entry.state === OPEN && now >= entry.openUntil) {
    entry.state = HALF_OPEN;
    entry.openUntil = 0;
    entry.probeUntil = 0;
  }
  entry.denials.windowMs = windowMs;
  prune(entry.denials, now - windowMs);
}

function openBreaker(entry: BreakerState, now: number, cooldownMs: number): void {
  entry.state = OPEN;
  entry.openUntil = now + cooldownMs;
  entry.probeUntil = 0;
  entry.denials.times.length = 0;
  entry.denials.weights.length = 0;
  entry.denials.sum = 0;
}

function closeBreaker(entry: BreakerState): void {
  entry.state = CLOSED;
  entry.openUntil = 0;
  entry.probeUntil = 0;
  entry.denials.times.length = 0;
  entry.denials.weights.length = 0;
  entry.denials.sum = 0;
}

const CLOSED_ADMISSION: BreakerAdmission = Object.freeze({
  admitted: true,
  state: 'closed',
  openUntil: 0,
  probe: false,
});
const CLOSED_RECORD: BreakerRecord = Object.freeze({ state: 'closed', openUntil: 0, denials: 0 });

/**
 * The breaker admission. With `commit` false a half-open breaker's free probe is reported but not
 * handed out (the fused step hands it out only once the window allowed the request).
 */
export function admit(
  state: GuardState,
  key: string,
  now: number,
  settings: BreakerSettings,
  commit = true,
): BreakerAdmission {
  const entry = state.breakers.get(key);
  if (entry === undefined) return CLOSED_ADMISSION;
  touch(state.breakers, key, entry);
  advance(entry, now, settings.windowMs);
  switch (entry.state) {
    case OPEN:
      return { admitted: false, state: 'open', openUntil: entry.openUntil, probe: false };
    case HALF_OPEN:
      if (entry.probeUntil !== 0 && now < entry.probeUntil) {
        return { admitted: false, state: 'half-open', openUntil: 0, probe: false };
      }
      if (commit) entry.probeUntil = now + settings.cooldownMs;
      return { admitted: true, state: 'half-open', openUntil: 0, probe: true };
    default:
      if (breakerIdle(entry, now)) state.breakers.delete(key);
      return CLOSED_ADMISSION;
  }
}

export function record(
  state: GuardState,
  key: string,
  now: number,
  denied: boolean,
  probe: boolean,
  settings: BreakerSettings,
): BreakerRecord {
  let entry = state.breakers.get(key);
  if (entry === undefined) {
    if (!denied) return CLOSED_RECORD;
    entry = { state: CLOSED, openUntil: 0, probeUntil: 0, denials: emptyWindow(settings.windowMs) };
    state.breakers.set(key, entry);
  } else {
    touch(state.breakers, key, entry);
  }
  advance(entry, now, settings.windowMs);
  if (entry.state === HALF_OPEN && probe === true) {
    if (denied) openBreaker(entry, now, settings.cooldownMs);
    else closeBreaker(entry);
  } else if (entry.state === CLOSED && denied) {
    append(entry.denials, now, 1);
    if (entry.denials.sum >= settings.threshold) openBreaker(entry, now, settings.cooldownMs);
  }
  const result: BreakerRecord = {
    state: STATE_NAMES[entry.state]!,
    openUntil: entry.openUntil,
    denials: entry.denials.sum,
  };
  if (breakerIdle(entry, now)) state.breakers.delete(key);
  return result;
}

/**
 * The fused guard step of core's `GuardStepStore`: breaker admit, window take, weights add, breaker
 * record, each only if the steps before it passed; a refused window spends no probe.
 */
export function guardStep(state: GuardState, input: GuardStepInput): GuardStepResult {
  const now = input.now;
  const result: { -readonly [K in keyof GuardStepResult]: GuardStepResult[K] } = {};
  let admission: BreakerAdmission | undefined;
  if (input.breaker !== undefined) {
    admission = admit(state, input.breaker.key, now, input.breaker.settings, false);
    result.breaker = admission;
    if (!admission.admitted) return result;
  }
  if (input.window !== undefined) {
    const { key, windowMs, limit } = input.window;
    const window = take(state, key, now, windowMs, limit);
    result.window = window;
    if (!window.allowed) {
      // The probe was not handed out: report it as such.
      if (admission?.probe === true) result.breaker = { ...admission, probe: false };
      return result;
    }
  }
  if (admission?.probe === true && input.breaker !== undefined) {
    state.breakers.get(input.breaker.key)!.probeUntil = now + input.breaker.settings.cooldownMs;
  }
  if (input.weights !== undefined) {
    const { key, windowMs, weight, ceiling } = input.weights;
    result.weights = addBelow(state, key, now, windowMs, weight, ceiling);
  }
  if (input.record !== undefined && input.breaker !== undefined) {
    const { key, settings } = input.breaker;
    result.record = record(state, key, now, input.record.denied, admission?.probe === true, settings);
  }
  return result;
}
