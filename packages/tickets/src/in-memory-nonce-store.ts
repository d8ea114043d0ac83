import { AgentSafeError, type Clock, type NonceStore, systemClock } from '@agent-safe/core';
import { assertNonceInput } from './nonce-input.js';
import { requireIntegerInRange } from './validate-options.js';

/** Options of {@link InMemoryNonceStore}. */
export interface InMemoryNonceStoreOptions {
  readonly clock?: Clock;
  /** Most live nonces held; beyond it `consume` throws (fail closed). Default 1,000,000. */
  readonly maxEntries?: number;
  /** Least time between sweeps of expired nonces; default 10,000 ms. */
  readonly pruneIntervalMs?: number;
}

/**
 * Single-use nonces for one process. `consume` checks and records in one synchronous step, so
 * concurrent validations in this process cannot both win. Expired nonces are swept at most once per
 * interval (amortised O(1) per consume), so memory is bounded by the tickets still alive.
 */
export class InMemoryNonceStore implements NonceStore {
  readonly #entries = new Map<string, number>();
  readonly #clock: Clock;
  readonly #maxEntries: number;
  readonly #pruneIntervalMs: number;
  #nextPruneAt = Number.NEGATIVE_INFINITY;
  #lastPruneAt = Number.NEGATIVE_INFINITY;

  constructor(options: InMemoryNonceStoreOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#maxEntries = requireIntegerInRange(options.maxEntries ?? 1_000_000, 'maxEntries', 1, 100_000_000);
    this.#pruneIntervalMs = requireIntegerInRange(
      options.pruneIntervalMs ?? 10_000,
      'pruneIntervalMs',
      0,
      86_400_000,
    );
  }

  /** Number of nonces currently held (expired ones included until the next sweep). */
  get size(): number {
    return this.#entries.size;
  }

  /** Resolves true the first time `nonce` is seen, false afterwards; throws when the store is full. */
  async consume(nonce: string, expiresAt: number): Promise<boolean> {
    assertNonceInput(nonce, expiresAt);
    const now = this.#clock.now();
    // When full, sweep at most once a second: a flood of consumes must not turn into a flood of sweeps.
    const full = this.#entries.size >= this.#maxEntries;
    if (now >= this.#nextPruneAt || (full && now >= this.#lastPruneAt + 1000)) {
      this.prune(now);
    }
    // An expired entry not yet swept still counts as used: forgetting is optional, accepting twice is not.
    if (this.#entries.has(nonce)) return false;
    if (this.#entries.size >= this.#maxEntries) {
      throw new AgentSafeError(
        'INTERNAL',
        `The in-memory nonce store is full (${this.#maxEntries} live nonces)`,
        {
          issues: [
            {
              path: 'maxEntries',
              message: 'raise maxEntries, shorten ticket lifetimes, or use a shared store',
            },
          ],
        },
      );
    }
    this.#entries.set(nonce, expiresAt);
    return true;
  }

  /** Forgets nonces whose expiry has passed; returns how many were removed. */
  prune(now: number = this.#clock.now()): number {
    let removed = 0;
    for (const [nonce, expiresAt] of this.#entries) {
      if (expiresAt <= now) {
        this.#entries.delete(nonce);
        removed += 1;
      }
    }
    this.#lastPruneAt = now;
    this.#nextPruneAt = now + this.#pruneIntervalMs;
    return removed;
  }

  async close(): Promise<void> {
    this.#entries.clear();
  }
}
