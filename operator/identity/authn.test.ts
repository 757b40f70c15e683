// The authenticator's caches and failure rate limit, against a fake TokenReview API that counts
// calls (the TokenReview rules themselves are in rules.test.ts; the real API in
// test/integration/issuer.test.ts). The 429 is checked end to end through the HTTPS issuer.
import * as https from "node:https";
import type * as k8s from "@kubernetes/client-node";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { DeniedError, UnavailableError } from "../../lib/errors.ts";
import { createRootCA } from "../../lib/identity/ca.ts";
import { createLogger } from "../../lib/log.ts";
import { KeyedTokenBuckets } from "../../lib/token-bucket.ts";
import { POD_NAME_EXTRA, POD_UID_EXTRA, TokenReviewAuthenticator } from "./authn.ts";
import { Authority } from "./authority.ts";
import { startIssuerServer } from "./issuer-server.ts";
import { identityMetrics } from "./metrics.ts";
import { RateLimitedError } from "./rate-limit.ts";

const AUD = "warden.dev/issuer";
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
/** A JWT-shaped token with an exp (the authenticator reads exp unverified; TokenReview verifies). */
const tok = (name: string, expS = Math.floor(Date.now() / 1000) + 3600) =>
  `${b64({ alg: "RS256" })}.${b64({ exp: expS, jti: name })}.c2ln`;

/** A TokenReview API that accepts only `valid` tokens and counts every call. */
function fakeTokenReview(valid: Set<string>, opts: { fail?: () => boolean } = {}) {
  const counter = { calls: 0 };
  const api: Pick<k8s.AuthenticationV1Api, "createTokenReview"> = {
    createTokenReview: async (req: { body: k8s.V1TokenReview }) => {
      counter.calls++;
      if (opts.fail?.()) throw new Error("connect ECONNREFUSED");
      const token = req.body.spec.token ?? "";
      if (!valid.has(token))
        return { ...req.body, status: { authenticated: false, error: "invalid bearer token" } };
      return {
        ...req.body,
        status: {
          authenticated: true,
          audiences: [AUD],
          user: {
            username: "system:serviceaccount:ns1:bot",
            extra: { [POD_NAME_EXTRA]: ["bot-pod"], [POD_UID_EXTRA]: ["uid-1"] },
          },
        },
      };
    },
  } as Pick<k8s.AuthenticationV1Api, "createTokenReview">;
  return { api, counter };
}

async function refusal(p: Promise<unknown>): Promise<DeniedError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DeniedError);
  return err as DeniedError;
}

describe("TokenReview negative cache", () => {
  it("N repeats of the same bad token cost one TokenReview", async () => {
    const { api, counter } = fakeTokenReview(new Set());
    const registry = new Registry();
    const a = new TokenReviewAuthenticator({
      api,
      audience: AUD,
      failuresBurst: 1000,
      cacheMetric: identityMetrics(registry).authnCache,
    });
    const bad = tok("bogus");
    for (let i = 0; i < 50; i++) {
      expect((await refusal(a.authenticate(bad, "10.0.0.1"))).reason).toBe("TokenInvalid");
    }
    expect(counter.calls).toBe(1);
    const text = await registry.metrics();
    expect(text).toMatch(/warden_issuer_authn_cache_total\{result="miss"\} 1\n/);
    expect(text).toMatch(/warden_issuer_authn_cache_total\{result="negative_hit"\} 49\n/);
    // No per-agent or per-source label values.
    expect(text).not.toMatch(/10\.0\.0\.1|bot|bogus/);
  });

  it("never grows beyond its bound, evicting the least recently used refusal", async () => {
    const { api, counter } = fakeTokenReview(new Set());
    const a = new TokenReviewAuthenticator({
      api,
      audience: AUD,
      negativeMaxEntries: 100,
      failuresBurst: 10_000,
    });
    let maxSize = 0;
    for (let i = 0; i < 1000; i++) {
      await refusal(a.authenticate(tok(`bad-${i}`), "10.0.0.2"));
      maxSize = Math.max(maxSize, a.negativeCacheSize);
    }
    expect(counter.calls).toBe(1000);
    expect(maxSize).toBe(100);
    expect(a.negativeCacheSize).toBe(100);
    // The newest refusal is still cached; the oldest was evicted and is reviewed again.
    await refusal(a.authenticate(tok("bad-999"), "10.0.0.2"));
    expect(counter.calls).toBe(1000);
    await refusal(a.authenticate(tok("bad-0"), "10.0.0.2"));
    expect(counter.calls).toBe(1001);
  });

  it("forgets a refusal after its TTL", async () => {
    let now = Date.now();
    const { api, counter } = fakeTokenReview(new Set());
    const a = new TokenReviewAuthenticator({ api, audience: AUD, negativeTtlMs: 10_000, now: () => now });
    const bad = tok("bad");
    await refusal(a.authenticate(bad, "s"));
    now += 9_999;
    await refusal(a.authenticate(bad, "s"));
    expect(counter.calls).toBe(1);
    now += 2;
    await refusal(a.authenticate(bad, "s"));
    expect(counter.calls).toBe(2);
  });

  it("does not shadow a valid token with an earlier failure of a different token", async () => {
    const good = tok("good");
    const valid = new Set<string>();
    const { api, counter } = fakeTokenReview(valid);
    const a = new TokenReviewAuthenticator({ api, audience: AUD });
    await refusal(a.authenticate(tok("bad"), "10.0.0.3"));
    valid.add(good);
    const id = await a.authenticate(good, "10.0.0.3");
    expect(id).toMatchObject({ namespace: "ns1", serviceAccount: "bot", podName: "bot-pod" });
    expect(counter.calls).toBe(2);
    // And the success is cached as before.
    await a.authenticate(good, "10.0.0.3");
    expect(counter.calls).toBe(2);
  });

  it("does not cache a TokenReview outage (503, retried next time)", async () => {
    let down = true;
    const good = tok("good");
    const { api, counter } = fakeTokenReview(new Set([good]), { fail: () => down });
    const a = new TokenReviewAuthenticator({ api, audience: AUD, failuresBurst: 1 });
    for (let i = 0; i < 3; i++)
      await expect(a.authenticate(good, "s")).rejects.toBeInstanceOf(UnavailableError);
    expect(counter.calls).toBe(3);
    expect(a.negativeCacheSize).toBe(0);
    down = false;
    await expect(a.authenticate(good, "s")).resolves.toMatchObject({ serviceAccount: "bot" });
  });
});

describe("per-source failed-authentication limit", () => {
  it("after a burst of failures, refuses 429 without calling TokenReview; other sources unaffected; refills", async () => {
    let now = Date.now();
    const { api, counter } = fakeTokenReview(new Set());
    const a = new TokenReviewAuthenticator({
      api,
      audience: AUD,
      failuresBurst: 3,
      failuresPerSecond: 1,
      now: () => now,
    });
    for (let i = 0; i < 3; i++) await refusal(a.authenticate(tok(`flood-${i}`), "10.9.9.9"));
    expect(counter.calls).toBe(3);
    for (let i = 3; i < 100; i++) {
      const err = await refusal(a.authenticate(tok(`flood-${i}`), "10.9.9.9"));
      expect(err).toBeInstanceOf(RateLimitedError);
      expect(err.reason).toBe("AuthFailuresRateLimited");
      expect(err.message).toMatch(/failed token authentications from this address.*retry in 1s/);
    }
    expect(counter.calls).toBe(3);
    await refusal(a.authenticate(tok("other"), "10.1.1.1"));
    expect(counter.calls).toBe(4);
    now += 1000;
    expect((await refusal(a.authenticate(tok("later"), "10.9.9.9"))).reason).toBe("TokenInvalid");
    expect(counter.calls).toBe(5);
  });

  it("answers the flood 429 AuthFailuresRateLimited with Retry-After through the HTTPS issuer", async () => {
    const { api, counter } = fakeTokenReview(new Set());
    const authn = new TokenReviewAuthenticator({
      api,
      audience: AUD,
      failuresBurst: 2,
      failuresPerSecond: 0.1,
    });
    const authority = new Authority();
    const ca = await createRootCA({ trustDomain: "example.org", ttlMs: 3600_000 });
    await authority.set({ active: ca, trusted: [ca.cert], sequence: 1 });
    const server = await startIssuerServer(
      {
        authority,
        authenticate: (t, source) => authn.authenticate(t, source),
        authorize: async () => {
          throw new DeniedError("PodNotAgent", "unreachable in this test");
        },
        rateLimit: new KeyedTokenBuckets({ ratePerSecond: 1, burst: 1 }),
        metrics: identityMetrics(new Registry()),
        log: createLogger("test", { level: "error" }),
      },
      { host: "127.0.0.1", port: 0 },
    );
    try {
      const post = (token: string) =>
        new Promise<{ status: number; retryAfter?: string; json: { error?: string } }>((resolve, reject) => {
          const req = https.request(
            new URL("/v1/x509-svid", server.url),
            {
              method: "POST",
              ca: authority.bundlePem(),
              headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
            },
            (res) => {
              let d = "";
              res.on("data", (c: Buffer) => {
                d += c.toString();
              });
              res.on("end", () =>
                resolve({
                  status: res.statusCode ?? 0,
                  retryAfter: res.headers["retry-after"],
                  json: JSON.parse(d),
                }),
              );
            },
          );
          req.on("error", reject);
          req.end("{}");
        });
      expect((await post(tok("x1"))).status).toBe(401);
      expect((await post(tok("x2"))).status).toBe(401);
      const r = await post(tok("x3"));
      expect(r).toMatchObject({ status: 429, json: { error: "AuthFailuresRateLimited" } });
      expect(Number(r.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(counter.calls).toBe(2);
    } finally {
      await server.close();
    }
  });
});
