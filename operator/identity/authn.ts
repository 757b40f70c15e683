// Authenticates the projected ServiceAccount token a workload presents, with the TokenReview API
// (audience: the issuer). Results are cached by token hash for the token's lifetime so a renewal
// costs no API call when the token was seen before; the pod check in authz runs every time.
import { createHash } from "node:crypto";
import type * as k8s from "@kubernetes/client-node";
import { DeniedError, UnavailableError } from "../../lib/errors.ts";

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

export class TokenReviewAuthenticator {
  readonly #api: k8s.AuthenticationV1Api;
  readonly #audience: string;
  readonly #maxCacheMs: number;
  readonly #now: () => number;
  readonly #cache = new Map<string, TokenIdentity>();
  reviews = 0;

  constructor(opts: {
    api: k8s.AuthenticationV1Api;
    audience: string;
    maxCacheMs?: number;
    now?: () => number;
  }) {
    this.#api = opts.api;
    this.#audience = opts.audience;
    this.#maxCacheMs = opts.maxCacheMs ?? 10 * 60_000;
    this.#now = opts.now ?? Date.now;
  }

  async authenticate(token: string): Promise<TokenIdentity> {
    if (!token)
      throw new DeniedError("MissingToken", "send Authorization: Bearer <projected ServiceAccount token>");
    if (token.length > MAX_TOKEN_BYTES) throw new DeniedError("TokenInvalid", "the token is too large");
    const now = this.#now();
    const key = createHash("sha256").update(token).digest("hex");
    const hit = this.#cache.get(key);
    if (hit && hit.expiresAt.getTime() > now) return hit;
    if (hit) this.#cache.delete(key);
    const exp = unverifiedExpiry(token);
    if (!exp || exp.getTime() <= now)
      throw new DeniedError("TokenInvalid", "the token has expired or has no exp; present a current token");
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
      throw new UnavailableError(`TokenReview failed: ${(err as Error).message}`);
    }
    const cacheUntil = new Date(Math.min(exp.getTime(), now + this.#maxCacheMs));
    const id = identityFromReview(status, this.#audience, cacheUntil);
    this.#sweep(now);
    this.#cache.set(key, id);
    return id;
  }

  #sweep(now: number): void {
    if (this.#cache.size < 10_000) return;
    for (const [k, v] of this.#cache) if (v.expiresAt.getTime() <= now) this.#cache.delete(k);
  }
}
