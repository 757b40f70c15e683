// Token buckets: the one rate-limit primitive of the operator, the issuer and the gateway. A bucket
// holds up to `burst` tokens and gains `ratePerSecond` of them continuously; an action takes one.
// TokenBucket is a single bucket that can also reserve a future token and wait for it (the
// operator's API client spreads concurrent callers 1/qps apart instead of stampeding);
// KeyedTokenBuckets is one bucket per key, each refused at once when empty (the issuer per
// identity and per source address, the gateway per ToolManifest/tool with each tool's own limit).

export interface BucketLimit {
  /** Tokens added per second (> 0). */
  ratePerSecond: number;
  /** The most tokens the bucket holds: the burst allowed after idling (≥ 1). */
  burst: number;
}

export interface Clock {
  /** Milliseconds, monotonic enough for rate limiting. */
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realClock: Clock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};

/** Throws naming the field when a limit cannot work (no refill, or a bucket too small for one call). */
export function checkLimit(limit: BucketLimit): void {
  if (!(limit.ratePerSecond > 0) || !Number.isFinite(limit.ratePerSecond))
    throw new Error(`ratePerSecond (qps) must be a positive number, got ${limit.ratePerSecond}`);
  if (!(limit.burst >= 1) || !Number.isFinite(limit.burst))
    throw new Error(`burst must be a number >= 1, got ${limit.burst}`);
}

/** The tokens of a bucket that had `tokens` `elapsedMs` ago. Pure. */
export function refilled(tokens: number, elapsedMs: number, limit: BucketLimit): number {
  return Math.min(limit.burst, tokens + (Math.max(0, elapsedMs) / 1000) * limit.ratePerSecond);
}

/** Seconds until a bucket holding `tokens` has one whole token (0 when it has). Pure. */
export function secondsUntilToken(tokens: number, limit: BucketLimit): number {
  return tokens >= 1 ? 0 : (1 - tokens) / limit.ratePerSecond;
}

export class TokenBucket {
  readonly qps: number;
  readonly burst: number;
  readonly #limit: BucketLimit;
  readonly #clock: Clock;
  #tokens: number;
  #at: number;

  constructor(qps: number, burst: number, clock: Clock = realClock) {
    if (!Number.isInteger(burst) || burst < 1) throw new Error(`burst must be an integer >= 1, got ${burst}`);
    this.#limit = { ratePerSecond: qps, burst };
    checkLimit(this.#limit);
    this.qps = qps;
    this.burst = burst;
    this.#clock = clock;
    this.#tokens = burst;
    this.#at = clock.now();
  }

  #refill(): void {
    const now = this.#clock.now();
    this.#tokens = refilled(this.#tokens, now - this.#at, this.#limit);
    this.#at = now;
  }

  /** Takes a token now if one is there. */
  tryTake(): boolean {
    this.#refill();
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /**
   * Reserves a token and resolves when it is due. Tokens may go negative: each waiter reserves its
   * slot at once, so N concurrent callers are spread 1/qps apart.
   */
  async take(): Promise<void> {
    this.#refill();
    this.#tokens -= 1;
    if (this.#tokens >= 0) return;
    await this.#clock.sleep((-this.#tokens / this.qps) * 1000);
  }

  /** Milliseconds until a token would be available (0 when one is). */
  delayMs(): number {
    this.#refill();
    return secondsUntilToken(this.#tokens, this.#limit) * 1000;
  }
}

export interface KeyedTokenBucketsOptions {
  /** The limit of every key that is not given one per call. */
  limit?: BucketLimit;
  /** Milliseconds. */
  now?: () => number;
  /** How often full buckets are dropped (a full bucket is the same as none). Default 10 minutes. */
  sweepEveryMs?: number;
}

interface KeyedBucket {
  tokens: number;
  at: number;
  limit: BucketLimit;
}

export class KeyedTokenBuckets {
  readonly #default: BucketLimit | undefined;
  readonly #now: () => number;
  readonly #sweepEveryMs: number;
  readonly #buckets = new Map<string, KeyedBucket>();
  #lastSweep: number;

  /** `{ratePerSecond, burst}` as the default limit, or options. */
  constructor(opts: (BucketLimit & { now?: () => number; idleMs?: number }) | KeyedTokenBucketsOptions) {
    const legacy = "ratePerSecond" in opts;
    this.#default = legacy ? { ratePerSecond: opts.ratePerSecond, burst: opts.burst } : opts.limit;
    if (this.#default) checkLimit(this.#default);
    this.#now = opts.now ?? Date.now;
    this.#sweepEveryMs = (legacy ? opts.idleMs : opts.sweepEveryMs) ?? 10 * 60_000;
    this.#lastSweep = this.#now();
  }

  #limitOf(limit: BucketLimit | undefined): BucketLimit {
    const l = limit ?? this.#default;
    if (!l) throw new Error("KeyedTokenBuckets: no limit given and no default limit set");
    return l;
  }

  /** Takes one token for `key`; 0 when allowed, else the seconds until one is available. */
  take(key: string, limit?: BucketLimit): number {
    const l = this.#limitOf(limit);
    const now = this.#now();
    this.#sweep(now);
    let b = this.#buckets.get(key);
    if (!b) {
      b = { tokens: l.burst, at: now, limit: l };
      this.#buckets.set(key, b);
    }
    b.tokens = refilled(b.tokens, now - b.at, l);
    b.at = now;
    b.limit = l;
    if (b.tokens < 1) return secondsUntilToken(b.tokens, l);
    b.tokens -= 1;
    return 0;
  }

  /** Seconds until `key` has a token (0: one is available now), without taking one. */
  wait(key: string, limit?: BucketLimit): number {
    const b = this.#buckets.get(key);
    if (!b) return 0;
    const l = limit ?? b.limit;
    return secondsUntilToken(refilled(b.tokens, this.#now() - b.at, l), l);
  }

  get size(): number {
    return this.#buckets.size;
  }

  /** Drops the buckets that have refilled to full: they carry no state, so memory follows activity. */
  #sweep(now: number): void {
    if (now - this.#lastSweep < this.#sweepEveryMs) return;
    this.#lastSweep = now;
    for (const [k, b] of this.#buckets)
      if (refilled(b.tokens, now - b.at, b.limit) >= b.limit.burst) this.#buckets.delete(k);
  }
}
