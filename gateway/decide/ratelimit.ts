// Per-agent per-tool token buckets (lib/token-bucket.ts, each tool with its own limit) and
// concurrency caps. The gateway runs beside one agent, so the
// key is manifest/tool; state is in memory (a restart refills buckets, which is acceptable: the
// limits protect tool servers from runaway loops, not from a determined attacker who restarts pods).
import type { CompiledTool } from "../../api/v1alpha1/policy.ts";
import { KeyedTokenBuckets } from "../../lib/token-bucket.ts";

export class RateLimiter {
  readonly #buckets: KeyedTokenBuckets;
  readonly #inflight = new Map<string, number>();

  constructor(now: () => number = Date.now) {
    this.#buckets = new KeyedTokenBuckets({ now });
  }

  /** Takes one token; returns the refusal text when the bucket is empty. */
  take(key: string, limit: NonNullable<CompiledTool["rateLimit"]>): string | undefined {
    const waitS = this.#buckets.take(key, {
      ratePerSecond: limit.requests / limit.periodSeconds,
      burst: limit.burst,
    });
    if (waitS === 0) return undefined;
    return `rate limit ${limit.requests} per ${limit.periodSeconds}s (burst ${limit.burst}) exceeded; retry in ~${Math.ceil(waitS)}s`;
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
