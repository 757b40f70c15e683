// A bounded map whose entries expire: the one cache of the operator, the issuer, the webhook and
// the gateway (verified tokens, TokenReview refusals, objects read from the API server). Both
// bounds matter: the TTL so what changed (a suspension, a token that became valid, a new
// AgentIdentity) is seen soon, the size so a flood of distinct keys (bogus tokens, namespaces)
// cannot grow memory without limit. Eviction is least-recently-used: a Map iterates in insertion
// order and a hit re-inserts its entry, so every operation is O(1).

export interface TtlCacheOptions {
  maxEntries: number;
  /** The longest an entry lives; `set` may give one less, never more. 0: nothing is kept. */
  ttlMs: number;
  /** Milliseconds. */
  now?: () => number;
}

export class TtlCache<V> {
  readonly #max: number;
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #entries = new Map<string, { value: V; until: number }>();

  constructor(opts: TtlCacheOptions) {
    if (!(opts.maxEntries >= 1) || !(opts.ttlMs >= 0))
      throw new Error("TtlCache needs maxEntries >= 1 and ttlMs >= 0");
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

  /** Stores `value` for the TTL, or for `ttlMs` when that is shorter (never longer). */
  set(key: string, value: V, ttlMs = this.#ttlMs): void {
    this.#entries.delete(key);
    const life = Math.min(ttlMs, this.#ttlMs);
    if (!(life > 0)) return; // already expired: nothing to keep
    while (this.#entries.size >= this.#max) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) break;
      this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, { value, until: this.#now() + life });
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }

  get size(): number {
    return this.#entries.size;
  }
}

/**
 * A TTL cache of asynchronous loads: concurrent callers for one key share a single load, and a
 * load that fails is forgotten at once (errors are never cached: the next caller tries again).
 */
export class TtlLoader<T> {
  readonly #cache: TtlCache<Promise<T>>;

  constructor(opts: TtlCacheOptions) {
    this.#cache = new TtlCache(opts);
  }

  get(key: string, load: () => Promise<T>): Promise<T> {
    const hit = this.#cache.get(key);
    if (hit) return hit;
    const value = load();
    this.#cache.set(key, value);
    value.catch(() => {
      // Only this load's entry: a newer one for the same key stays.
      if (this.#cache.get(key) === value) this.#cache.delete(key);
    });
    return value;
  }

  get size(): number {
    return this.#cache.size;
  }
}
