// A bounded map whose entries expire: the issuer's negative TokenReview cache. Both bounds matter:
// the TTL so a token that becomes valid (or a transient refusal) is re-reviewed soon, the size so a
// flood of distinct bogus tokens cannot grow memory without limit. Eviction is least-recently-used
// (a Map iterates in insertion order; a hit re-inserts the entry), in O(1) per operation.
export class BoundedTTLCache<V> {
  readonly #max: number;
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #entries = new Map<string, { value: V; until: number }>();

  constructor(opts: { maxEntries: number; ttlMs: number; now?: () => number }) {
    if (!(opts.maxEntries >= 1) || !(opts.ttlMs > 0)) {
      throw new Error("BoundedTTLCache needs maxEntries >= 1 and ttlMs > 0");
    }
    this.#max = Math.floor(opts.maxEntries);
    this.#ttlMs = opts.ttlMs;
    this.#now = opts.now ?? Date.now;
  }

  get(key: string): V | undefined {
    const e = this.#entries.get(key);
    if (!e) return undefined;
    this.#entries.delete(key);
    if (e.until <= this.#now()) return undefined;
    this.#entries.set(key, e); // most recently used goes last; its expiry is unchanged
    return e.value;
  }

  /** Stores `value` for the TTL, or less if `ttlMs` is smaller (never longer). */
  set(key: string, value: V, ttlMs = this.#ttlMs): void {
    this.#entries.delete(key);
    while (this.#entries.size >= this.#max) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) break;
      this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, { value, until: this.#now() + Math.min(ttlMs, this.#ttlMs) });
  }

  get size(): number {
    return this.#entries.size;
  }
}
