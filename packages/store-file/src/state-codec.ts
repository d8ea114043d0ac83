import {
  type BreakerState,
  breakerIdle,
  CLOSED,
  type GuardState,
  HALF_OPEN,
  OPEN,
  type WindowState,
  windowIdle,
} from './guard-state.js';

/** First field of every state file, so a stray JSON file is never taken for guard state. */
export const STATE_FORMAT = 'agent-safe-guard-state/1';

/** Limits applied when state is written (and checked when it is read). */
export interface StateLimits {
  /** Most keys kept per kind (windows, breakers); beyond it the least recently used are forgotten. */
  readonly maxKeys: number;
  /**
   * Most entries kept per key. Beyond it the two oldest entries are merged into the later one's time:
   * the weight then stays longer in the window, which only makes the limit stricter.
   */
  readonly maxEntriesPerKey: number;
  /** Largest state file; beyond it the least recently used keys are forgotten. */
  readonly maxBytes: number;
}

/** Why a state file was refused: the message names what is wrong. */
export class StateFormatError extends Error {}

const MAX_KEY_LENGTH = 4096;

function fail(message: string): never {
  throw new StateFormatError(message);
}

function finite(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) fail(`${what} is not a finite number`);
  return value;
}

function readLog(
  windowMs: unknown,
  sum: unknown,
  times: unknown,
  weights: unknown,
  what: string,
  limits: StateLimits,
): WindowState {
  const window = finite(windowMs, `${what} window`);
  if (window <= 0) fail(`${what} window is not positive`);
  if (!Array.isArray(times) || !Array.isArray(weights) || times.length !== weights.length) {
    fail(`${what} entries are malformed`);
  }
  if (times.length > limits.maxEntriesPerKey)
    fail(`${what} has more than ${limits.maxEntriesPerKey} entries`);
  let previous = Number.NEGATIVE_INFINITY;
  for (let index = 0; index < times.length; index++) {
    const time = finite(times[index], `${what} entry time`);
    if (time <= previous) fail(`${what} entries are not in time order`);
    previous = time;
    if (finite(weights[index], `${what} entry weight`) < 0) fail(`${what} has a negative weight`);
  }
  return {
    windowMs: window,
    times: times as number[],
    weights: weights as number[],
    sum: finite(sum, `${what} sum`),
  };
}

function readKey(value: unknown, seen: Set<string>, kind: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_KEY_LENGTH) {
    fail(`a ${kind} key is not a string of 1 to ${MAX_KEY_LENGTH} characters`);
  }
  if (seen.has(value)) fail(`a ${kind} key appears twice`);
  seen.add(value);
  return value;
}

/** Parses and checks a state file's text; throws {@link StateFormatError} naming the problem. */
export function decodeState(text: string, limits: StateLimits): GuardState {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    fail(`it is not valid JSON (${(error as Error).message})`);
  }
  if (!Array.isArray(raw) || raw.length !== 3 || raw[0] !== STATE_FORMAT) {
    fail(`it is not an Agent-Safe guard state file (expected ["${STATE_FORMAT}", windows, breakers])`);
  }
  const [, windowRows, breakerRows] = raw as [unknown, unknown, unknown];
  if (!Array.isArray(windowRows) || !Array.isArray(breakerRows))
    fail('its windows or breakers are not lists');
  if (windowRows.length > limits.maxKeys || breakerRows.length > limits.maxKeys) {
    fail(`it holds more than ${limits.maxKeys} keys of one kind`);
  }
  const windows = new Map<string, WindowState>();
  const seenWindows = new Set<string>();
  for (const row of windowRows) {
    if (!Array.isArray(row) || row.length !== 5) fail('a window row is malformed');
    const key = readKey(row[0], seenWindows, 'window');
    windows.set(key, readLog(row[1], row[2], row[3], row[4], 'a window', limits));
  }
  const breakers = new Map<string, BreakerState>();
  const seenBreakers = new Set<string>();
  for (const row of breakerRows) {
    if (!Array.isArray(row) || row.length !== 8) fail('a breaker row is malformed');
    const key = readKey(row[0], seenBreakers, 'breaker');
    const state = row[1];
    if (state !== CLOSED && state !== OPEN && state !== HALF_OPEN) fail('a breaker state is unknown');
    breakers.set(key, {
      state,
      openUntil: finite(row[2], 'a breaker openUntil'),
      probeUntil: finite(row[3], 'a breaker probeUntil'),
      denials: readLog(row[4], row[5], row[6], row[7], 'a breaker', limits),
    });
  }
  return { windows, breakers };
}

/** Merges the oldest entries until at most `max` remain (stricter, never looser; the sum is unchanged). */
function capEntries(log: WindowState, max: number): void {
  const excess = log.times.length - max;
  if (excess <= 0) return;
  let carried = 0;
  for (let index = 0; index < excess; index++) carried += log.weights[index]!;
  log.times.splice(0, excess);
  log.weights.splice(0, excess);
  log.weights[0]! += carried;
}

/**
 * Serialises the state, dropping idle keys (nothing left in the window; a closed breaker without
 * denials), capping entries, and keeping the most recently used keys within `maxKeys` and `maxBytes`.
 */
export function encodeState(state: GuardState, now: number, limits: StateLimits): string {
  // Newest first, so that the budgets keep the most recently used keys.
  const breakerRows: string[] = [];
  let bytes = STATE_FORMAT.length + 16;
  const breakerEntries = [...state.breakers].reverse();
  for (const [key, entry] of breakerEntries) {
    if (breakerRows.length >= limits.maxKeys) break;
    if (breakerIdle(entry, now)) continue;
    capEntries(entry.denials, limits.maxEntriesPerKey);
    const log = entry.denials;
    const row = JSON.stringify([
      key,
      entry.state,
      entry.openUntil,
      entry.probeUntil,
      log.windowMs,
      log.sum,
      log.times,
      log.weights,
    ]);
    const size = Buffer.byteLength(row) + 2;
    if (bytes + size > limits.maxBytes) break;
    bytes += size;
    breakerRows.push(row);
  }
  const windowRows: string[] = [];
  const windowEntries = [...state.windows].reverse();
  for (const [key, log] of windowEntries) {
    if (windowRows.length >= limits.maxKeys) break;
    if (windowIdle(log, now)) continue;
    capEntries(log, limits.maxEntriesPerKey);
    const row = JSON.stringify([key, log.windowMs, log.sum, log.times, log.weights]);
    const size = Buffer.byteLength(row) + 2;
    if (bytes + size > limits.maxBytes) break;
    bytes += size;
    windowRows.push(row);
  }
  breakerRows.reverse();
  windowRows.reverse();
  return `[${JSON.stringify(STATE_FORMAT)},\n[${windowRows.join(',\n')}],\n[${breakerRows.join(',\n')}]]\n`;
}
