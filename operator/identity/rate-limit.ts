// Keyed token buckets: per identity, a compromised or looping workload cannot make the issuer sign
// without bound; per source address, a client presenting bogus tokens cannot make the issuer call
// TokenReview without bound. Idle buckets are dropped so memory follows the number of active keys.
import { DeniedError } from "../../lib/errors.ts";

/** A refusal answered 429 with Retry-After. */
export class RateLimitedError extends DeniedError {
  readonly retryAfterS: number;
  constructor(reason: string, message: string, retryAfterS: number) {
    super(reason, message);
    this.retryAfterS = retryAfterS;
  }
}

export interface TokenBucketOptions {
  /** Tokens added per second. */
  ratePerSecond: number;
  /** Bucket size (the burst allowed after idling). */
  burst: number;
  now?: () => number;
  /** Forget a key after this long without requests. */
  idleMs?: number;
}

export class KeyedTokenBuckets {
  readonly #opts: Required<TokenBucketOptions>;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  #lastSweep = 0;

  constructor(opts: TokenBucketOptions) {
    this.#opts = { now: () => Date.now(), idleMs: 10 * 60_000, ...opts };
  }

  /** Takes one token for `key`; returns 0 when allowed, else the seconds until one is available. */
  take(key: string): number {
    const now = this.#opts.now();
    this.#sweep(now);
    const b = this.#buckets.get(key) ?? { tokens: this.#opts.burst, at: now };
    b.tokens = Math.min(this.#opts.burst, b.tokens + ((now - b.at) / 1000) * this.#opts.ratePerSecond);
    b.at = now;
    this.#buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return (1 - b.tokens) / this.#opts.ratePerSecond;
  }

  /** Seconds until `key` has a token (0: one is available now), without taking one. */
  wait(key: string): number {
    const b = this.#buckets.get(key);
    if (!b) return 0;
    const tokens = Math.min(
      this.#opts.burst,
      b.tokens + ((this.#opts.now() - b.at) / 1000) * this.#opts.ratePerSecond,
    );
    return tokens >= 1 ? 0 : (1 - tokens) / this.#opts.ratePerSecond;
  }

  get size(): number {
    return this.#buckets.size;
  }

  #sweep(now: number): void {
    if (now - this.#lastSweep < this.#opts.idleMs) return;
    this.#lastSweep = now;
    for (const [k, b] of this.#buckets) if (now - b.at > this.#opts.idleMs) this.#buckets.delete(k);
  }
}
