// A token bucket: `qps` tokens per second refill up to `burst`. Every API call the operator makes
// waits for a token first (client-go's default of 5/10 is far too low for thousands of agents;
// DESIGN.md §4: throughput is bounded by API writes, so the bound must be explicit and tunable).

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realClock: Clock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};

export class TokenBucket {
  readonly qps: number;
  readonly burst: number;
  private tokens: number;
  private last: number;
  private readonly clock: Clock;
  /** Reservations already handed out beyond the current tokens, so concurrent waiters queue fairly. */
  constructor(qps: number, burst: number, clock: Clock = realClock) {
    if (!(qps > 0) || !Number.isFinite(qps)) throw new Error(`qps must be a positive number, got ${qps}`);
    if (!Number.isInteger(burst) || burst < 1) throw new Error(`burst must be an integer >= 1, got ${burst}`);
    this.qps = qps;
    this.burst = burst;
    this.tokens = burst;
    this.clock = clock;
    this.last = clock.now();
  }

  private refill(): void {
    const now = this.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.qps);
    this.last = now;
  }

  /** Takes a token now if one is there. */
  tryTake(): boolean {
    this.refill();
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    return false;
  }

  /**
   * Reserves a token and resolves when it is due. Tokens may go negative: each waiter reserves
   * its slot at once, so N concurrent callers are spread 1/qps apart instead of stampeding.
   */
  async take(): Promise<void> {
    this.refill();
    this.tokens -= 1;
    if (this.tokens >= 0) return;
    const waitMs = (-this.tokens / this.qps) * 1000;
    await this.clock.sleep(waitMs);
  }

  /** Milliseconds until a token would be available (0 when one is). */
  delayMs(): number {
    this.refill();
    return this.tokens >= 1 ? 0 : ((1 - this.tokens) / this.qps) * 1000;
  }
}
