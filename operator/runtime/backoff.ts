// Exponential backoff with a cap and optional jitter: shared by the work queue (per-key retries)
// and the informer (re-watch after an error).

export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
  /** Fraction of random spread, e.g. 0.1 for ±10%; 0 for exact values (tests). */
  jitter?: number;
}

/** Delay before retry number `attempt` (0-based): base·2^attempt, capped, jittered. */
export function backoffDelay(
  attempt: number,
  opts: BackoffOptions,
  random: () => number = Math.random,
): number {
  const exp = opts.baseMs * 2 ** Math.min(attempt, 52);
  const capped = Math.min(opts.maxMs, exp);
  const j = opts.jitter ?? 0;
  if (j <= 0) return capped;
  return Math.max(0, Math.round(capped * (1 - j + 2 * j * random())));
}
