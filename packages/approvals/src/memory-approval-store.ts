import type { ApprovalListFilter, ApprovalRecord, ApprovalStore } from '@agent-safe/core';
import { isOpen, listFilter, waitWithTimeout } from './store-helpers.js';

/**
 * Approval requests in this process's memory: for tests and single-process hosts. Every other process
 * sees nothing of them; use the file store (one machine) or Redis (many) when approvers use the CLI.
 */
export class MemoryApprovalStore implements ApprovalStore {
  readonly name = 'the in-memory approval store';
  readonly #records = new Map<string, ApprovalRecord>();
  readonly #open = new Map<string, string>();
  readonly #waiters = new Map<string, Set<() => void>>();

  async get(id: string): Promise<ApprovalRecord | undefined> {
    return this.#records.get(id);
  }

  async create(record: ApprovalRecord, dedupeKey: string | undefined) {
    if (dedupeKey !== undefined) {
      const existing = await this.findOpen(dedupeKey);
      if (existing) return { record: existing, created: false };
      this.#open.set(dedupeKey, record.id);
    }
    this.#records.set(record.id, record);
    return { record, created: true };
  }

  async findOpen(dedupeKey: string): Promise<ApprovalRecord | undefined> {
    const id = this.#open.get(dedupeKey);
    const record = id === undefined ? undefined : this.#records.get(id);
    if (record && isOpen(record)) return record;
    if (id !== undefined) this.#open.delete(dedupeKey);
    return undefined;
  }

  async releaseOpen(dedupeKey: string, id: string): Promise<void> {
    if (this.#open.get(dedupeKey) === id) this.#open.delete(dedupeKey);
  }

  async replace(next: ApprovalRecord): Promise<boolean> {
    const current = this.#records.get(next.id);
    if (!current || current.version !== next.version - 1) return false;
    this.#records.set(next.id, next);
    for (const wake of this.#waiters.get(next.id) ?? []) wake();
    return true;
  }

  async list(filter: ApprovalListFilter = {}): Promise<ApprovalRecord[]> {
    return listFilter([...this.#records.values()], filter);
  }

  waitForChange(
    id: string,
    version: number,
    options: { timeoutMs: number; signal?: AbortSignal },
  ): Promise<void> {
    if ((this.#records.get(id)?.version ?? 0) > version) return Promise.resolve();
    return waitWithTimeout(options, (wake) => {
      let set = this.#waiters.get(id);
      if (!set) {
        set = new Set();
        this.#waiters.set(id, set);
      }
      set.add(wake);
      return () => {
        set.delete(wake);
        if (set.size === 0) this.#waiters.delete(id);
      };
    });
  }

  async close(): Promise<void> {
    for (const set of this.#waiters.values()) for (const wake of set) wake();
    this.#waiters.clear();
  }
}
