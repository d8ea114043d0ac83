import {
  AgentSafeError,
  type BreakerAdmission,
  type BreakerRecord,
  type BreakerSettings,
  type BreakerStateName,
  type CircuitBreakerStore,
  type GuardStepInput,
  type GuardStepResult,
  type GuardStepStore,
  type NonceStore,
  type SlidingWindowStore,
  type WindowAdd,
  type WindowTake,
} from '@agent-safe/core';
import { randomBytes } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import {
  ADD_BELOW_SCRIPT,
  ADMIT_SCRIPT,
  ALL_SCRIPTS,
  CONSUME_SCRIPT,
  GUARD_CHECK_SCRIPT,
  GUARD_PROFILE_FIELDS,
  GUARD_STEP_REPLY,
  GUARD_STEPS_SCRIPT,
  type LuaScript,
  RECORD_SCRIPT,
  TAKE_SCRIPT,
} from './lua-scripts.js';
import { encodeCallerKey } from './redis-key.js';
import {
  MAX_DURATION_MS,
  requireBreakerSettings,
  requireCeiling,
  requireDuration,
  requireFinite,
  requireInteger,
  requireKey,
  requireNonce,
  requireNonceExpiry,
  requireWeight,
} from './validate.js';

/** Which clock the scripts read. */
export type RedisStoreTime = 'server' | 'client';

/** Options of {@link RedisStore.connect}. */
export interface RedisStoreOptions {
  /** `redis://[user:password@]host:port[/db]` or `rediss://…`; wins over `host`/`port`. */
  readonly url?: string;
  /** Default `127.0.0.1`. */
  readonly host?: string;
  /** Default 6379. */
  readonly port?: number;
  /** Prefix of every key this store writes; default `agent-safe:`. */
  readonly keyPrefix?: string;
  /**
   * `'server'` (default): the scripts read Redis `TIME`, so all replicas share one clock and the `now`
   * passed by callers is ignored. `'client'`: the scripts use the caller's `now` (tests with a
   * ManualClock; replicas must then keep their clocks in sync).
   */
  readonly time?: RedisStoreTime;
  /** An operation without a reply after this long rejects; default 250. */
  readonly commandTimeoutMs?: number;
  /** `connect` gives up after this long; default 1000. */
  readonly connectTimeoutMs?: number;
  /** Nonces are kept this long past their expiry, to absorb clock skew between replicas; default 60,000. */
  readonly nonceGraceMs?: number;
  /** An open or half-open breaker nobody touches is forgotten (closes) after this long; default 1 day. */
  readonly breakerIdleMs?: number;
  /**
   * Connections used round-robin (1–16, default 1). A second connection lets this process encode and
   * decode one batch of pipelined scripts while Redis runs the other, which raises throughput under many
   * concurrent checks; Redis itself still runs one script at a time, so atomicity is unchanged.
   */
  readonly connections?: number;
}

/** One rate-limit window of a {@link RedisStore.guardCheck}. */
export interface GuardCheckWindow {
  readonly key: string;
  readonly windowMs: number;
  readonly limit: number;
}

/** The breaker of a {@link RedisStore.guardCheck}. */
export interface GuardCheckBreaker {
  readonly key: string;
  readonly settings: BreakerSettings;
}

/** Input of {@link RedisStore.guardCheck}. */
export interface GuardCheckInput {
  /** Ignored with `time: 'server'`. */
  readonly now: number;
  /** At most {@link MAX_GUARD_WINDOWS}, with distinct keys. */
  readonly windows: readonly GuardCheckWindow[];
  readonly breaker?: GuardCheckBreaker;
}

/** Outcome of {@link RedisStore.guardCheck}. */
export interface GuardCheckResult {
  /** True when the breaker admitted and every window had room; only then was anything recorded. */
  readonly allowed: boolean;
  /** Present when a breaker was given. When `allowed` is false no probe was taken. */
  readonly breaker?: BreakerAdmission;
  /**
   * One per input window, in order. `allowed` says whether that window had room; `count` is the entries
   * after the call (incremented only when the whole check was allowed).
   */
  readonly windows: readonly WindowTake[];
}

/** Most windows in one {@link RedisStore.guardCheck}. */
export const MAX_GUARD_WINDOWS = 16;

/** Most connections one {@link RedisStore} opens. */
const MAX_CONNECTIONS = 16;
const MAX_NONCE_TTL_MS = 100 * 366 * 86_400_000;
/** Most guard steps sent in one script run (bounds how long one run holds Redis). */
const MAX_STEPS_PER_RUN = 128;
/**
 * Most guard steps waiting for a run. Beyond it a step is refused at once (fail closed) rather than
 * queued: Redis is then far behind, and an unbounded queue would only add memory and latency.
 */
export const MAX_QUEUED_STEPS = 10_000;

/** Profiles remembered for reuse (see RedisStore.#profileText). */
const PROFILE_CACHE_SIZE = 8;
/** Caller keys whose Redis key names are remembered; the cache starts afresh when full. */
const KEY_CACHE_SIZE = 4096;

const settle = (): void => undefined;

/** A guard step waiting for (or in) a script run. */
class PendingStep {
  breakerKey: string;
  denialsKey: string;
  windowKey: string;
  weightsKey: string;
  sumKey: string;
  hasBreaker = false;
  hasWindow = false;
  hasWeights = false;
  /** The step's settings, weight and record as one string (sent once per run for all steps sharing it). */
  profile = '';
  resolve: (result: GuardStepResult) => void = settle;
  reject: (error: unknown) => void = settle;

  constructor(
    readonly now: string,
    none: string,
  ) {
    this.breakerKey = none;
    this.denialsKey = none;
    this.windowKey = none;
    this.weightsKey = none;
    this.sumKey = none;
  }
}

const DEFAULT_PORT = 6379;

interface ResolvedOptions {
  readonly address: string;
  readonly keyPrefix: string;
  readonly time: RedisStoreTime;
  readonly nonceGraceMs: number;
  readonly breakerIdleMs: number;
  readonly connectTimeoutMs: number;
}

/**
 * Shared state for many Agent-Safe replicas on one Redis (standalone or primary): sliding windows,
 * circuit breakers and ticket nonces. Every operation is one Lua script, so it is atomic across all
 * processes using the same Redis and key prefix. Fails fast and closed: with Redis unreachable, every
 * operation rejects with an `INTERNAL` AgentSafeError within about `commandTimeoutMs` (no offline queue,
 * no retries of a command), while the connection keeps reconnecting with backoff in the background.
 */
export class RedisStore implements SlidingWindowStore, CircuitBreakerStore, NonceStore, GuardStepStore {
  readonly #clients: readonly Redis[];
  readonly #options: ResolvedOptions;
  #next = 0;
  #closed = false;
  /** Guard steps waiting for a connection with no script run in flight. */
  #steps: PendingStep[] = [];
  /** Per connection: a run of guard steps is in flight on it. */
  readonly #running: boolean[];
  #flushQueued = false;
  /** Member ids: a random prefix per store and a counter, so that no two calls ever add the same member. */
  readonly #uidPrefix = randomBytes(9).toString('base64url');
  #uidCounter = 0;
  /** Recently used profiles (see #profileText) and the scratch array a step's profile is built in. */
  readonly #profiles: { readonly values: Float64Array; readonly text: string }[] = [];
  readonly #profileScratch = new Float64Array(GUARD_PROFILE_FIELDS);
  readonly #windowKeyCache = new Map<string, readonly [string, string]>();
  readonly #breakerKeyCache = new Map<string, readonly [string, string]>();
  /** The key a step passes for a part it does not use (never read or written). */
  readonly #noneKey: string;

  private constructor(clients: readonly Redis[], options: ResolvedOptions) {
    this.#clients = clients;
    this.#options = options;
    this.#running = clients.map(() => false);
    this.#noneKey = `${options.keyPrefix}none`;
  }

  /** Connects, loads the scripts and resolves when Redis answers; rejects (`INTERNAL`) otherwise. */
  static async connect(options: RedisStoreOptions = {}): Promise<RedisStore> {
    const { clients, resolved } = createClients(options);
    const store = new RedisStore(clients, resolved);
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no connection within ${resolved.connectTimeoutMs} ms`)),
          resolved.connectTimeoutMs,
        );
      });
      await Promise.race([Promise.all(clients.map((client) => client.connect())), timeout]);
      for (const script of ALL_SCRIPTS) await clients[0]!.call('SCRIPT', 'LOAD', script.source);
    } catch (error) {
      // Disconnecting an ended client arms a 2 s timer for a socket that is already gone.
      for (const client of clients) if (client.status !== 'end') client.disconnect();
      throw store.#failure(error, 'connect');
    } finally {
      clearTimeout(timer);
    }
    return store;
  }

  /** `host:port` of the server (never the password). */
  get address(): string {
    return this.#options.address;
  }

  /** The key prefix in use. */
  get keyPrefix(): string {
    return this.#options.keyPrefix;
  }

  /** The clock the scripts read. */
  get time(): RedisStoreTime {
    return this.#options.time;
  }

  async take(key: string, now: number, windowMs: number, limit: number): Promise<WindowTake> {
    const keys = this.#windowKeys(requireKey(key));
    const args = [
      this.#now(now),
      this.#uid(),
      String(requireDuration(windowMs, 'windowMs')),
      String(requireInteger(limit, 'limit', 0, Number.MAX_SAFE_INTEGER)),
    ];
    const reply = (await this.#run(TAKE_SCRIPT, [keys[0]], args)) as [number, string, string];
    return { allowed: reply[0] === 1, count: Number(reply[1]), retryAfterMs: Number(reply[2]) };
  }

  async addBelow(
    key: string,
    now: number,
    windowMs: number,
    weight: number,
    ceiling: number,
  ): Promise<WindowAdd> {
    const keys = this.#windowKeys(requireKey(key));
    const args = [
      this.#now(now),
      this.#uid(),
      String(requireDuration(windowMs, 'windowMs')),
      String(requireWeight(weight, 'weight')),
      ceilingArgument(ceiling, 'ceiling'),
    ];
    const reply = (await this.#run(ADD_BELOW_SCRIPT, keys, args)) as [string, string, number];
    return { before: Number(reply[0]), after: Number(reply[1]), recorded: reply[2] === 1 };
  }

  async clear(key: string): Promise<void> {
    const keys = this.#windowKeys(requireKey(key));
    await this.#call('clear', () => this.#client().call('DEL', ...keys));
  }

  async admit(key: string, now: number, settings: BreakerSettings): Promise<BreakerAdmission> {
    const [hashKey] = this.#breakerKeys(requireKey(key));
    const checked = requireBreakerSettings(settings);
    const args = [this.#now(now), this.#uid(), String(checked.cooldownMs), String(this.#idleMs(checked))];
    const reply = (await this.#run(ADMIT_SCRIPT, [hashKey], args)) as [number, string, string, number];
    return toAdmission(reply);
  }

  async record(
    key: string,
    now: number,
    denied: boolean,
    probe: boolean,
    settings: BreakerSettings,
  ): Promise<BreakerRecord> {
    const keys = this.#breakerKeys(requireKey(key));
    const checked = requireBreakerSettings(settings);
    const args = [
      this.#now(now),
      this.#uid(),
      String(checked.threshold),
      String(checked.windowMs),
      String(checked.cooldownMs),
      String(this.#idleMs(checked)),
      denied === true ? '1' : '0',
      probe === true ? '1' : '0',
    ];
    const reply = (await this.#run(RECORD_SCRIPT, keys, args)) as [string, string, string];
    return { state: reply[0] as BreakerStateName, openUntil: Number(reply[1]), denials: Number(reply[2]) };
  }

  /**
   * Resolves true for the first consume of `nonce` across every process sharing this Redis (`SET NX`),
   * false afterwards. The entry expires `nonceGraceMs` after `expiresAt`.
   */
  async consume(nonce: string, expiresAt: number): Promise<boolean> {
    const key = `${this.#options.keyPrefix}nonce:${encodeCallerKey(requireNonce(nonce))}`;
    const args = [
      this.#now(Date.now()),
      this.#uid(),
      String(requireNonceExpiry(expiresAt)),
      String(this.#options.nonceGraceMs),
      String(MAX_NONCE_TTL_MS),
    ];
    return (await this.#run(CONSUME_SCRIPT, [key], args)) === 1;
  }

  /**
   * Rate-limit takes on several windows plus a breaker admission in ONE round trip and one atomic step:
   * either the breaker admits and every window has room, and then each window records one entry (and a
   * half-open breaker hands out its probe), or nothing is recorded.
   */
  async guardCheck(input: GuardCheckInput): Promise<GuardCheckResult> {
    if (typeof input !== 'object' || input === null || !Array.isArray(input.windows)) {
      throw new AgentSafeError('USAGE', 'RedisStore.guardCheck: pass { now, windows: [...] }', {
        issues: [{ path: 'windows', message: 'pass an array of { key, windowMs, limit }' }],
      });
    }
    requireInteger(input.windows.length, 'windows.length', 0, MAX_GUARD_WINDOWS);
    const breaker = input.breaker;
    const settings = breaker ? requireBreakerSettings(breaker.settings, 'breaker.settings') : undefined;
    const breakerKey = breaker ? this.#breakerKeys(requireKey(breaker.key, 'breaker.key'))[0] : this.#noneKey;
    const keys = [breakerKey];
    const args = [
      this.#now(input.now),
      this.#uid(),
      breaker ? '1' : '0',
      String(settings?.cooldownMs ?? 1),
      String(settings ? this.#idleMs(settings) : 1),
    ];
    const seen = new Set<string>();
    input.windows.forEach((window, index) => {
      const key = requireKey(window?.key, `windows[${index}].key`);
      if (seen.has(key)) {
        throw new AgentSafeError('USAGE', `RedisStore.guardCheck: window key "${key.slice(0, 80)}" repeats`, {
          issues: [{ path: `windows[${index}].key`, message: 'give each window a distinct key' }],
        });
      }
      seen.add(key);
      keys.push(this.#windowKeys(key)[0]);
      args.push(
        String(requireDuration(window.windowMs, `windows[${index}].windowMs`)),
        String(requireInteger(window.limit, `windows[${index}].limit`, 0, Number.MAX_SAFE_INTEGER)),
      );
    });
    const reply = (await this.#run(GUARD_CHECK_SCRIPT, keys, args)) as (number | string)[];
    const windows: WindowTake[] = [];
    for (let index = 5; index < reply.length; index += 3) {
      windows.push({
        allowed: reply[index] === 1,
        count: Number(reply[index + 1]),
        retryAfterMs: Number(reply[index + 2]),
      });
    }
    const admission = toAdmission(reply.slice(1, 5) as [number, string, string, number]);
    return { allowed: reply[0] === 1, windows, ...(breaker ? { breaker: admission } : {}) };
  }

  /**
   * Breaker admit, window take and weighted add of one check in ONE round trip and one atomic step, with
   * the semantics of {@link GuardStepStore}: a refused breaker stops everything, a refused window records
   * nothing and spends no probe, then the weights are added below their ceiling and, when `record` is
   * given, the decision is recorded on the breaker as `record` would (with the admission's probe). Keys
   * are those of `admit`, `take`, `addBelow` and `record`, so fused and separate calls share state.
   *
   * Concurrent steps share script runs: a lone step goes out on the next tick, while under load every
   * step queued while the runs were busy goes out in the next run (at most 128 per run). Each step still
   * sees exactly the state the steps before it in its run left (runs in flight on two connections reach
   * Redis in either order, as any concurrent requests may); sharing costs Redis one script call and Node
   * one command per run instead of per check, with no added wait when idle.
   */
  guardStep(input: GuardStepInput): Promise<GuardStepResult> {
    let step: PendingStep;
    try {
      step = this.#prepareStep(input);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#steps.length >= MAX_QUEUED_STEPS) {
      return Promise.reject(
        this.#failure(
          new Error(`${MAX_QUEUED_STEPS} guard steps are already waiting for Redis (overloaded)`),
          'guardStep',
        ),
      );
    }
    return new Promise((resolve, reject) => {
      step.resolve = resolve;
      step.reject = reject;
      this.#steps.push(step);
      this.#scheduleFlush();
    });
  }

  /** Validates a guard step and turns it into keys and a profile; throws USAGE for malformed input. */
  #prepareStep(input: GuardStepInput): PendingStep {
    if (typeof input !== 'object' || input === null) {
      throw new AgentSafeError('USAGE', 'RedisStore.guardStep: pass { now, breaker?, window?, weights? }', {
        issues: [{ path: 'input', message: 'pass an object' }],
      });
    }
    const { breaker, window, weights, record } = input;
    const now = this.#now(input.now);
    const step = new PendingStep(now, this.#noneKey);
    const profile = this.#profileScratch;
    profile.fill(0);
    if (breaker === undefined) {
      if (record !== undefined) {
        throw new AgentSafeError('USAGE', 'RedisStore.guardStep: record needs a breaker', {
          issues: [
            { path: 'record', message: 'pass breaker: { key, settings } with record, or omit record' },
          ],
        });
      }
    } else {
      const given = breaker?.settings;
      // Checked field by field below; a non-object throws here.
      const settings =
        typeof given === 'object' && given !== null
          ? given
          : requireBreakerSettings(given, 'breaker.settings');
      const threshold = requireInteger(settings.threshold, 'breaker.settings.threshold', 1, 1_000_000_000);
      const windowMs = requireDuration(settings.windowMs, 'breaker.settings.windowMs');
      const cooldownMs = requireDuration(settings.cooldownMs, 'breaker.settings.cooldownMs');
      const keys = this.#breakerKeys(requireKey(breaker.key, 'breaker.key'));
      step.breakerKey = keys[0];
      step.denialsKey = keys[1];
      step.hasBreaker = true;
      profile[0] = 1;
      profile[1] = cooldownMs;
      profile[2] = this.#idleMs(settings);
      profile[11] = threshold;
      profile[12] = windowMs;
      if (record !== undefined) {
        if (typeof record !== 'object' || record === null || typeof record.denied !== 'boolean') {
          throw new AgentSafeError('USAGE', 'RedisStore.guardStep: record must be { denied: boolean }', {
            issues: [{ path: 'record.denied', message: 'pass true for a DENY decision, false otherwise' }],
          });
        }
        profile[10] = record.denied ? 2 : 1;
      }
    }
    if (window !== undefined) {
      step.windowKey = this.#windowKeys(requireKey(window?.key, 'window.key'))[0];
      step.hasWindow = true;
      profile[3] = 1;
      profile[4] = requireDuration(window.windowMs, 'window.windowMs');
      profile[5] = requireInteger(window.limit, 'window.limit', 0, Number.MAX_SAFE_INTEGER);
    }
    if (weights !== undefined) {
      const key = requireKey(weights?.key, 'weights.key');
      // One zset would then hold both unit takes and weights, and the running sum would miss the takes.
      if (window !== undefined && key === window.key) {
        throw new AgentSafeError('USAGE', 'RedisStore.guardStep: weights.key must differ from window.key', {
          issues: [{ path: 'weights.key', message: 'namespace the keys, e.g. "rate-limit:" and "risk:"' }],
        });
      }
      const keys = this.#windowKeys(key);
      step.weightsKey = keys[0];
      step.sumKey = keys[1];
      step.hasWeights = true;
      profile[6] = 1;
      profile[7] = requireDuration(weights.windowMs, 'weights.windowMs');
      profile[8] = requireWeight(weights.weight, 'weights.weight');
      profile[9] = requireCeiling(weights.ceiling, 'weights.ceiling');
    }
    step.profile = this.#profileText(profile);
    return step;
  }

  /**
   * The text of a profile (see GUARD_STEPS_SCRIPT), from a small cache compared by value: the steps of
   * one process mostly share a handful of profiles, so this rarely formats numbers.
   */
  #profileText(profile: Float64Array): string {
    const cache = this.#profiles;
    search: for (const entry of cache) {
      const values = entry.values;
      for (let index = 0; index < values.length; index += 1) {
        if (!Object.is(values[index], profile[index])) continue search;
      }
      return entry.text;
    }
    const fields: string[] = [];
    profile.forEach((value, index) => {
      if (index === 9) fields.push(ceilingText(value));
      else fields.push(String(value));
    });
    const entry = { values: Float64Array.from(profile), text: fields.join(',') };
    if (cache.length >= PROFILE_CACHE_SIZE) cache.pop();
    cache.unshift(entry);
    return entry.text;
  }

  #scheduleFlush(): void {
    if (this.#flushQueued || this.#steps.length === 0 || !this.#running.includes(false)) return;
    this.#flushQueued = true;
    // After the current tick's promise jobs, so that every step they queue joins the same run.
    process.nextTick(this.#flush);
  }

  readonly #flush = (): void => {
    this.#flushQueued = false;
    let idle = 0;
    for (const running of this.#running) if (!running) idle += 1;
    // Shared among idle connections, so that Node prepares one run while Redis executes another.
    const share = Math.min(MAX_STEPS_PER_RUN, Math.ceil(this.#steps.length / Math.max(1, idle)));
    for (let index = 0; index < this.#clients.length && this.#steps.length > 0; index += 1) {
      if (this.#running[index]) continue;
      const batch = this.#steps.length <= share ? this.#steps : this.#steps.slice(0, share);
      this.#steps = batch === this.#steps ? [] : this.#steps.slice(share);
      void this.#sendSteps(index, batch);
    }
  };

  async #sendSteps(index: number, batch: readonly PendingStep[]): Promise<void> {
    this.#running[index] = true;
    const client = this.#clients[index]!;
    const server = this.#options.time === 'server';
    const profiles = new Map<string, string>();
    const keys: string[] = [];
    const values: string[] = [];
    for (const step of batch) {
      keys.push(step.breakerKey, step.windowKey, step.weightsKey, step.sumKey, step.denialsKey);
      let profile = profiles.get(step.profile);
      if (profile === undefined) {
        profile = String(profiles.size);
        profiles.set(step.profile, profile);
      }
      values.push(server ? profile : `${profile}:${step.now}`);
    }
    const args: string[] = ['0', this.#uid(), String(profiles.size)];
    for (const profile of profiles.keys()) args.push(profile);
    for (const value of values) args.push(value);
    let reply: string[];
    try {
      const joined = await this.#run(GUARD_STEPS_SCRIPT, keys, args, client);
      reply = typeof joined === 'string' ? joined.split(',') : [];
    } catch (error) {
      for (const step of batch) step.reject(error);
      return;
    } finally {
      this.#running[index] = false;
      this.#scheduleFlush();
    }
    if (reply.length !== batch.length * GUARD_STEP_REPLY) {
      const error = this.#failure(new Error('unexpected reply to guardStep'), 'guardStep');
      for (const step of batch) step.reject(error);
      return;
    }
    for (let position = 0; position < batch.length; position += 1) {
      const step = batch[position]!;
      const at = position * GUARD_STEP_REPLY;
      if (reply[at] === '-1') {
        const error = new Error(String(reply[at + 1]));
        error.name = 'ReplyError';
        step.reject(this.#failure(error, 'guardStep'));
      } else {
        step.resolve(stepResult(step, reply, at));
      }
    }
  }

  /** Closes the connection; later operations reject. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all(
      this.#clients.map(async (client) => {
        try {
          await client.quit();
        } catch {
          client.disconnect();
        }
      }),
    );
  }

  #client(): Redis {
    const clients = this.#clients;
    if (clients.length === 1) return clients[0]!;
    this.#next = (this.#next + 1) % clients.length;
    return clients[this.#next]!;
  }

  #now(now: number): string {
    return this.#options.time === 'server' ? '0' : String(requireFinite(now, 'now'));
  }

  #uid(): string {
    this.#uidCounter += 1;
    return this.#uidPrefix + this.#uidCounter.toString(36);
  }

  #idleMs(settings: BreakerSettings): number {
    return Math.min(
      MAX_DURATION_MS,
      Math.max(this.#options.breakerIdleMs, settings.windowMs, 2 * settings.cooldownMs),
    );
  }

  /** The window's sorted set and its running sum of weights (same hash tag, so one slot). */
  #windowKeys(key: string): readonly [string, string] {
    return this.#cachedKeys(this.#windowKeyCache, key, 'window', ':sum');
  }

  /** The breaker's hash and its denials. */
  #breakerKeys(key: string): readonly [string, string] {
    return this.#cachedKeys(this.#breakerKeyCache, key, 'breaker', ':denials');
  }

  #cachedKeys(
    cache: Map<string, readonly [string, string]>,
    key: string,
    kind: string,
    suffix: string,
  ): readonly [string, string] {
    let keys = cache.get(key);
    if (keys === undefined) {
      const base = `${this.#options.keyPrefix}${kind}:{${encodeCallerKey(key)}}`;
      keys = [base, `${base}${suffix}`];
      if (cache.size >= KEY_CACHE_SIZE) cache.clear();
      cache.set(key, keys);
    }
    return keys;
  }

  async #run(
    script: LuaScript,
    keys: readonly string[],
    args: readonly string[],
    on?: Redis,
  ): Promise<unknown> {
    const mode = this.#options.time;
    return this.#call(script.name, async () => {
      const client = on ?? this.#client();
      try {
        return await client.call('EVALSHA', script.sha, keys.length, ...keys, mode, ...args);
      } catch (error) {
        // A restarted or flushed server forgets loaded scripts; EVAL runs and caches the source again.
        if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
        return await client.call('EVAL', script.source, keys.length, ...keys, mode, ...args);
      }
    });
  }

  async #call<T>(operation: string, run: () => Promise<T>): Promise<T> {
    if (this.#closed) {
      throw new AgentSafeError('USAGE', `Redis store at ${this.#options.address} is closed`, {
        issues: [{ path: operation, message: 'connect a new RedisStore' }],
      });
    }
    try {
      return await run();
    } catch (error) {
      throw this.#failure(error, operation);
    }
  }

  #failure(error: unknown, operation: string): AgentSafeError {
    const reason = error instanceof Error ? error.message : String(error);
    const rejected = error instanceof Error && error.name === 'ReplyError';
    const message = rejected
      ? `Redis store at ${this.#options.address} rejected ${operation}: ${reason}`
      : `Redis store at ${this.#options.address} is unavailable: ${reason}`;
    return new AgentSafeError('INTERNAL', message, {
      cause: error,
      issues: [
        {
          path: operation,
          message: rejected
            ? 'check that the server is Redis 6.2 or later and not read-only'
            : `check that Redis is running and reachable at ${this.#options.address}`,
        },
      ],
      details: { store: 'redis', address: this.#options.address, operation },
    });
  }
}

/** A ceiling as the scripts read it: 'none' for Infinity, otherwise a finite number. */
function ceilingArgument(ceiling: number, path: string): string {
  return ceilingText(requireCeiling(ceiling, path));
}

function ceilingText(limit: number): string {
  return limit === Number.POSITIVE_INFINITY ? 'none' : String(Math.max(limit, -Number.MAX_VALUE));
}

/** The result of one step from its fields of a GUARD_STEPS_SCRIPT reply, starting at `at`. */
function stepResult(step: PendingStep, reply: readonly string[], at: number): GuardStepResult {
  const result: {
    breaker?: BreakerAdmission;
    window?: WindowTake;
    weights?: WindowAdd;
    record?: BreakerRecord;
  } = {};
  const admitted = reply[at] === '1';
  const allowed = admitted && reply[at + 4] === '1';
  if (step.hasBreaker) {
    result.breaker = {
      admitted,
      state: reply[at + 1] as BreakerStateName,
      openUntil: Number(reply[at + 2]),
      probe: reply[at + 3] === '1',
    };
  }
  if (step.hasWindow && admitted) {
    result.window = { allowed, count: Number(reply[at + 5]), retryAfterMs: Number(reply[at + 6]) };
  }
  if (step.hasWeights && allowed) {
    result.weights = {
      before: Number(reply[at + 7]),
      after: Number(reply[at + 8]),
      recorded: reply[at + 9] === '1',
    };
  }
  if (reply[at + 10] === '1') {
    result.record = {
      state: reply[at + 11] as BreakerStateName,
      openUntil: Number(reply[at + 12]),
      denials: Number(reply[at + 13]),
    };
  }
  return result;
}

function toAdmission(reply: readonly (number | string)[]): BreakerAdmission {
  return {
    admitted: Number(reply[0]) === 1,
    state: reply[1] as BreakerStateName,
    openUntil: Number(reply[2]),
    probe: Number(reply[3]) === 1,
  };
}

function createClients(options: RedisStoreOptions): { clients: Redis[]; resolved: ResolvedOptions } {
  if (typeof options !== 'object' || options === null) {
    throw new AgentSafeError('USAGE', 'RedisStore.connect: pass an options object', {
      issues: [{ path: 'options', message: 'pass { url } or { host, port }' }],
    });
  }
  const keyPrefix = options.keyPrefix ?? 'agent-safe:';
  if (typeof keyPrefix !== 'string' || keyPrefix.length > 100) {
    throw new AgentSafeError(
      'USAGE',
      'RedisStore.connect: keyPrefix must be a string of at most 100 characters',
      {
        issues: [{ path: 'keyPrefix', message: 'pass a short prefix such as "agent-safe:"' }],
      },
    );
  }
  const time = options.time ?? 'server';
  if (time !== 'server' && time !== 'client') {
    throw new AgentSafeError('USAGE', `RedisStore.connect: time must be 'server' or 'client'`, {
      issues: [
        { path: 'time', message: "use 'server' in production, 'client' for tests with a ManualClock" },
      ],
    });
  }
  const commandTimeoutMs = requireInteger(options.commandTimeoutMs ?? 250, 'commandTimeoutMs', 1, 600_000);
  const connectTimeoutMs = requireInteger(options.connectTimeoutMs ?? 1000, 'connectTimeoutMs', 1, 600_000);
  const nonceGraceMs = requireInteger(options.nonceGraceMs ?? 60_000, 'nonceGraceMs', 0, MAX_DURATION_MS);
  const breakerIdleMs = requireInteger(
    options.breakerIdleMs ?? 86_400_000,
    'breakerIdleMs',
    1,
    MAX_DURATION_MS,
  );
  const connections = requireInteger(options.connections ?? 1, 'connections', 1, MAX_CONNECTIONS);
  const clientOptions: RedisOptions = {
    lazyConnect: true,
    // Fail fast and closed: no queue of commands waiting for a connection, no retry of a command.
    enableOfflineQueue: false,
    // Measured: ioredis auto-pipelining raised the latency tail (p99 of 64 concurrent PINGs 5.8 ms with
    // it, 2.3 ms without) and lowered script throughput here; each command is written as it comes.
    enableAutoPipelining: false,
    maxRetriesPerRequest: 0,
    // A script that ran before the connection dropped must not run twice.
    autoResendUnfulfilledCommands: false,
    commandTimeout: commandTimeoutMs,
    connectTimeout: connectTimeoutMs,
  };
  let address: string;
  let create: (withOptions: RedisOptions) => Redis;
  if (options.url !== undefined) {
    let parsed: URL;
    try {
      parsed = new URL(options.url);
    } catch {
      parsed = new URL('invalid:');
    }
    if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
      throw new AgentSafeError('USAGE', 'RedisStore.connect: url must be redis://host:port or rediss://…', {
        issues: [{ path: 'url', message: 'pass e.g. redis://127.0.0.1:6379' }],
      });
    }
    address = `${parsed.hostname}:${parsed.port || DEFAULT_PORT}`;
    const url = options.url;
    create = (withOptions) => new Redis(url, withOptions);
  } else {
    const host = options.host ?? '127.0.0.1';
    const port = requireInteger(options.port ?? DEFAULT_PORT, 'port', 1, 65_535);
    if (typeof host !== 'string' || host.length === 0) {
      throw new AgentSafeError('USAGE', 'RedisStore.connect: host must be a non-empty string', {
        issues: [{ path: 'host', message: 'pass e.g. 127.0.0.1' }],
      });
    }
    address = `${host}:${port}`;
    create = (withOptions) => new Redis({ ...withOptions, host, port });
  }
  const clients = Array.from({ length: connections }, () => {
    let everReady = false;
    const client = create({
      ...clientOptions,
      // Reconnect with capped backoff once connected; a first connection that fails ends the client, so
      // a rejected `connect` leaves no timer behind.
      retryStrategy: (times) =>
        everReady ? Math.min(1000, 20 * 2 ** Math.min(times, 10)) + Math.floor(Math.random() * 50) : null,
    });
    // Failures surface through the rejected operations; an unhandled 'error' event would crash the process.
    client.on('error', () => {});
    client.once('ready', () => {
      everReady = true;
    });
    return client;
  });
  return { clients, resolved: { address, keyPrefix, time, nonceGraceMs, breakerIdleMs, connectTimeoutMs } };
}
