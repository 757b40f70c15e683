// Pure rules of the identity services: durations/TTL caps, token buckets, TokenReview reading,
// pod/identity/tool-server checks, CA rotation planning.
import type * as k8s from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { DeniedError } from "../../lib/errors.ts";
import { createRootCA } from "../../lib/identity/ca.ts";
import { identityFromReview, unverifiedExpiry } from "./authn.ts";
import { checkIdentity, checkPod, checkToolServer, type IdentityView } from "./authz.ts";
import { activatePending, decodeCASet, encodeCASet, planRotation, trustedCAs } from "./ca-secret.ts";
import { effectiveTTLms, parseDuration } from "./duration.ts";

const reason = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(DeniedError);
    return (e as DeniedError).reason;
  }
  throw new Error("expected a refusal");
};

describe("durations and TTL", () => {
  it("parses Go durations", () => {
    expect(parseDuration("90s")).toBe(90_000);
    expect(parseDuration("1h30m")).toBe(5_400_000);
    expect(parseDuration("1.5h")).toBe(5_400_000);
    expect(parseDuration("250ms")).toBe(250);
    expect(() => parseDuration("15 minutes", "spec.svid.ttl")).toThrow(/spec.svid.ttl/);
  });
  it("caps the identity TTL by the enclave and the test override", () => {
    expect(effectiveTTLms({})).toBe(15 * 60_000);
    expect(effectiveTTLms({ identityTTL: "2h", enclaveMaxTTL: "1h" })).toBe(3_600_000);
    expect(effectiveTTLms({ identityTTL: "10m", enclaveMaxTTL: "1h", override: "30s" })).toBe(30_000);
  });
  it("caps by the cluster-wide --svid-max-ttl too, after the enclave", () => {
    expect(effectiveTTLms({ identityTTL: "2h", enclaveMaxTTL: "3h", clusterMaxTTL: "1h" })).toBe(3_600_000);
    expect(effectiveTTLms({ identityTTL: "2h", enclaveMaxTTL: "1h", clusterMaxTTL: "24h" })).toBe(3_600_000);
    expect(effectiveTTLms({ clusterMaxTTL: "10m" })).toBe(10 * 60_000);
    expect(effectiveTTLms({ clusterMaxTTL: "10m", override: "30s" })).toBe(30_000);
    expect(() => effectiveTTLms({ clusterMaxTTL: "ten minutes" })).toThrow(/svid.maxTTL/);
  });
});

const tok = {
  namespace: "ns1",
  serviceAccount: "bot",
  podName: "p",
  podUID: "u1",
  expiresAt: new Date(Date.now() + 60_000),
};

describe("TokenReview", () => {
  const ok: k8s.V1TokenReviewStatus = {
    authenticated: true,
    audiences: ["warden.dev/issuer"],
    user: {
      username: "system:serviceaccount:ns1:bot",
      extra: {
        "authentication.kubernetes.io/pod-name": ["p"],
        "authentication.kubernetes.io/pod-uid": ["u1"],
      },
    },
  };
  it("reads the ServiceAccount and the bound pod", () => {
    expect(identityFromReview(ok, "warden.dev/issuer", tok.expiresAt)).toEqual(tok);
  });
  it("refuses unauthenticated, wrong audience, non-SA and unbound tokens", () => {
    expect(
      reason(() =>
        identityFromReview({ authenticated: false, error: "expired" }, "warden.dev/issuer", tok.expiresAt),
      ),
    ).toBe("TokenInvalid");
    expect(
      reason(() => identityFromReview({ ...ok, audiences: ["api"] }, "warden.dev/issuer", tok.expiresAt)),
    ).toBe("TokenWrongAudience");
    expect(
      reason(() =>
        identityFromReview({ ...ok, user: { username: "alice" } }, "warden.dev/issuer", tok.expiresAt),
      ),
    ).toBe("TokenNotServiceAccount");
    expect(
      reason(() =>
        identityFromReview(
          { ...ok, user: { username: "system:serviceaccount:ns1:bot" } },
          "warden.dev/issuer",
          tok.expiresAt,
        ),
      ),
    ).toBe("TokenNotBoundToPod");
  });
  it("reads exp without trusting it for anything but the cache", () => {
    const t = `x.${Buffer.from(JSON.stringify({ exp: 2000000000 })).toString("base64url")}.y`;
    expect(unverifiedExpiry(t)?.getTime()).toBe(2000000000_000);
    expect(unverifiedExpiry(`x.${Buffer.from('{"exp":1e400}').toString("base64url")}.y`)).toBeUndefined();
    expect(unverifiedExpiry("garbage")).toBeUndefined();
  });
});

describe("pod and identity checks", () => {
  const pod = (
    labels: Record<string, string>,
    extra: Partial<k8s.V1ObjectMeta> = {},
    sa = "bot",
  ): k8s.V1Pod => ({
    metadata: { name: "p", namespace: "ns1", uid: "u1", labels, ...extra },
    spec: { serviceAccountName: sa, containers: [] },
  });
  it("accepts the bound agent or tool-server pod", () => {
    expect(checkPod(pod({ "warden.dev/agent": "bot" }), tok)).toEqual({ kind: "agent", identity: "bot" });
    expect(checkPod(pod({ "warden.dev/tool-server": "search" }), tok)).toEqual({
      kind: "toolServer",
      manifest: "search",
    });
  });
  it("refuses a missing, replaced, terminating, unlabelled or other-SA pod", () => {
    expect(reason(() => checkPod(undefined, tok))).toBe("PodNotFound");
    expect(reason(() => checkPod(pod({ "warden.dev/agent": "bot" }, { uid: "u2" }), tok))).toBe(
      "PodNotFound",
    );
    expect(
      reason(() => checkPod(pod({ "warden.dev/agent": "bot" }, { deletionTimestamp: new Date() }), tok)),
    ).toBe("PodTerminating");
    expect(reason(() => checkPod(pod({}), tok))).toBe("PodNotAgent");
    expect(reason(() => checkPod(pod({ "warden.dev/agent": "bot" }, {}, "other"), tok))).toBe(
      "ServiceAccountMismatch",
    );
    expect(reason(() => checkPod(pod({ "warden.dev/agent": "a", "warden.dev/tool-server": "b" }), tok))).toBe(
      "PodLabelsAmbiguous",
    );
  });
  const identity = (spec: Partial<IdentityView["spec"]> = {}): IdentityView => ({
    metadata: { name: "bot", namespace: "ns1" },
    spec: { enclave: "e", ...spec },
  });
  it("checks the identity's ServiceAccount and suspension", () => {
    expect(checkIdentity(identity(), "bot", tok).metadata.name).toBe("bot");
    expect(checkIdentity(identity({ serviceAccountName: "bot" }), "bot", tok)).toBeTruthy();
    expect(reason(() => checkIdentity(undefined, "bot", tok))).toBe("IdentityNotFound");
    expect(reason(() => checkIdentity(identity({ serviceAccountName: "x" }), "bot", tok))).toBe(
      "ServiceAccountMismatch",
    );
    expect(reason(() => checkIdentity(identity({ suspended: true }), "bot", tok))).toBe("IdentitySuspended");
  });
  it("checks a tool server's ServiceAccount", () => {
    expect(() =>
      checkToolServer({ spec: { server: { serviceAccountName: "bot" } } }, "search", tok),
    ).not.toThrow();
    expect(reason(() => checkToolServer({ spec: { server: {} } }, "search", tok))).toBe(
      "ServiceAccountMismatch",
    );
    expect(reason(() => checkToolServer(undefined, "search", tok))).toBe("ToolManifestNotFound");
  });
});

describe("CA rotation plan", () => {
  const cfg = { rotateAtFraction: 2 / 3, propagationMs: 1000 };
  it("prepares at 2/3 of life, activates after propagation, retires after expiry", async () => {
    const t0 = Date.now();
    const a = await createRootCA({
      trustDomain: "example.org",
      ttlMs: 30_000,
      now: new Date(t0),
      backdateMs: 0,
    });
    let set = { active: a, retiring: [], extraTrust: [] } as Parameters<typeof planRotation>[0];
    expect(planRotation(set, new Date(t0 + 10_000), cfg).kind).toBe("none");
    const step = planRotation(set, new Date(t0 + 20_001), cfg);
    expect(step).toEqual({ kind: "prepare", activateAt: new Date(t0 + 21_001) });
    const b = await createRootCA({
      trustDomain: "example.org",
      ttlMs: 30_000,
      now: new Date(t0 + 20_001),
      backdateMs: 0,
    });
    set = { ...set, pending: { ca: b, activateAt: new Date(t0 + 21_001) } };
    expect(trustedCAs(set, new Date(t0 + 20_500)).map((c) => c.serialNumber)).toEqual([a.serial, b.serial]);
    expect(planRotation(set, new Date(t0 + 20_500), cfg).kind).toBe("none");
    expect(planRotation(set, new Date(t0 + 21_001), cfg).kind).toBe("activate");
    set = activatePending(set);
    expect(set.active.serial).toBe(b.serial);
    expect(trustedCAs(set, new Date(t0 + 25_000)).map((c) => c.serialNumber)).toEqual([b.serial, a.serial]);
    expect(planRotation(set, new Date(t0 + 30_000), cfg).kind).toBe("retire");
    expect(trustedCAs(set, new Date(t0 + 30_000)).map((c) => c.serialNumber)).toEqual([b.serial]);
    // Round-trips through the Secret's data.
    const enc = encodeCASet(set);
    const back = await decodeCASet(enc.data, enc.annotations);
    expect(back.active.serial).toBe(b.serial);
    expect(back.retiring.map((c) => c.serialNumber)).toEqual([a.serial]);
  });
  it("replaces an expired CA at once", async () => {
    const a = await createRootCA({ trustDomain: "example.org", ttlMs: 1000, backdateMs: 0 });
    expect(
      planRotation({ active: a, retiring: [], extraTrust: [] }, new Date(Date.now() + 5000), cfg).kind,
    ).toBe("replaceExpired");
  });
});
