import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { bundleJWKS, bundlePem, parseBundleJWKS, parseBundlePem } from "./bundle.ts";
import { createJWTKey } from "./jwt-key.ts";
import { issueFor, testCA } from "./testing.ts";
import { verifyX509SVID } from "./x509-svid.ts";

describe("trust bundle", () => {
  it("holds every CA as x509-svid (x5c) and every JWT key as jwt-svid (kid), with sequence and refresh hint", async () => {
    const a = await testCA();
    const b = await testCA();
    const j1 = await createJWTKey();
    const j2 = await createJWTKey();
    const jwks = await bundleJWKS({
      cas: [a.cert, b.cert],
      jwtKeys: [j1.publicJwk, j2.publicJwk, j1.publicJwk],
      sequence: 7,
      refreshHintS: 300,
    });
    expect(jwks.spiffe_sequence).toBe(7);
    expect(jwks.spiffe_refresh_hint).toBe(300);
    // CA keys are never jwt-svid keys; a repeated JWT key is published once.
    expect(jwks.keys.map((k) => k.use)).toEqual(["x509-svid", "x509-svid", "jwt-svid", "jwt-svid"]);
    expect(jwks.keys.filter((k) => k.use === "jwt-svid").map((k) => k.kid)).toEqual([j1.kid, j2.kid]);
    for (const k of jwks.keys) expect(k).not.toHaveProperty("d");
    for (const k of jwks.keys) {
      expect(k).toMatchObject({ kty: "EC", crv: "P-256" });
      if (k.use === "x509-svid") expect(k.x5c).toHaveLength(1);
      else expect(k.kid).toMatch(/^[A-Za-z0-9_-]{43}$/);
    }
    const parsed = parseBundleJWKS(JSON.stringify(jwks));
    expect(parsed.cas.map((c) => c.serialNumber)).toEqual([a.serial, b.serial]);
    expect(parsed.jwtKeys).toHaveLength(2);
    expect(parsed.sequence).toBe(7);
  });
  it("PEM bundle verifies SVIDs of both CAs during an overlap, with openssl too", async () => {
    const oldCA = await testCA();
    const newCA = await testCA();
    const pem = bundlePem([oldCA.cert, newCA.cert]);
    expect(parseBundlePem(pem)).toHaveLength(2);
    const dir = mkdtempSync(join(tmpdir(), "bundle-"));
    writeFileSync(join(dir, "bundle.pem"), pem);
    for (const ca of [oldCA, newCA]) {
      const svid = await issueFor(ca, "spiffe://example.org/ns/a/sa/b");
      await expect(verifyX509SVID({ chain: [svid.cert], bundle: parseBundlePem(pem) })).resolves.toBeTruthy();
      writeFileSync(join(dir, "leaf.pem"), svid.certPem);
      const out = execFileSync("openssl", [
        "verify",
        "-CAfile",
        join(dir, "bundle.pem"),
        join(dir, "leaf.pem"),
      ]).toString();
      expect(out).toContain("OK");
    }
  });
  it("refuses a bundle with a non-P-256 or unknown-use key, naming the field", () => {
    expect(() =>
      parseBundleJWKS(JSON.stringify({ keys: [{ kty: "RSA", n: "x", e: "AQAB", use: "x509-svid" }] })),
    ).toThrow(/keys\[0\]\.kty/);
    expect(() =>
      parseBundleJWKS(JSON.stringify({ keys: [{ kty: "EC", crv: "P-256", x: "a", y: "b", use: "sig" }] })),
    ).toThrow(/use must be/);
  });
});
