import { createHmac } from "node:crypto";
import * as jose from "jose";
import { describe, expect, it } from "vitest";
import { DeniedError } from "../errors.ts";
import { bundleJWKS, parseBundleJWKS } from "./bundle.ts";
import { publicKeyOf, subtle } from "./crypto.ts";
import { createJWTKey } from "./jwt-key.ts";
import type { VerifyJWTOptions } from "./jwt-svid.ts";
import { jwtKid, signJWTSVID, verifyJWTSVID } from "./jwt-svid.ts";
import { testCA } from "./testing.ts";

const ID = "spiffe://example.org/ns/agents/sa/bot";
const AUD = "https://tools.example.org";
const ca = await testCA();
// The JWT-SVID key is its own P-256 key; the CA is in the bundle only as x509-svid.
const key = await createJWTKey();
const kid = key.kid;
const bundle = parseBundleJWKS(
  JSON.stringify(
    await bundleJWKS({ cas: [ca.cert], jwtKeys: [key.publicJwk], sequence: 1, refreshHintS: 60 }),
  ),
);
const opts: VerifyJWTOptions = {
  audience: AUD,
  keys: bundle.jwtKeys,
  trustDomain: "example.org",
  maxLifetimeMs: 15 * 60_000,
};
const nowS = () => Math.floor(Date.now() / 1000);
const b64 = (v: string | Buffer) => Buffer.from(v).toString("base64url");

async function reason(token: string, o: VerifyJWTOptions = opts): Promise<string> {
  const err = await verifyJWTSVID(token, o).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DeniedError);
  return (err as DeniedError).reason;
}

/** Signs an arbitrary payload *string* with ES256, so tests can hand-craft JSON jose would not emit. */
async function es256Raw(
  payloadJSON: string,
  header: Record<string, unknown> = { alg: "ES256", typ: "JWT", kid },
) {
  return new jose.CompactSign(new TextEncoder().encode(payloadJSON))
    .setProtectedHeader(header as jose.CompactJWSHeaderParameters)
    .sign(key.privateKey);
}
const claims = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ sub: ID, aud: AUD, iat: nowS(), exp: nowS() + 300, ...extra });

describe("JWT-SVID", () => {
  it("signs ES256 with typ JWT and kid, and verifies", async () => {
    const { token } = await signJWTSVID({ key, spiffeID: ID, audience: [AUD], ttlMs: 300_000 });
    expect(jose.decodeProtectedHeader(token)).toEqual({ alg: "ES256", typ: "JWT", kid });
    const v = await verifyJWTSVID(token, opts);
    expect(v.spiffeID).toBe(ID);
    expect(v.audience).toEqual([AUD]);
    expect(v.expiresAt.getTime() - v.issuedAt.getTime()).toBe(300_000);
  });
  it("requires an audience and caps exp at the CA's notAfter", async () => {
    await expect(signJWTSVID({ key, spiffeID: ID, audience: [], ttlMs: 300_000 })).rejects.toThrow(
      /audience/,
    );
    const notAfter = new Date(Date.now() + 60_000);
    const { expiresAt } = await signJWTSVID({ key, spiffeID: ID, audience: [AUD], ttlMs: 300_000, notAfter });
    expect(expiresAt.getTime()).toBeLessThanOrEqual(notAfter.getTime());
  });
  it.each(["none", "None", "NONE", "nOnE"])("refuses alg %s", async (alg) => {
    const token = `${b64(JSON.stringify({ alg, typ: "JWT", kid }))}.${b64(claims())}.`;
    expect(await reason(token)).toBe("JWTAlgorithmNotAllowed");
  });
  it("refuses HS256 signed with the public key bytes", async () => {
    const pub = await publicKeyOf(key.privateKey);
    const spki = Buffer.from(await subtle.exportKey("spki", pub));
    for (const secret of [spki, Buffer.from(JSON.stringify(key.publicJwk))]) {
      const signingInput = `${b64(JSON.stringify({ alg: "HS256", typ: "JWT", kid }))}.${b64(claims())}`;
      const sig = createHmac("sha256", secret).update(signingInput).digest("base64url");
      expect(await reason(`${signingInput}.${sig}`)).toBe("JWTAlgorithmNotAllowed");
    }
  });
  it("refuses a token without exp", async () => {
    expect(await reason(await es256Raw(JSON.stringify({ sub: ID, aud: AUD, iat: nowS() })))).toBe(
      "JWTMissingClaim",
    );
  });
  it("refuses exp = 1e400 (parses to Infinity)", async () => {
    const token = await es256Raw(`{"sub":"${ID}","aud":"${AUD}","iat":${nowS()},"exp":1e400}`);
    expect(await reason(token)).toBe("JWTBadExpiry");
  });
  it("refuses exp years ahead (lifetime over the maximum)", async () => {
    expect(await reason(await es256Raw(claims({ exp: nowS() + 3 * 365 * 86400 })))).toBe(
      "JWTLifetimeTooLong",
    );
  });
  it("refuses a wrong audience", async () => {
    expect(await reason(await es256Raw(claims({ aud: "https://elsewhere.example.org" })))).toBe(
      "JWTWrongAudience",
    );
  });
  it("refuses an extra audience unless configured", async () => {
    const token = await es256Raw(claims({ aud: [AUD, "https://elsewhere.example.org"] }));
    expect(await reason(token)).toBe("JWTMultipleAudiences");
    await expect(verifyJWTSVID(token, { ...opts, allowMultipleAudiences: true })).resolves.toBeTruthy();
  });
  it("refuses an expired token", async () => {
    expect(await reason(await es256Raw(claims({ iat: nowS() - 600, exp: nowS() - 60 })))).toBe("JWTExpired");
  });
  it("refuses iat or nbf in the future", async () => {
    expect(await reason(await es256Raw(claims({ iat: nowS() + 120, exp: nowS() + 300 })))).toBe(
      "JWTIssuedInFuture",
    );
    expect(await reason(await es256Raw(claims({ nbf: nowS() + 120 })))).toBe("JWTIssuedInFuture");
  });
  it("refuses a 1 MiB token before parsing it", async () => {
    const big = `${b64(JSON.stringify({ alg: "ES256", kid }))}.${"A".repeat(1024 * 1024)}.sig`;
    expect(await reason(big)).toBe("JWTTooLarge");
  });
  it("refuses a token signed by a key outside the bundle, or with a bad subject", async () => {
    const other = await testCA();
    const token = await new jose.CompactSign(new TextEncoder().encode(claims()))
      .setProtectedHeader({ alg: "ES256", typ: "JWT", kid })
      .sign(other.privateKey);
    expect(await reason(token)).toBe("JWTBadSignature");
    expect(await reason(await es256Raw(claims({ sub: "spiffe://other.org/ns/a/sa/b" })))).toBe(
      "JWTBadSubject",
    );
    expect(await reason(await es256Raw(claims({ sub: "not-a-spiffe-id" })))).toBe("JWTBadSubject");
    expect(await reason(await es256Raw(claims(), { alg: "ES256", typ: "JWT", kid: "unknown" }))).toBe(
      "JWTUnknownKey",
    );
  });
  it("refuses a JWT signed with the CA key: the bundle lists the CA only as x509-svid", async () => {
    const caKid = await jwtKid(await ca.cert.publicKey.export());
    expect(bundle.jwtKeys.map((k) => k.kid)).toEqual([kid]);
    expect(bundle.jwtKeys.map((k) => k.kid)).not.toContain(caKid);
    const sign = (headerKid: string) =>
      new jose.CompactSign(new TextEncoder().encode(claims()))
        .setProtectedHeader({ alg: "ES256", typ: "JWT", kid: headerKid })
        .sign(ca.privateKey);
    // Naming the CA key's own thumbprint: not a jwt-svid key of the bundle.
    expect(await reason(await sign(caKid))).toBe("JWTUnknownKey");
    // Borrowing the JWT key's kid: the signature does not verify under it.
    expect(await reason(await sign(kid))).toBe("JWTBadSignature");
  });
  it("refuses duplicate claims (JSON.parse would keep the last one)", async () => {
    const n = nowS();
    const dupAud = `{"sub":"${ID}","aud":"https://elsewhere","aud":"${AUD}","iat":${n},"exp":${n + 60}}`;
    expect(await reason(await es256Raw(dupAud))).toBe("JWTDuplicateClaim");
    const escaped = `{"sub":"${ID}","aud":"${AUD}","iat":${n},"exp":${n + 60},"\u0065xp":${n + 9e9}}`;
    expect(await reason(await es256Raw(escaped))).toBe("JWTDuplicateClaim");
    const nested = `{"sub":"${ID}","aud":"${AUD}","iat":${n},"exp":${n + 60},"x":{"a":1,"b":[{"a":2}]},"y":{"a":3}}`;
    await expect(verifyJWTSVID(await es256Raw(nested), opts)).resolves.toBeTruthy();
  });
  it("refuses a token whose lifetime is longer than the maximum even if exp is near", async () => {
    expect(await reason(await es256Raw(claims({ iat: nowS() - 3600, exp: nowS() + 60 })))).toBe(
      "JWTLifetimeTooLong",
    );
  });
});
