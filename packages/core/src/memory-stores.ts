import { AgentSafeError } from './errors.js';
import type {
  BreakerAdmission,
  BreakerRecord,
  BreakerSettings,
  BreakerStateName,
  CircuitBreakerStore,
  SlidingWindowStore,
  WindowAdd,
  WindowTake,
} from './guard-stores.js';
import { MAX_ID_LENGTH } from './limits.js';

/** Default cap on the number of keys an in-memory store holds. */
export const DEFAULT_MAX_STORE_KEYS = 100_000;

/** Longest key an in-memory store accepts: a caller id plus room for a namespace prefix. */
export const MAX_STORE_KEY_LENGTH = MAX_ID_LENGTH * 2;

/** Options of the in-memory guard stores. */
export interface InMemoryStoreOptions {
  /**
   * Most keys held at once (default {@link DEFAULT_MAX_STORE_KEYS}). Beyond it the least recently used
   * key is forgotten, which resets that caller's window: size it above the number of active callers.
   */
  readonly maxKeys?: number;
}

/**
 * Synchronous twins of {@link SlidingWindowStore} methods, offered by stores that answer without I/O.
 * Guards detect them (`typeof store.takeSync === 'function'`) and skip promise allocation on the hot
 * path. Semantics are exactly those of the async methods; failures throw instead of rejecting.
 */
export interface SlidingWindowStoreSync {
  takeSync(key: string, now: number, windowMs: number, limit: number): WindowTake;
  addBelowSync(key: string, now: number, windowMs: number, weight: number, ceiling: number): WindowAdd;
}

/** Synchronous twins of {@link CircuitBreakerStore} methods (see {@link SlidingWindowStoreSync}). */
export interface CircuitBreakerStoreSync {
  admitSync(key: string, now: number, settings: BreakerSettings): BreakerAdmission;
  recordSync(
    key: string,
    now: number,
    denied: boolean,
    probe: boolean,
    settings: BreakerSettings,
  ): BreakerRecord;
}

// Sweep a few keys every SWEEP_EVERY operations so that memory shrinks without timers.
const SWEEP_EVERY = 64;
const SWEEP_BATCH = 4;
const INITIAL_CAPACITY = 4;

/**
 * A per-key log of (time, weight) entries, oldest first, in a power-of-two ring buffer so that expiry
 * is a head move rather than an array shift. Entries recorded in the same millisecond are merged: they
 * expire together, so merging changes no answer and bounds memory by distinct milliseconds, not calls.
 */
class WindowLog {
  times: Float64Array = new Float64Array(INITIAL_CAPACITY);
  weights: Float64Array = new Float64Array(INITIAL_CAPACITY);
  head = 0;
  size = 0;
  sum = 0;
  /** Window of the last call, so a sweep can tell when the whole log has expired. */
  windowMs = 0;
  /** Reference bit of the CLOCK eviction (approximate LRU without reordering the map on every hit). */
  referenced = true;

  prune(cutoff: number): void {
    const times = this.times;
    const mask = times.length - 1;
    while (this.size > 0 && times[this.head]! <= cutoff) {
      this.sum -= this.weights[this.head]!;
      this.head = (this.head + 1) & mask;
      this.size--;
    }
    // Fractional weights could leave rounding residue; an empty window is exactly zero.
    if (this.size === 0) this.sum = 0;
  }

  append(time: number, weight: number): void {
    this.sum += weight;
    if (this.size > 0) {
      const last = (this.head + this.size - 1) & (this.times.length - 1);
      const lastTime = this.times[last]!;
      // A clock that steps back must not break the ordering: the entry then lives slightly longer,
      // which only makes the limit stricter.
      if (time <= lastTime) {
        this.weights[last]! += weight;
        return;
      }
    }
    if (this.size === this.times.length) this.grow();
    const slot = (this.head + this.size) & (this.times.length - 1);
    this.times[slot] = time;
    this.weights[slot] = weight;
    this.size++;
  }

  oldest(): number {
    return this.times[this.head]!;
  }

  clearEntries(): void {
    this.head = 0;
    this.size = 0;
    this.sum = 0;
  }

  expiredAt(now: number): boolean {
    return (
      this.size === 0 ||
      this.times[(this.head + this.size - 1) & (this.times.length - 1)]! <= now - this.windowMs
    );
  }

  private grow(): void {
    const capacity = this.times.length * 2;
    const times = new Float64Array(capacity);
    const weights = new Float64Array(capacity);
    const mask = this.times.length - 1;
    for (let index = 0; index < this.size; index++) {
      const from = (this.head + index) & mask;
      times[index] = this.times[from]!;
      weights[index] = this.weights[from]!;
    }
    this.times = times;
    this.weights = weights;
    this.head = 0;
  }
}

interface Referenced {
  referenced: boolean;
}

/**
 * A Map with a key cap and CLOCK eviction: a hit only sets a bit (reordering a Map on every access
 * costs hundreds of nanoseconds); eviction walks from the oldest insertion, giving referenced keys a
 * second chance. `isIdle` lets eviction and the background sweep drop keys with nothing left in them.
 */
class BoundedKeyMap<V extends Referenced> {
  readonly #entries = new Map<string, V>();
  readonly #maxKeys: number;
  readonly #isIdle: (value: V, now: number) => boolean;
  #operations = 0;

  constructor(maxKeys: number, isIdle: (value: V, now: number) => boolean) {
    this.#maxKeys = maxKeys;
    this.#isIdle = isIdle;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: string, now: number): V | undefined {
    if (++this.#operations >= SWEEP_EVERY) {
      this.#operations = 0;
      this.#sweep(now, SWEEP_BATCH);
    }
    const value = this.#entries.get(key);
    if (value !== undefined) value.referenced = true;
    return value;
  }

  set(key: string, value: V, now: number): void {
    if (this.#entries.size >= this.#maxKeys) this.#evict(now);
    value.referenced = true;
    this.#entries.set(key, value);
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }

  #sweep(now: number, batch: number): void {
    let examined = 0;
    for (const [key, value] of this.#entries) {
      if (examined++ >= batch) return;
      this.#entries.delete(key);
      if (this.#isIdle(value, now)) continue;
      // Rotate live keys to the back so that successive sweeps visit every key.
      value.referenced = false;
      this.#entries.set(key, value);
    }
  }

  #evict(now: number): void {
    // Bounded: after one full pass every reference bit is clear, so the second pass evicts.
    let budget = this.#entries.size * 2 + 1;
    for (const [key, value] of this.#entries) {
      if (budget-- <= 0) break;
      this.#entries.delete(key);
      if (this.#isIdle(value, now) || !value.referenced) return;
      value.referenced = false;
      this.#entries.set(key, value);
    }
  }
}

function usage(message: string, path: string, expected: string): AgentSafeError {
  return new AgentSafeError('USAGE', message, {
    issues: [{ message: `${path}: expected ${expected}`, path }],
  });
}

function checkMaxKeys(options: InMemoryStoreOptions): number {
  const maxKeys = options.maxKeys ?? DEFAULT_MAX_STORE_KEYS;
  if (!Number.isSafeInteger(maxKeys) || maxKeys < 1) {
    throw usage(`maxKeys must be a positive integer, got ${String(maxKeys)}`, 'maxKeys', 'an integer >= 1');
  }
  return maxKeys;
}

// Cheap enough for the hot path; NaN fails every comparison below, so it is refused too.
function checkKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_STORE_KEY_LENGTH) {
    throw usage(
      `Store key must be a non-empty string of at most ${MAX_STORE_KEY_LENGTH} characters`,
      'key',
      'a non-empty string',
    );
  }
}

function checkTime(now: number, windowMs: number): void {
  if (!(now >= 0 && now <= Number.MAX_SAFE_INTEGER)) {
    throw usage(
      `now must be milliseconds since the epoch, got ${String(now)}`,
      'now',
      'a finite number >= 0',
    );
  }
  if (!(windowMs > 0 && windowMs <= Number.MAX_SAFE_INTEGER)) {
    throw usage(`windowMs must be a positive number, got ${String(windowMs)}`, 'windowMs', 'a number > 0');
  }
}

function rejected<T>(error: unknown): Promise<T> {
  return Promise.reject(error);
}

function isIdleLog(log: WindowLog, now: number): boolean {
  return log.expiredAt(now);
}

/**
 * In-memory {@link SlidingWindowStore} for one process. Every method is atomic (single-threaded and
 * synchronous inside); the `…Sync` twins let guards skip promise allocation on the hot path. Memory is
 * bounded: entries are pruned on access, empty keys are dropped, idle keys are swept a few at a time,
 * and at most `maxKeys` keys are held (approximately least recently used evicted first).
 */
export class InMemorySlidingWindowStore implements SlidingWindowStore, SlidingWindowStoreSync {
  readonly #logs: BoundedKeyMap<WindowLog>;

  constructor(options: InMemoryStoreOptions = {}) {
    this.#logs = new BoundedKeyMap(checkMaxKeys(options), isIdleLog);
  }

  /** Keys currently held (for monitoring and tests). */
  get size(): number {
    return this.#logs.size;
  }

  /** Synchronous {@link SlidingWindowStore.take}; throws a USAGE error on malformed arguments. */
  takeSync(key: string, now: number, windowMs: number, limit: number): WindowTake {
    checkKey(key);
    checkTime(now, windowMs);
    if (!(limit >= 0))
      throw usage(`limit must be a number >= 0, got ${String(limit)}`, 'limit', 'a number >= 0');
    let log = this.#logs.get(key, now);
    if (log !== undefined) {
      log.windowMs = windowMs;
      log.prune(now - windowMs);
    }
    const count = log === undefined ? 0 : log.sum;
    if (count >= limit) {
      if (log !== undefined && log.size === 0) this.#logs.delete(key);
      const retryAfterMs =
        log === undefined || log.size === 0 ? 0 : Math.max(0, log.oldest() + windowMs - now);
      return { allowed: false, count, retryAfterMs };
    }
    if (log === undefined) {
      log = new WindowLog();
      log.windowMs = windowMs;
      this.#logs.set(key, log, now);
    }
    log.append(now, 1);
    return { allowed: true, count: count + 1, retryAfterMs: 0 };
  }

  /** Synchronous {@link SlidingWindowStore.addBelow}; throws a USAGE error on malformed arguments. */
  addBelowSync(key: string, now: number, windowMs: number, weight: number, ceiling: number): WindowAdd {
    checkKey(key);
    checkTime(now, windowMs);
    if (!(weight >= 0 && weight <= Number.MAX_SAFE_INTEGER)) {
      throw usage(
        `weight must be a finite number >= 0, got ${String(weight)}`,
        'weight',
        'a finite number >= 0',
      );
    }
    if (Number.isNaN(ceiling))
      throw usage('ceiling must be a number, got NaN', 'ceiling', 'a number or Infinity');
    let log = this.#logs.get(key, now);
    if (log !== undefined) {
      log.windowMs = windowMs;
      log.prune(now - windowMs);
    }
    const before = log === undefined ? 0 : log.sum;
    const after = before + weight;
    if (weight === 0 || !(after < ceiling)) {
      if (log !== undefined && log.size === 0) this.#logs.delete(key);
      return { before, after: before, recorded: false };
    }
    if (log === undefined) {
      log = new WindowLog();
      log.windowMs = windowMs;
      this.#logs.set(key, log, now);
    }
    log.append(now, weight);
    return { before, after, recorded: true };
  }

  /** Synchronous {@link SlidingWindowStore.clear}. */
  clearSync(key: string): void {
    checkKey(key);
    this.#logs.delete(key);
  }

  take(key: string, now: number, windowMs: number, limit: number): Promise<WindowTake> {
    try {
      return Promise.resolve(this.takeSync(key, now, windowMs, limit));
    } catch (error) {
      return rejected(error);
    }
  }

  addBelow(key: string, now: number, windowMs: number, weight: number, ceiling: number): Promise<WindowAdd> {
    try {
      return Promise.resolve(this.addBelowSync(key, now, windowMs, weight, ceiling));
    } catch (error) {
      return rejected(error);
    }
  }

  clear(key: string): Promise<void> {
    try {
      this.clearSync(key);
      return Promise.resolve();
    } catch (error) {
      return rejected(error);
    }
  }
}

const CLOSED = 0;
const OPEN = 1;
const HALF_OPEN = 2;
const STATE_NAMES: readonly BreakerStateName[] = ['closed', 'open', 'half-open'];

class BreakerEntry {
  state = CLOSED;
  openUntil = 0;
  /** When the outstanding half-open probe's lease ends (0: no probe out). */
  probeUntil = 0;
  readonly denials = new WindowLog();
  referenced = true;

  /** Applies the transitions that are due to the passage of time alone. */
  advance(now: number, windowMs: number): void {
    if (this.state === OPEN && now >= this.openUntil) {
      this.state = HALF_OPEN;
      this.openUntil = 0;
      this.probeUntil = 0;
    }
    this.denials.windowMs = windowMs;
    this.denials.prune(now - windowMs);
  }

  open(now: number, cooldownMs: number): void {
    this.state = OPEN;
    this.openUntil = now + cooldownMs;
    this.probeUntil = 0;
    this.denials.clearEntries();
  }

  close(): void {
    this.state = CLOSED;
    this.openUntil = 0;
    this.probeUntil = 0;
    this.denials.clearEntries();
  }

  /** A closed breaker with no denials in its window is the default state: the key can go. */
  isIdle(now: number): boolean {
    return this.state === CLOSED && this.denials.expiredAt(now);
  }
}

function isIdleBreaker(entry: BreakerEntry, now: number): boolean {
  return entry.isIdle(now);
}

function checkSettings(settings: BreakerSettings): void {
  if (typeof settings !== 'object' || settings === null) {
    throw usage('Breaker settings must be an object', 'settings', '{ threshold, windowMs, cooldownMs }');
  }
  const { threshold, windowMs, cooldownMs } = settings;
  if (!(threshold >= 1 && threshold <= Number.MAX_SAFE_INTEGER)) {
    throw usage(
      `threshold must be a number >= 1, got ${String(threshold)}`,
      'settings.threshold',
      'a number >= 1',
    );
  }
  if (!(windowMs > 0 && windowMs <= Number.MAX_SAFE_INTEGER)) {
    throw usage(
      `windowMs must be a positive number, got ${String(windowMs)}`,
      'settings.windowMs',
      'a number > 0',
    );
  }
  if (!(cooldownMs > 0 && cooldownMs <= Number.MAX_SAFE_INTEGER)) {
    throw usage(
      `cooldownMs must be a positive number, got ${String(cooldownMs)}`,
      'settings.cooldownMs',
      'a number > 0',
    );
  }
}

const CLOSED_ADMISSION: BreakerAdmission = Object.freeze({
  admitted: true,
  state: 'closed',
  openUntil: 0,
  probe: false,
});
const CLOSED_RECORD: BreakerRecord = Object.freeze({ state: 'closed', openUntil: 0, denials: 0 });

/**
 * In-memory {@link CircuitBreakerStore} for one process, with synchronous twins for the hot path.
 * A caller with a closed breaker and no recent denials costs no memory at all; only callers with
 * denials in the window or an open/half-open breaker hold a key (at most `maxKeys`).
 *
 * Probe bookkeeping: `record(…, probe = true, …)` settles the half-open trial only while the breaker is
 * half-open; a probe that reports after the breaker already moved on is treated as an ordinary
 * decision. Ordinary decisions reported while open or half-open (requests admitted before the breaker
 * opened) change nothing: the breaker is already refusing.
 */
export class InMemoryCircuitBreakerStore implements CircuitBreakerStore, CircuitBreakerStoreSync {
  readonly #entries: BoundedKeyMap<BreakerEntry>;

  constructor(options: InMemoryStoreOptions = {}) {
    this.#entries = new BoundedKeyMap(checkMaxKeys(options), isIdleBreaker);
  }

  /** Keys currently held (for monitoring and tests). */
  get size(): number {
    return this.#entries.size;
  }

  /** Synchronous {@link CircuitBreakerStore.admit}; throws a USAGE error on malformed arguments. */
  admitSync(key: string, now: number, settings: BreakerSettings): BreakerAdmission {
    checkKey(key);
    checkSettings(settings);
    checkTime(now, settings.windowMs);
    const entry = this.#entries.get(key, now);
    if (entry === undefined) return CLOSED_ADMISSION;
    entry.advance(now, settings.windowMs);
    switch (entry.state) {
      case OPEN:
        return { admitted: false, state: 'open', openUntil: entry.openUntil, probe: false };
      case HALF_OPEN:
        if (entry.probeUntil !== 0 && now < entry.probeUntil) {
          return { admitted: false, state: 'half-open', openUntil: 0, probe: false };
        }
        entry.probeUntil = now + settings.cooldownMs;
        return { admitted: true, state: 'half-open', openUntil: 0, probe: true };
      default:
        if (entry.isIdle(now)) this.#entries.delete(key);
        return CLOSED_ADMISSION;
    }
  }

  /** Synchronous {@link CircuitBreakerStore.record}; throws a USAGE error on malformed arguments. */
  recordSync(
    key: string,
    now: number,
    denied: boolean,
    probe: boolean,
    settings: BreakerSettings,
  ): BreakerRecord {
    checkKey(key);
    checkSettings(settings);
    checkTime(now, settings.windowMs);
    let entry = this.#entries.get(key, now);
    if (entry === undefined) {
      if (!denied) return CLOSED_RECORD;
      entry = new BreakerEntry();
      this.#entries.set(key, entry, now);
    }
    entry.advance(now, settings.windowMs);
    if (entry.state === HALF_OPEN && probe === true) {
      if (denied) entry.open(now, settings.cooldownMs);
      else entry.close();
    } else if (entry.state === CLOSED && denied) {
      entry.denials.append(now, 1);
      if (entry.denials.sum >= settings.threshold) entry.open(now, settings.cooldownMs);
    }
    const result: BreakerRecord = {
      state: STATE_NAMES[entry.state]!,
      openUntil: entry.openUntil,
      denials: entry.denials.sum,
    };
    if (entry.isIdle(now)) this.#entries.delete(key);
    return result;
  }

  admit(key: string, now: number, settings: BreakerSettings): Promise<BreakerAdmission> {
    try {
      return Promise.resolve(this.admitSync(key, now, settings));
    } catch (error) {
      return rejected(error);
    }
  }

  record(
    key: string,
    now: number,
    denied: boolean,
    probe: boolean,
    settings: BreakerSettings,
  ): Promise<BreakerRecord> {
    try {
      return Promise.resolve(this.recordSync(key, now, denied, probe, settings));
    } catch (error) {
      return rejected(error);
    }
  }
}
