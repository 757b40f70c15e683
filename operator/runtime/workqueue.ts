// A rate-limited work queue in the shape of client-go's: a key is queued at most once, a key being
// processed is never handed to a second worker (a change during processing marks it dirty and it is
// queued again when done), failed keys come back after a per-key exponential backoff, and all
// retries share one global token bucket so that a storm of failures cannot flood the API server.

import { TokenBucket } from "../../lib/token-bucket.ts";
import { type BackoffOptions, backoffDelay } from "./backoff.ts";

/**
 * Node's setTimeout holds at most 2^31−1 ms (~24.8 days); a longer delay is replaced by 1 ms with
 * a TimeoutOverflowWarning. A reconcile that asks to look again in 115 days (an exemption far in
 * the future) would then run again at once, forever: a hot loop. Longer delays are armed in
 * steps of at most this much and re-armed until they are due.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** The clock and timer the queue uses (injectable so the long-delay path is tested without waiting). */
export interface QueueTimers {
  now(): number;
  setTimeout(fn: () => void, ms: number): NodeJS.Timeout;
  clearTimeout(t: NodeJS.Timeout): void;
}

const realTimers: QueueTimers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (t) => clearTimeout(t),
};

export interface WorkQueueOptions {
  backoff?: BackoffOptions;
  timers?: QueueTimers;
  /** Global rate of rate-limited re-adds (retries). */
  retryQPS?: number;
  retryBurst?: number;
}

export class WorkQueue {
  private readonly items: string[] = [];
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly waiters: ((key: string | undefined) => void)[] = [];
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly failures = new Map<string, number>();
  private readonly backoff: BackoffOptions;
  private readonly retryBucket: TokenBucket;
  private shuttingDown = false;
  private readonly clock: QueueTimers;

  constructor(opts: WorkQueueOptions = {}) {
    this.clock = opts.timers ?? realTimers;
    this.backoff = opts.backoff ?? { baseMs: 100, maxMs: 120_000, jitter: 0.1 };
    this.retryBucket = new TokenBucket(opts.retryQPS ?? 10, opts.retryBurst ?? 100);
  }

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (this.processing.has(key)) return;
    const waiter = this.waiters.shift();
    if (waiter) {
      this.dirty.delete(key);
      this.processing.add(key);
      waiter(key);
      return;
    }
    this.items.push(key);
  }

  /** Adds the key after `ms`; an earlier pending add for the same key wins. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const at = this.clock.now() + ms;
    const pending = this.timers.get(key);
    if (pending && pending.at <= at) return;
    if (pending) this.clock.clearTimeout(pending.timer);
    this.arm(key, at);
  }

  /** Arms the timer for `key` due at `at`, in steps no longer than MAX_TIMER_MS. */
  private arm(key: string, at: number): void {
    const wait = Math.min(Math.max(at - this.clock.now(), 0), MAX_TIMER_MS);
    const timer = this.clock.setTimeout(() => {
      if (this.shuttingDown) return;
      if (this.clock.now() < at) {
        this.arm(key, at);
        return;
      }
      this.timers.delete(key);
      this.add(key);
    }, wait);
    timer.unref?.();
    this.timers.set(key, { at, timer });
  }

  /** Re-adds a failed key after its own exponential backoff (or the global retry rate, if later). */
  addRateLimited(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    const delay = Math.max(backoffDelay(n, this.backoff), this.retryBucket.delayMs());
    this.retryBucket.tryTake();
    this.addAfter(key, delay);
    return delay;
  }

  /** The key succeeded: its next failure starts the backoff from the base again. */
  forget(key: string): void {
    this.failures.delete(key);
  }

  failuresOf(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** Next key to process, or undefined once the queue is shut down. Call done(key) after. */
  get(): Promise<string | undefined> {
    if (this.shuttingDown) return Promise.resolve(undefined);
    const key = this.items.shift();
    if (key !== undefined) {
      this.dirty.delete(key);
      this.processing.add(key);
      return Promise.resolve(key);
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key) && !this.shuttingDown) {
      this.dirty.delete(key);
      this.add(key);
    }
  }

  /** Keys waiting to be processed (the queue-depth metric). */
  len(): number {
    return this.items.length;
  }

  /** Keys waiting on a timer (requeueAfter or backoff). */
  delayed(): number {
    return this.timers.size;
  }

  shutDown(): void {
    this.shuttingDown = true;
    for (const { timer } of this.timers.values()) this.clock.clearTimeout(timer);
    this.timers.clear();
    for (const w of this.waiters.splice(0)) w(undefined);
  }
}

export interface ReconcileResult {
  /** Look again after this many milliseconds (level-triggered "requeueAfter"). */
  requeueAfterMs?: number;
}

/**
 * Runs `concurrency` workers over the queue until it shuts down. A thrown error re-adds the key
 * with backoff; a result with requeueAfterMs schedules the next look. Resolves when all workers
 * have finished their current key.
 */
export async function runWorkers(
  queue: WorkQueue,
  concurrency: number,
  handle: (key: string) => Promise<ReconcileResult | undefined>,
  onError: (key: string, err: unknown, retryInMs: number) => void,
): Promise<void> {
  const worker = async () => {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      try {
        const result = await handle(key);
        queue.forget(key);
        if (result?.requeueAfterMs !== undefined) queue.addAfter(key, result.requeueAfterMs);
      } catch (err) {
        onError(key, err, queue.addRateLimited(key));
      } finally {
        queue.done(key);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}
