import {
  AgentSafeError,
  MAX_SUSPENSIONS,
  type SuspensionRecord,
  type SuspensionSnapshot,
  type SuspensionStore,
  checkSuspensionRecord,
  isSuspensionRecord,
} from '@agent-safe/core';
import type { Redis } from 'ioredis';
import { connectRedis, redactUrl } from './connect-redis.js';

/** Options of {@link RedisSuspensionStore.connect}. */
export interface RedisSuspensionStoreOptions {
  /** `redis://[user:password@]host:port[/db]` or `rediss://…`. */
  readonly url: string;
  /** Prefix of every key; default `agent-safe:`. */
  readonly keyPrefix?: string;
  /** An operation without a reply after this long rejects; default 1000. */
  readonly commandTimeoutMs?: number;
  /** `connect` gives up after this long; default 1000. */
  readonly connectTimeoutMs?: number;
}

// KEYS: hash, version. ARGV: agent id, record JSON, cap. Returns the new version, or -1 when full.
const SUSPEND_SCRIPT = `
if redis.call("HEXISTS", KEYS[1], ARGV[1]) == 0 and redis.call("HLEN", KEYS[1]) >= tonumber(ARGV[3]) then
  return -1
end
redis.call("HSET", KEYS[1], ARGV[1], ARGV[2])
return redis.call("INCR", KEYS[2])
`;

// KEYS: hash, version. ARGV: agent id. Returns the removed record's JSON, or false.
const RESUME_SCRIPT = `
local json = redis.call("HGET", KEYS[1], ARGV[1])
if not json then return false end
redis.call("HDEL", KEYS[1], ARGV[1])
redis.call("INCR", KEYS[2])
return json
`;

// KEYS: hash, version. The list and its version, read atomically.
const SNAPSHOT_SCRIPT = `
return {redis.call("GET", KEYS[2]) or "0", redis.call("HGETALL", KEYS[1])}
`;

interface Scripts {
  suspensionSuspend(...args: string[]): Promise<number>;
  suspensionResume(...args: string[]): Promise<string | null>;
  suspensionSnapshot(...args: string[]): Promise<[string, string[]]>;
}

/**
 * The kill switch's list in Redis, shared by every replica: a hash (agent id → record JSON) and a
 * version counter that every change increments in the same script. Replicas poll the counter (one GET)
 * and read the hash only when it moved, so a suspension reaches every replica within one refresh
 * interval. Suspensions never expire: they last until resumed.
 */
export class RedisSuspensionStore implements SuspensionStore {
  readonly name: string;
  readonly #redis: Redis;
  readonly #hashKey: string;
  readonly #versionKey: string;

  private constructor(redis: Redis, options: RedisSuspensionStoreOptions) {
    this.#redis = redis;
    const prefix = options.keyPrefix ?? 'agent-safe:';
    this.#hashKey = `${prefix}suspensions`;
    this.#versionKey = `${prefix}suspensions:version`;
    this.name = `the Redis suspension store at ${redactUrl(options.url)}`;
  }

  /** Connects; rejects (INTERNAL, naming the server without its password) when Redis cannot be reached. */
  static async connect(options: RedisSuspensionStoreOptions): Promise<RedisSuspensionStore> {
    const { redis } = await connectRedis(options.url, options, 'suspension store');
    redis.defineCommand('suspensionSuspend', { numberOfKeys: 2, lua: SUSPEND_SCRIPT });
    redis.defineCommand('suspensionResume', { numberOfKeys: 2, lua: RESUME_SCRIPT });
    redis.defineCommand('suspensionSnapshot', { numberOfKeys: 2, lua: SNAPSHOT_SCRIPT });
    return new RedisSuspensionStore(redis, options);
  }

  async suspend(record: SuspensionRecord): Promise<void> {
    const checked = checkSuspensionRecord(record);
    const version = await this.#call(() =>
      this.#scripts.suspensionSuspend(
        this.#hashKey,
        this.#versionKey,
        checked.agentId,
        JSON.stringify(checked),
        String(MAX_SUSPENSIONS),
      ),
    );
    if (Number(version) < 0) {
      throw new AgentSafeError('INPUT_INVALID', `${this.name} holds ${MAX_SUSPENSIONS} suspensions already`);
    }
  }

  async resume(agentId: string): Promise<SuspensionRecord | undefined> {
    if (typeof agentId !== 'string' || agentId === '') return undefined;
    const json = await this.#call(() =>
      this.#scripts.suspensionResume(this.#hashKey, this.#versionKey, agentId),
    );
    if (typeof json !== 'string') return undefined;
    return this.#parse(json);
  }

  async version(): Promise<number> {
    const value = await this.#call(() => this.#redis.get(this.#versionKey));
    return value === null ? 0 : this.#integer(value);
  }

  async snapshot(): Promise<SuspensionSnapshot> {
    const [version, flat] = await this.#call(() =>
      this.#scripts.suspensionSnapshot(this.#hashKey, this.#versionKey),
    );
    const records: SuspensionRecord[] = [];
    for (let index = 1; index < flat.length; index += 2) records.push(this.#parse(flat[index]!));
    return { version: this.#integer(version), records };
  }

  async close(): Promise<void> {
    // A connection that is down (reconnecting) is dropped at once: quit would wait for it.
    if (this.#redis.status !== 'ready') this.#redis.disconnect();
    else await this.#redis.quit().catch(() => this.#redis.disconnect());
  }

  get #scripts(): Scripts {
    return this.#redis as unknown as Scripts;
  }

  #parse(json: string): SuspensionRecord {
    let value: unknown;
    try {
      value = JSON.parse(json);
    } catch {
      value = undefined;
    }
    if (!isSuspensionRecord(value)) {
      throw new AgentSafeError('INTERNAL', `${this.name} holds a malformed suspension record`);
    }
    return value;
  }

  #integer(text: string): number {
    const value = Number(text);
    if (!Number.isSafeInteger(value)) {
      throw new AgentSafeError('INTERNAL', `${this.name} holds a malformed version counter`);
    }
    return value;
  }

  async #call<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      if (error instanceof AgentSafeError) throw error;
      throw new AgentSafeError('INTERNAL', `${this.name} could not be reached: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }
}
