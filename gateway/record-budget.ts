// How many unauthenticated events get a record of their own. Anyone who can open a TCP connection
// to the inbound gateway can fail a TLS handshake on purpose; writing a log line and a synced audit
// record for each would let them fill the audit volume and bury real records. So such refusals are
// always counted (metrics), and recorded one by one only within a token-bucket budget; the next
// record written says how many were counted but not recorded since the one before, so the audit
// trail still accounts for every refusal.
import { type Clock, realClock, TokenBucket } from "../lib/token-bucket.ts";

/** Records per second, and the burst, for TLS refusals of the inbound gateway. */
export const TLS_REFUSAL_RECORDS = { ratePerSecond: 5, burst: 50 } as const;

export class RecordBudget {
  readonly #bucket: TokenBucket;
  #unrecorded = 0;

  constructor(limit: { ratePerSecond: number; burst: number }, clock: Clock = realClock) {
    this.#bucket = new TokenBucket(limit.ratePerSecond, limit.burst, clock);
  }

  /**
   * One event happened. Returns undefined when it is only counted, or, when it is to be recorded,
   * how many events before it were counted without a record since the last recorded one.
   */
  admit(): number | undefined {
    if (!this.#bucket.tryTake()) {
      this.#unrecorded++;
      return undefined;
    }
    const before = this.#unrecorded;
    this.#unrecorded = 0;
    return before;
  }

  /** Events counted but not yet accounted for by any record. */
  get pending(): number {
    return this.#unrecorded;
  }
}
