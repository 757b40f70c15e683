// Per-agent per-tool token buckets and concurrency caps. The gateway runs beside one agent, so the
// key is manifest/tool; state is in memory (a restart refills buckets, which is acceptable: the
// limits protect tool servers from runaway loops, not from a determined attacker who restarts pods).
import type { CompiledTool } from "../../api/v1alpha1/policy.ts";

interface Bucket {
  tokens: number;
  updated: number;
}

export class RateLimiter {
  readonly #buckets = new Map<string, Bucket>();
  readonly #inflight = new Map<string, number>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** Takes one token; returns the refusal text when the bucket is empty. */
  take(key: string, limit: NonNullable<CompiledTool["rateLimit"]>): string | undefined {
    const now = this.#now();
    const rate = limit.requests / (limit.periodSeconds * 1000);
    let b = this.#buckets.get(key);
    if (!b) {
      b = { tokens: limit.burst, updated: now };
      this.#buckets.set(key, b);
    }
    b.tokens = Math.min(limit.burst, b.tokens + (now - b.updated) * rate);
    b.updated = now;
    if (b.tokens < 1) {
      const waitS = Math.ceil((1 - b.tokens) / rate / 1000);
      return `rate limit ${limit.requests} per ${limit.periodSeconds}s (burst ${limit.burst}) exceeded; retry in ~${waitS}s`;
    }
    b.tokens -= 1;
    return undefined;
  }

  /** Reserves a concurrency slot; the returned release must be called exactly once. */
  acquire(key: string, max: number | undefined): { release: () => void } | string {
    const n = this.#inflight.get(key) ?? 0;
    if (max !== undefined && n >= max) return `at most ${max} concurrent calls allowed`;
    this.#inflight.set(key, n + 1);
    let done = false;
    return {
      release: () => {
        if (done) return;
        done = true;
        const left = (this.#inflight.get(key) ?? 1) - 1;
        if (left <= 0) this.#inflight.delete(key);
        else this.#inflight.set(key, left);
      },
    };
  }
}
