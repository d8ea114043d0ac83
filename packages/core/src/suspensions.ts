import { AgentSafeError } from './errors.js';
import { isSafeId } from './ids.js';

/**
 * The kill switch's state: which agents are suspended. A suspended agent, and every agent whose
 * verified delegation chain contains it, is denied on every check, its pending approval requests are
 * denied and its execution tickets fail validation (docs/server.md, "Kill switch").
 */

/** One suspension. */
export interface SuspensionRecord {
  /** The suspended agent. */
  readonly agentId: string;
  /** Who suspended it (the admin's agent id, or the CLI user). */
  readonly by: string;
  /** Why (free text, at most {@link MAX_SUSPENSION_REASON_LENGTH} characters). */
  readonly reason: string;
  /** When, in milliseconds since the epoch. */
  readonly at: number;
}

/** The list of suspensions and its version, read together. */
export interface SuspensionSnapshot {
  /** Changes on every suspend and resume; a reader that saw the same version has the same list. */
  readonly version: number;
  readonly records: readonly SuspensionRecord[];
}

/**
 * Where suspensions live, shared by every process and replica that decides (memory: this process; a
 * file directory: one machine; Redis: every replica). Readers poll `version()` (one cheap round trip)
 * and read `snapshot()` only when it moved. A store that cannot answer rejects: callers fail closed.
 */
export interface SuspensionStore {
  /** Human-readable name for errors ("the Redis suspension store at …"). */
  readonly name: string;
  /** Suspends the agent (replacing an earlier suspension of it, so the latest reason and time win). */
  suspend(record: SuspensionRecord): Promise<void>;
  /** Lifts the suspension; resolves to the record removed, or undefined when it was not suspended. */
  resume(agentId: string): Promise<SuspensionRecord | undefined>;
  /** The current version (a counter that grows on every change). */
  version(): Promise<number>;
  /** Every suspension with the version it belongs to. */
  snapshot(): Promise<SuspensionSnapshot>;
  close(): Promise<void>;
}

/** Longest suspension reason kept. */
export const MAX_SUSPENSION_REASON_LENGTH = 1000;
/** Most suspensions a store holds (a bound on what every replica reads). */
export const MAX_SUSPENSIONS = 10_000;

/**
 * Checks a suspension before it is stored: a safe agent id and `by`, a reason of bounded length without
 * control characters, a finite time. Throws INPUT_INVALID naming the field.
 */
export function checkSuspensionRecord(record: SuspensionRecord): SuspensionRecord {
  const fail = (path: string, message: string): never => {
    throw new AgentSafeError('INPUT_INVALID', `suspension ${path}: ${message}`, {
      issues: [{ path, message }],
    });
  };
  if (record === null || typeof record !== 'object') fail('record', 'expected { agentId, by, reason, at }');
  if (typeof record.agentId !== 'string' || !isSafeId(record.agentId))
    fail('agentId', 'expected an agent id (1-512 characters, no control characters)');
  if (typeof record.by !== 'string' || !isSafeId(record.by))
    fail('by', 'expected the agent id of whoever suspends (1-512 characters, no control characters)');
  if (typeof record.reason !== 'string') fail('reason', 'expected a string');
  if (record.reason.length > MAX_SUSPENSION_REASON_LENGTH)
    fail('reason', `longer than ${MAX_SUSPENSION_REASON_LENGTH} characters`);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (/[\u0000-\u001f\u007f]/.test(record.reason)) fail('reason', 'contains control characters');
  if (typeof record.at !== 'number' || !Number.isFinite(record.at) || record.at < 0)
    fail('at', 'expected milliseconds since the epoch');
  return { agentId: record.agentId, by: record.by, reason: record.reason, at: record.at };
}

/** Whether a value read back from a store is a well-formed suspension record. */
export function isSuspensionRecord(value: unknown): value is SuspensionRecord {
  if (value === null || typeof value !== 'object') return false;
  const record = value as Record<string, unknown>;
  return (
    typeof record.agentId === 'string' &&
    isSafeId(record.agentId) &&
    typeof record.by === 'string' &&
    typeof record.reason === 'string' &&
    record.reason.length <= MAX_SUSPENSION_REASON_LENGTH &&
    typeof record.at === 'number' &&
    Number.isFinite(record.at)
  );
}

/** Suspensions in this process only (the default `store: memory`): nothing outside it sees them. */
export class MemorySuspensionStore implements SuspensionStore {
  readonly name = 'the in-process suspension list';
  readonly #records = new Map<string, SuspensionRecord>();
  #version = 0;

  async suspend(record: SuspensionRecord): Promise<void> {
    const checked = checkSuspensionRecord(record);
    if (!this.#records.has(checked.agentId) && this.#records.size >= MAX_SUSPENSIONS) {
      throw new AgentSafeError('INPUT_INVALID', `${this.name} holds ${MAX_SUSPENSIONS} suspensions already`);
    }
    this.#records.set(checked.agentId, checked);
    this.#version++;
  }

  async resume(agentId: string): Promise<SuspensionRecord | undefined> {
    const record = this.#records.get(agentId);
    if (record === undefined) return undefined;
    this.#records.delete(agentId);
    this.#version++;
    return record;
  }

  /** The agent's suspension, read synchronously (the facade's hot path reads this store directly). */
  peek(agentId: string): SuspensionRecord | undefined {
    return this.#records.get(agentId);
  }

  /** How many agents are suspended. */
  get size(): number {
    return this.#records.size;
  }

  async version(): Promise<number> {
    return this.#version;
  }

  async snapshot(): Promise<SuspensionSnapshot> {
    return { version: this.#version, records: [...this.#records.values()] };
  }

  async close(): Promise<void> {}
}
