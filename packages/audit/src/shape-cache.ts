/**
 * Remembers what was computed for an object's key list (as `Object.keys` returns it), so that objects of
 * the same shape — audit bodies and their nested objects come in a handful of shapes — skip sorting and
 * quoting their keys. Lookups compare the key lists element by element (interned strings, so mostly
 * pointer comparisons). A bounded number of shapes is kept, replaced round-robin, and long key lists or
 * long keys are never kept, so hostile input can only make the cache miss, not grow, hold on to large
 * strings or slow down.
 */
export class ShapeCache<T> {
  readonly #build: (keys: readonly string[]) => T;
  readonly #keys: (readonly string[])[] = [];
  readonly #values: T[] = [];
  readonly #slots: number;
  readonly #maxKeys: number;
  #next = 0;

  /** Key lists with more keys, or more characters in all, are computed each time. */
  static readonly MAX_KEY_CHARACTERS = 2048;

  constructor(build: (keys: readonly string[]) => T, options: { slots: number; maxKeys: number }) {
    this.#build = build;
    this.#slots = options.slots;
    this.#maxKeys = options.maxKeys;
  }

  /** The value for this key list, computed now if the shape is not cached. */
  get(keys: readonly string[]): T {
    const count = keys.length;
    if (count > this.#maxKeys) return this.#build(keys);
    const known = this.#keys;
    search: for (let slot = 0; slot < known.length; slot++) {
      const candidate = known[slot]!;
      if (candidate.length !== count) continue;
      for (let index = 0; index < count; index++) {
        if (candidate[index] !== keys[index]) continue search;
      }
      return this.#values[slot]!;
    }
    const value = this.#build(keys);
    let characters = 0;
    for (let index = 0; index < count; index++) characters += keys[index]!.length;
    if (characters > ShapeCache.MAX_KEY_CHARACTERS) return value;
    known[this.#next] = keys.slice();
    this.#values[this.#next] = value;
    this.#next = (this.#next + 1) % this.#slots;
    return value;
  }
}
