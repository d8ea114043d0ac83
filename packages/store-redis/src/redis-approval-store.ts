import {
  APPROVAL_STATUSES,
  AgentSafeError,
  type ApprovalListFilter,
  type ApprovalRecord,
  type ApprovalStore,
} from '@agent-safe/core';
import type { Redis, RedisOptions } from 'ioredis';
import { connectRedis, redactUrl } from './connect-redis.js';

/** Options of {@link RedisApprovalStore.connect}. */
export interface RedisApprovalStoreOptions {
  /** `redis://[user:password@]host:port[/db]` or `rediss://…`. */
  readonly url: string;
  /** Prefix of every key; default `agent-safe:`. */
  readonly keyPrefix?: string;
  /** An operation without a reply after this long rejects; default 1000. */
  readonly commandTimeoutMs?: number;
  /** `connect` gives up after this long; default 1000. */
  readonly connectTimeoutMs?: number;
  /** Decided requests are kept this long after they can no longer change (default 7 days). */
  readonly retentionMs?: number;
}

const ID_PATTERN = /^apr-[0-9a-f]{32}$/;
const KEY_PATTERN = /^[0-9a-f]{64}$/;
const MAX_LIST = 10_000;
/** Largest record accepted back from Redis. */
const MAX_RECORD_BYTES = 1024 * 1024;

// KEYS: record, open pointer (or the record key again when not deduplicating), index.
// ARGV: record JSON, id, createdAt, dedupe ("1"/"0"), retention expiry (ms since epoch), record key prefix.
// Returns {1} when created, {0, json} when an open request for the same request exists.
const CREATE_SCRIPT = `
if ARGV[4] == "1" then
  local existing = redis.call("GET", KEYS[2])
  if existing then
    local json = redis.call("GET", ARGV[6] .. existing)
    if json then
      local status = cjson.decode(json).status
      if status == "pending" or status == "approved" or status == "used" then return {0, json} end
    end
  end
  redis.call("SET", KEYS[2], ARGV[2])
end
redis.call("SET", KEYS[1], ARGV[1], "PXAT", ARGV[5])
redis.call("ZADD", KEYS[3], ARGV[3], ARGV[2])
return {1}
`;

// KEYS: record. ARGV: expected current version, new JSON, channel, id, retention expiry.
const REPLACE_SCRIPT = `
local json = redis.call("GET", KEYS[1])
if not json then return 0 end
if tostring(cjson.decode(json).version) ~= ARGV[1] then return 0 end
redis.call("SET", KEYS[1], ARGV[2], "PXAT", ARGV[5])
redis.call("PUBLISH", ARGV[3], ARGV[4])
return 1
`;

// KEYS: open pointer. ARGV: id.
const RELEASE_SCRIPT = `
if redis.call("GET", KEYS[1]) == ARGV[1] then redis.call("DEL", KEYS[1]) end
return 1
`;

/**
 * Approval requests in Redis, shared by every replica: each record is a JSON string changed only by
 * atomic scripts (create-unless-open, compare-and-swap on `version`), a sorted set indexes them by
 * creation time, and every change is published on a channel so waiting agents wake at once (with a
 * fallback poll should a message be missed). Decided requests expire from Redis after `retentionMs`;
 * the audit log is the permanent record.
 */
export class RedisApprovalStore implements ApprovalStore {
  readonly name: string;
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #retentionMs: number;
  readonly #channel: string;
  readonly #options: RedisOptions;
  #subscriber: Promise<Redis> | undefined;
  readonly #waiters = new Map<string, Set<() => void>>();

  private constructor(redis: Redis, options: RedisApprovalStoreOptions, redisOptions: RedisOptions) {
    this.#redis = redis;
    this.#prefix = options.keyPrefix ?? 'agent-safe:';
    this.#retentionMs = options.retentionMs ?? 7 * 86_400_000;
    this.#channel = `${this.#prefix}approval-changed`;
    this.#options = redisOptions;
    this.name = `the Redis approval store at ${redactUrl(options.url)}`;
  }

  /** Connects; rejects (INTERNAL, naming the server without its password) when Redis cannot be reached. */
  static async connect(options: RedisApprovalStoreOptions): Promise<RedisApprovalStore> {
    const { redis, redisOptions } = await connectRedis(options.url, options, 'approval store');
    const store = new RedisApprovalStore(redis, options, redisOptions);
    redis.defineCommand('approvalCreate', { numberOfKeys: 3, lua: CREATE_SCRIPT });
    redis.defineCommand('approvalReplace', { numberOfKeys: 1, lua: REPLACE_SCRIPT });
    redis.defineCommand('approvalRelease', { numberOfKeys: 1, lua: RELEASE_SCRIPT });
    return store;
  }

  async get(id: string): Promise<ApprovalRecord | undefined> {
    if (!ID_PATTERN.test(id)) return undefined;
    const json = await this.#call(() => this.#redis.get(this.#recordKey(id)));
    return json === null ? undefined : this.#parse(json, id);
  }

  async create(record: ApprovalRecord, dedupeKey: string | undefined) {
    if (!ID_PATTERN.test(record.id))
      throw new AgentSafeError('INPUT_INVALID', 'approval ids are apr- and 32 hex digits');
    if (dedupeKey !== undefined) checkKey(dedupeKey);
    const json = JSON.stringify(record);
    const reply = (await this.#call(() =>
      (this.#redis as unknown as Scripts).approvalCreate(
        this.#recordKey(record.id),
        dedupeKey === undefined ? this.#recordKey(record.id) : this.#openKey(dedupeKey),
        this.#indexKey(),
        json,
        record.id,
        String(record.createdAt),
        dedupeKey === undefined ? '0' : '1',
        String(this.#expiry(record)),
        `${this.#prefix}approval:`,
      ),
    )) as [number, string?];
    if (reply[0] === 1) return { record, created: true };
    const existing = this.#parse(reply[1] ?? '', undefined);
    return { record: existing, created: false };
  }

  async findOpen(dedupeKey: string): Promise<ApprovalRecord | undefined> {
    checkKey(dedupeKey);
    const id = await this.#call(() => this.#redis.get(this.#openKey(dedupeKey)));
    if (id === null || !ID_PATTERN.test(id)) return undefined;
    const record = await this.get(id);
    return record && (record.status === 'pending' || record.status === 'approved' || record.status === 'used')
      ? record
      : undefined;
  }

  async releaseOpen(dedupeKey: string, id: string): Promise<void> {
    checkKey(dedupeKey);
    await this.#call(() => (this.#redis as unknown as Scripts).approvalRelease(this.#openKey(dedupeKey), id));
  }

  async replace(next: ApprovalRecord): Promise<boolean> {
    if (!ID_PATTERN.test(next.id)) return false;
    const reply = await this.#call(() =>
      (this.#redis as unknown as Scripts).approvalReplace(
        this.#recordKey(next.id),
        String(next.version - 1),
        JSON.stringify(next),
        this.#channel,
        next.id,
        String(this.#expiry(next)),
      ),
    );
    return reply === 1;
  }

  async list(filter: ApprovalListFilter = {}): Promise<ApprovalRecord[]> {
    const limit = filter.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST) {
      throw new AgentSafeError('USAGE', `limit must be a whole number from 1 to ${MAX_LIST}`);
    }
    const ids = await this.#call(() => this.#redis.zrevrange(this.#indexKey(), 0, MAX_LIST - 1));
    const records: ApprovalRecord[] = [];
    const gone: string[] = [];
    for (let start = 0; start < ids.length && records.length < limit; start += 100) {
      const batch = ids.slice(start, start + 100);
      const values = await this.#call(() => this.#redis.mget(batch.map((id) => this.#recordKey(id))));
      batch.forEach((id, index) => {
        const json = values[index];
        if (json === null || json === undefined) {
          gone.push(id);
          return;
        }
        const record = this.#parse(json, id);
        if (filter.status === undefined || record.status === filter.status) records.push(record);
      });
    }
    if (gone.length > 0)
      await this.#call(() => this.#redis.zrem(this.#indexKey(), ...gone)).catch(() => undefined);
    return records.slice(0, limit);
  }

  async waitForChange(id: string, version: number, options: { timeoutMs: number; signal?: AbortSignal }) {
    if (!ID_PATTERN.test(id)) return;
    await this.#subscribe().catch(() => undefined);
    await new Promise<void>((resolve) => {
      if (options.signal?.aborted) return resolve();
      let set = this.#waiters.get(id);
      if (!set) {
        set = new Set();
        this.#waiters.set(id, set);
      }
      const waiters = set;
      const check = () => {
        this.get(id).then(
          (record) => {
            if ((record?.version ?? 0) > version) finish();
          },
          () => finish(),
        );
      };
      const finish = () => {
        clearTimeout(timer);
        clearInterval(poll);
        options.signal?.removeEventListener('abort', finish);
        waiters.delete(check);
        if (waiters.size === 0) this.#waiters.delete(id);
        resolve();
      };
      const timer = setTimeout(finish, Math.max(0, options.timeoutMs));
      // Pub/sub is at most once: a slow poll covers a message lost to a reconnect.
      const poll = setInterval(check, 1000);
      options.signal?.addEventListener('abort', finish, { once: true });
      waiters.add(check);
      check();
    });
  }

  async close(): Promise<void> {
    for (const set of this.#waiters.values()) for (const wake of set) wake();
    const subscriber = await this.#subscriber?.catch(() => undefined);
    subscriber?.disconnect();
    await this.#redis.quit().catch(() => this.#redis.disconnect());
  }

  /** One subscriber connection, opened on the first wait. */
  #subscribe(): Promise<Redis> {
    if (!this.#subscriber) {
      const subscriber = this.#redis.duplicate({ ...this.#options, enableOfflineQueue: true });
      subscriber.on('error', () => undefined);
      subscriber.on('message', (_channel: string, id: string) => {
        const set = this.#waiters.get(id);
        if (set) for (const check of [...set]) check();
      });
      this.#subscriber = subscriber
        .connect()
        .then(() => subscriber.subscribe(this.#channel))
        .then(() => subscriber);
      this.#subscriber.catch(() => {
        this.#subscriber = undefined;
        subscriber.disconnect();
      });
    }
    return this.#subscriber;
  }

  #expiry(record: ApprovalRecord): number {
    const lastChange = Math.max(record.expiresAt, record.ticket?.expiresAt ?? 0, record.decidedAt ?? 0);
    return lastChange + this.#retentionMs;
  }

  #recordKey(id: string): string {
    return `${this.#prefix}approval:${id}`;
  }

  #openKey(dedupeKey: string): string {
    return `${this.#prefix}approval-open:${dedupeKey}`;
  }

  #indexKey(): string {
    return `${this.#prefix}approvals`;
  }

  #parse(json: string, id: string | undefined): ApprovalRecord {
    let record: unknown;
    try {
      if (json.length > MAX_RECORD_BYTES) throw new Error(`larger than ${MAX_RECORD_BYTES} bytes`);
      record = JSON.parse(json);
    } catch (error) {
      throw new AgentSafeError(
        'INTERNAL',
        `${this.name}: a stored approval request is corrupt: ${(error as Error).message}`,
      );
    }
    const candidate = record as Partial<ApprovalRecord> | null;
    if (
      candidate === null ||
      typeof candidate !== 'object' ||
      typeof candidate.id !== 'string' ||
      !ID_PATTERN.test(candidate.id) ||
      (id !== undefined && candidate.id !== id) ||
      !Number.isSafeInteger(candidate.version) ||
      !APPROVAL_STATUSES.includes(candidate.status as never)
    ) {
      throw new AgentSafeError('INTERNAL', `${this.name}: a stored approval request is not a valid record`);
    }
    return candidate as ApprovalRecord;
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

interface Scripts {
  approvalCreate(...args: string[]): Promise<unknown>;
  approvalReplace(...args: string[]): Promise<unknown>;
  approvalRelease(...args: string[]): Promise<unknown>;
}

function checkKey(key: string): void {
  if (!KEY_PATTERN.test(key)) throw new AgentSafeError('INPUT_INVALID', 'a dedupe key is 64 hex digits');
}
