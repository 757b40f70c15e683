// The issuer's rate limits: per identity, a compromised or looping workload cannot make the issuer
// sign without bound; per source address, a client presenting bogus tokens cannot make the issuer
// call TokenReview without bound. The buckets are lib/token-bucket.ts (one implementation for the
// operator, the issuer and the gateway); what is the issuer's own is the refusal, answered 429.
import { DeniedError } from "../../lib/errors.ts";

// Re-exported for bench/svid.bench.ts, which imports the buckets from here.
export { KeyedTokenBuckets } from "../../lib/token-bucket.ts";

/** A refusal answered 429 with Retry-After. */
export class RateLimitedError extends DeniedError {
  readonly retryAfterS: number;
  constructor(reason: string, message: string, retryAfterS: number) {
    super(reason, message);
    this.retryAfterS = retryAfterS;
  }
}
