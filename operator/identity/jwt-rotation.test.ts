// JWT-SVID keys rotate in step with the CA (pure rules + the Authority that publishes the bundle):
// the next key is in the bundle's jwt-svid entries before it signs, and a token signed by the
// previous key keeps verifying through the overlap, until the previous CA's notAfter (which bounds
// every such token's exp). Short CA lifetimes; times are passed explicitly, no waiting.
import * as jose from "jose";
import { describe, expect, it } from "vitest";
import { DeniedError } from "../../lib/errors.ts";
import { parseBundleJWKS } from "../../lib/identity/bundle.ts";
import { createRootCA } from "../../lib/identity/ca.ts";
import { createJWTKey } from "../../lib/identity/jwt-key.ts";
import { jwtKid, signJWTSVID, verifyJWTSVID } from "../../lib/identity/jwt-svid.ts";
import { Authority } from "./authority.ts";
import {
  activatePending,
  authorityStateOf,
  type CASet,
  decodeCASet,
  encodeCASet,
  planRotation,
  prepareNext,
  retireExpired,
} from "./ca-secret.ts";

const ID = "spiffe://example.org/ns/a/sa/bot";
const AUD = "https://tools.example.org";
const cfg = { rotateAtFraction: 2 / 3, propagationMs: 1000 };

/** Loads `set` as a replica would and returns what it signs with and what relying parties see. */
async function publish(set: CASet, now: Date, seq: number) {
  const authority = new Authority();
  await authority.set(authorityStateOf(set, now, seq));
  const bundle = parseBundleJWKS(JSON.stringify(authority.bundleJWKS()));
  return { signer: authority.signer(), jwtKids: bundle.jwtKeys.map((k) => k.kid), keys: bundle.jwtKeys };
}

const verifyAt = (token: string, keys: jose.JWK[], now: Date) =>
  verifyJWTSVID(token, { audience: AUD, keys, maxLifetimeMs: 60_000, now });

describe("JWT-SVID key rotation", () => {
  it("publishes the next key before it signs and keeps the old one through the overlap", async () => {
    const t0 = Date.now();
    const at = (ms: number) => new Date(t0 + ms);
    const a = await createRootCA({ trustDomain: "example.org", ttlMs: 30_000, now: at(0), backdateMs: 0 });
    const j1 = await createJWTKey();
    let set: CASet = { active: a, retiring: [], extraTrust: [], jwt: { active: j1, retiring: [] } };

    let p = await publish(set, at(1000), 1);
    expect(p.signer.jwtKey?.kid).toBe(j1.kid);
    expect(p.jwtKids).toEqual([j1.kid]);
    expect(p.jwtKids).not.toContain(await jwtKid(await a.cert.publicKey.export()));
    // A token signed by the first key late in its CA's life: exp is capped at the CA's notAfter.
    const old = await signJWTSVID({
      key: p.signer.jwtKey!,
      spiffeID: ID,
      audience: [AUD],
      ttlMs: 60_000,
      now: at(19_000),
      notAfter: a.notAfter,
    });
    expect(old.expiresAt.getTime()).toBeLessThanOrEqual(a.notAfter.getTime());

    // Prepare: the next CA and the next JWT key are published, neither signs yet.
    const step = planRotation(set, at(20_001), cfg);
    expect(step.kind).toBe("prepare");
    const b = await createRootCA({
      trustDomain: "example.org",
      ttlMs: 30_000,
      now: at(20_001),
      backdateMs: 0,
    });
    const j2 = await createJWTKey();
    set = prepareNext(set, b, j2, at(21_001));
    p = await publish(set, at(20_500), 2);
    expect(p.signer.jwtKey?.kid).toBe(j1.kid);
    expect(p.jwtKids).toEqual([j1.kid, j2.kid]);

    // Activate: j2 signs; j1 stays published until a's notAfter.
    expect(planRotation(set, at(21_001), cfg).kind).toBe("activate");
    set = activatePending(set);
    // Survives a round trip through the Secret's data (what the other replicas read).
    const enc = encodeCASet(set);
    expect(Object.keys(enc.data).sort()).toEqual(
      ["jwt-retiring.json", "jwt.key", "retiring.crt", "tls.crt", "tls.key"].sort(),
    );
    set = await decodeCASet(enc.data, enc.annotations);
    p = await publish(set, at(22_000), 3);
    expect(p.signer.jwtKey?.kid).toBe(j2.kid);
    expect(p.jwtKids).toEqual([j2.kid, j1.kid]);
    const fresh = await signJWTSVID({
      key: p.signer.jwtKey!,
      spiffeID: ID,
      audience: [AUD],
      ttlMs: 60_000,
      now: at(22_000),
      notAfter: b.notAfter,
    });
    expect(jose.decodeProtectedHeader(fresh.token).kid).toBe(j2.kid);
    expect(jose.decodeProtectedHeader(old.token).kid).toBe(j1.kid);
    // Both the old token and the new one verify against the published bundle during the overlap.
    await expect(verifyAt(old.token, p.keys, at(22_000))).resolves.toMatchObject({ spiffeID: ID });
    await expect(verifyAt(fresh.token, p.keys, at(22_000))).resolves.toMatchObject({ spiffeID: ID });

    // Retire at a's notAfter: the old key leaves the bundle once every token it signed has expired.
    const retire = planRotation(set, at(30_000), cfg);
    expect(retire).toMatchObject({ kind: "retire", expiredJwtKids: [j1.kid] });
    if (retire.kind !== "retire") throw new Error("unreachable");
    set = retireExpired(set, retire);
    p = await publish(set, at(30_000), 4);
    expect(p.jwtKids).toEqual([j2.kid]);
    const err = await verifyAt(old.token, p.keys, at(30_000)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeniedError);
    expect((err as DeniedError).reason).toBe("JWTUnknownKey");
  });

  it("a Secret without jwt.key yields no JWT signer and no jwt-svid key (never the CA key)", async () => {
    const a = await createRootCA({ trustDomain: "example.org", ttlMs: 1000, backdateMs: 0 });
    const legacy = encodeCASet({ active: a, retiring: [], extraTrust: [] });
    expect(legacy.data["jwt.key"]).toBeUndefined();
    const set = await decodeCASet(legacy.data, legacy.annotations);
    const p = await publish(set, new Date(), 1);
    // Never a fallback to the CA key: no signer and no jwt-svid key at all.
    expect(p.signer.jwtKey).toBeUndefined();
    expect(p.jwtKids).toEqual([]);
  });

  it("refuses a malformed jwt-retiring.json, naming the field", async () => {
    const a = await createRootCA({ trustDomain: "example.org", ttlMs: 60_000 });
    const enc = encodeCASet({
      active: a,
      retiring: [],
      extraTrust: [],
      jwt: { active: await createJWTKey(), retiring: [] },
    });
    enc.data["jwt-retiring.json"] = Buffer.from(
      JSON.stringify([{ kid: "k", x: "a", y: "b", notAfter: "soon" }]),
    ).toString("base64");
    await expect(decodeCASet(enc.data, enc.annotations)).rejects.toThrow(/notAfter/);
  });
});
