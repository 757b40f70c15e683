// Authenticates the projected ServiceAccount token a workload presents, with the TokenReview API
// (audience: the issuer). Results are cached by token hash for the token's lifetime so a renewal
// costs no API call when the token was seen before; the pod check in authz runs every time.
// Refusals are cached too, briefly and in a bounded LRU, and each source address may fail only at a
// limited rate before TokenReview is no longer called for it: a flood of bogus tokens costs the API
// server at most (sources × failure rate) reviews, not one per request.
import { createHash } from "node:crypto";
import type * as k8s from "@kubernetes/client-node";
import type { Counter } from "prom-client";
import { DeniedError, UnavailableError } from "../../lib/errors.ts";
import { KeyedTokenBuckets } from "../../lib/token-bucket.ts";
import { TtlCache } from "../../lib/ttl-cache.ts";
import { RateLimitedError } from "./rate-limit.ts";

export const POD_NAME_EXTRA = "authentication.kubernetes.io/pod-name";
export const POD_UID_EXTRA = "authentication.kubernetes.io/pod-uid";
const SA_PREFIX = "system:serviceaccount:";

export interface TokenIdentity {
  namespace: string;
  serviceAccount: string;
  podName: string;
  podUID: string;
  /** When the token (and so this authentication) expires. */
  expiresAt: Date;
}

/** Reasons that mean "who are you?" (401) rather than "you may not" (403). */
export const AUTHN_REASONS = new Set([
  "MissingToken",
  "TokenInvalid",
  "TokenWrongAudience",
  "TokenNotServiceAccount",
  "TokenNotBoundToPod",
]);

/** Pure: what a TokenReview status says about the caller, or why it is refused. */
export function identityFromReview(
  status: k8s.V1TokenReviewStatus | undefined,
  audience: string,
  tokenExp: Date,
): TokenIdentity {
  if (!status?.authenticated) {
    throw new DeniedError(
      "TokenInvalid",
      `the token was not accepted by the API server${status?.error ? ` (${status.error})` : ""}; present a current projected ServiceAccount token`,
    );
  }
  if (!status.audiences?.includes(audience)) {
    throw new DeniedError(
      "TokenWrongAudience",
      `the token's audience must be ${audience}; project the token with that audience`,
    );
  }
  const username = status.user?.username ?? "";
  if (!username.startsWith(SA_PREFIX)) {
    throw new DeniedError("TokenNotServiceAccount", "only ServiceAccount tokens are accepted");
  }
  const [namespace, serviceAccount, ...rest] = username.slice(SA_PREFIX.length).split(":");
  if (!namespace || !serviceAccount || rest.length > 0) {
    throw new DeniedError("TokenNotServiceAccount", "the token's user is not a well-formed ServiceAccount");
  }
  const podName = status.user?.extra?.[POD_NAME_EXTRA]?.[0];
  const podUID = status.user?.extra?.[POD_UID_EXTRA]?.[0];
  if (!podName || !podUID) {
    throw new DeniedError(
      "TokenNotBoundToPod",
      "the token is not bound to a pod; use a projected ServiceAccount token volume (or TokenRequest with boundObjectRef kind Pod)",
    );
  }
  return { namespace, serviceAccount, podName, podUID, expiresAt: tokenExp };
}

/** exp of a JWT, read without verification (only to bound the cache; TokenReview verifies). */
export function unverifiedExpiry(token: string): Date | undefined {
  const payload = token.split(".")[1];
  if (!payload) return undefined;
  try {
    const exp = (JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as { exp?: unknown }).exp;
    return typeof exp === "number" && Number.isFinite(exp) ? new Date(exp * 1000) : undefined;
  } catch {
    return undefined;
  }
}

export const MAX_TOKEN_BYTES = 16 * 1024;

export const NEGATIVE_CACHE_TTL_MS = 10_000;
export const NEGATIVE_CACHE_MAX_ENTRIES = 10_000;
/** Reviewed tokens kept: several per agent pod at 5,000 agents; beyond, the least recently used go. */
export const POSITIVE_CACHE_MAX_ENTRIES = 50_000;
/** Failed authentications allowed per source address: a burst, then this many per second. */
export const AUTH_FAILURES_PER_SECOND = 1;
export const AUTH_FAILURES_BURST = 20;

export interface TokenReviewAuthenticatorOptions {
  api: Pick<k8s.AuthenticationV1Api, "createTokenReview">;
  audience: string;
  /** Longest a success is cached (never past the token's exp). */
  maxCacheMs?: number;
  /** How long a refusal is cached (never past the token's exp). */
  negativeTtlMs?: number;
  negativeMaxEntries?: number;
  failuresPerSecond?: number;
  failuresBurst?: number;
  /** warden_issuer_authn_cache_total{result}: no per-agent labels. */
  cacheMetric?: Counter<"result">;
  now?: () => number;
}

export class TokenReviewAuthenticator {
  readonly #api: Pick<k8s.AuthenticationV1Api, "createTokenReview">;
  readonly #audience: string;
  readonly #maxCacheMs: number;
  readonly #now: () => number;
  /** Reviewed tokens by sha256, until they expire (capped at maxCacheMs). */
  readonly #cache: TtlCache<TokenIdentity>;
  readonly #negative: TtlCache<{ reason: string; message: string }>;
  readonly #failures: KeyedTokenBuckets;
  readonly #metric: Counter<"result"> | undefined;
  reviews = 0;

  constructor(opts: TokenReviewAuthenticatorOptions) {
    this.#api = opts.api;
    this.#audience = opts.audience;
    this.#maxCacheMs = opts.maxCacheMs ?? 10 * 60_000;
    this.#now = opts.now ?? Date.now;
    this.#cache = new TtlCache({
      maxEntries: POSITIVE_CACHE_MAX_ENTRIES,
      ttlMs: this.#maxCacheMs,
      now: this.#now,
    });
    this.#negative = new TtlCache({
      maxEntries: opts.negativeMaxEntries ?? NEGATIVE_CACHE_MAX_ENTRIES,
      ttlMs: opts.negativeTtlMs ?? NEGATIVE_CACHE_TTL_MS,
      now: this.#now,
    });
    const ratePerSecond = opts.failuresPerSecond ?? AUTH_FAILURES_PER_SECOND;
    const burst = opts.failuresBurst ?? AUTH_FAILURES_BURST;
    this.#failures = new KeyedTokenBuckets({
      ratePerSecond,
      burst,
      now: this.#now,
      // A bucket idle long enough to have refilled carries no state worth keeping.
      idleMs: Math.max(60_000, (burst / ratePerSecond) * 1000),
    });
    this.#metric = opts.cacheMetric;
  }

  /** Number of cached refusals (bounded by negativeMaxEntries). */
  get negativeCacheSize(): number {
    return this.#negative.size;
  }

  /** `source`: the caller's address, the key of the failed-authentication rate limit. */
  async authenticate(token: string, source = "unknown"): Promise<TokenIdentity> {
    if (!token)
      throw new DeniedError("MissingToken", "send Authorization: Bearer <projected ServiceAccount token>");
    if (token.length > MAX_TOKEN_BYTES) throw new DeniedError("TokenInvalid", "the token is too large");
    const now = this.#now();
    const key = createHash("sha256").update(token).digest("hex");
    const hit = this.#cache.get(key);
    if (hit) {
      this.#metric?.inc({ result: "hit" });
      return hit;
    }
    const refused = this.#negative.get(key);
    if (refused) {
      this.#metric?.inc({ result: "negative_hit" });
      this.#failures.take(source);
      throw new DeniedError(refused.reason, refused.message);
    }
    const exp = unverifiedExpiry(token);
    if (!exp || exp.getTime() <= now)
      throw new DeniedError("TokenInvalid", "the token has expired or has no exp; present a current token");
    this.#metric?.inc({ result: "miss" });
    // Checked before the API call: a source that keeps failing stops costing TokenReviews.
    const wait = this.#failures.wait(source);
    if (wait > 0) {
      throw new RateLimitedError(
        "AuthFailuresRateLimited",
        `too many failed token authentications from this address; present a current projected ServiceAccount token with audience ${this.#audience} and retry in ${Math.ceil(wait)}s`,
        wait,
      );
    }
    let status: k8s.V1TokenReviewStatus | undefined;
    try {
      this.reviews++;
      const review = await this.#api.createTokenReview({
        body: {
          apiVersion: "authentication.k8s.io/v1",
          kind: "TokenReview",
          spec: { token, audiences: [this.#audience] },
        },
      });
      status = review.status;
    } catch (err) {
      // Not cached and not counted against the source: the API server failed, not the caller.
      throw new UnavailableError(`TokenReview failed: ${(err as Error).message}`);
    }
    const cacheUntil = new Date(Math.min(exp.getTime(), now + this.#maxCacheMs));
    let id: TokenIdentity;
    try {
      id = identityFromReview(status, this.#audience, cacheUntil);
    } catch (err) {
      if (err instanceof DeniedError) {
        this.#negative.set(key, { reason: err.reason, message: err.message }, exp.getTime() - now);
        this.#failures.take(source);
      }
      throw err;
    }
    this.#cache.set(key, id, cacheUntil.getTime() - now);
    return id;
  }
}
