/** Counters of a {@link VerificationCache}. */
export interface VerificationCacheStats {
  readonly hits: number;
  readonly misses: number;
  readonly size: number;
  /** Entries dropped because the cache was full. */
  readonly evictions: number;
}

/** Options of {@link VerificationCache}. */
export interface VerificationCacheOptions {
  /** Most entries kept; 0 disables the cache. */
  readonly maxEntries?: number;
  /** Most token characters kept in total, so 10k large delegated tokens cannot exhaust memory. */
  readonly maxCharacters?: number;
}

interface Entry<T> {
  readonly value: T;
  readonly deadline: number;
}

/**
 * Remembers tokens that verified, keyed by the exact token string, until a deadline (ms since the
 * epoch, taken from the token's `exp`). Bounded: when full, the oldest entry goes first (Map keeps
 * insertion order). Failures are never stored, so a bad token is re-checked every time.
 */
export class VerificationCache<T> {
  readonly #entries = new Map<string, Entry<T>>();
  readonly #maxEntries: number;
  readonly #maxCharacters: number;
  #characters = 0;
  #hits = 0;
  #misses = 0;
  #evictions = 0;

  constructor(options: VerificationCacheOptions = {}) {
    this.#maxEntries = Math.max(0, Math.floor(options.maxEntries ?? 10_000));
    this.#maxCharacters = Math.max(0, Math.floor(options.maxCharacters ?? 32 * 1024 * 1024));
  }

  /** The cached value, or undefined when absent or past its deadline at `now` (the entry is then dropped). */
  get(token: string, now: number): T | undefined {
    const entry = this.#entries.get(token);
    if (entry === undefined) {
      this.#misses += 1;
      return undefined;
    }
    if (!(now < entry.deadline)) {
      this.#delete(token);
      this.#misses += 1;
      return undefined;
    }
    this.#hits += 1;
    return entry.value;
  }

  set(token: string, value: T, deadline: number): void {
    if (this.#maxEntries === 0 || token.length > this.#maxCharacters) return;
    if (this.#entries.has(token)) this.#delete(token);
    while (
      this.#entries.size > 0 &&
      (this.#entries.size >= this.#maxEntries || this.#characters + token.length > this.#maxCharacters)
    ) {
      const oldest = this.#entries.keys().next().value as string;
      this.#delete(oldest);
      this.#evictions += 1;
    }
    this.#entries.set(token, { value, deadline });
    this.#characters += token.length;
  }

  clear(): void {
    this.#entries.clear();
    this.#characters = 0;
  }

  stats(): VerificationCacheStats {
    return { hits: this.#hits, misses: this.#misses, size: this.#entries.size, evictions: this.#evictions };
  }

  #delete(token: string): void {
    if (this.#entries.delete(token)) this.#characters -= token.length;
  }
}
