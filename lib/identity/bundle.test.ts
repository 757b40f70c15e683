import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ValidationError } from "../errors.ts";
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

const ca = await testCA();
const other = await testCA();
const pem = ca.certPem;
const body = pem.split("\n").slice(1, -2).join("\n");
const leaf = await issueFor(ca, "spiffe://example.org/ns/a/sa/b");

describe("trust bundle parsing: attack table (corrupt or foreign input fails closed, naming the block)", () => {
  const ROWS: { name: string; input: () => string; message: RegExp }[] = [
    { name: "empty file", input: () => "", message: /empty; expected PEM CERTIFICATE blocks/ },
    { name: "whitespace only", input: () => "  \n\n", message: /empty/ },
    { name: "not PEM at all (JSON)", input: () => '{"keys":[]}', message: /block 0: not PEM/ },
    {
      name: "raw base64 DER without armour",
      input: () => Buffer.from(ca.cert.rawData).toString("base64"),
      message: /not PEM/,
    },
    {
      name: "text before the first block",
      input: () => `# my CAs\n${pem}`,
      message: /block 0: text outside PEM blocks/,
    },
    {
      name: "text between blocks",
      input: () => `${pem}garbage\n${other.certPem}`,
      message: /block 1: text outside PEM blocks/,
    },
    {
      name: "truncated second block",
      input: () => `${pem}${other.certPem.slice(0, 200)}`,
      message: /block 1: text after the last PEM block/,
    },
    {
      name: "corrupt base64 body (a character flipped)",
      input: () => pem.replace(body.slice(40, 44), "!!!!"),
      message: /block 0/,
    },
    {
      name: "base64 body cut short",
      input: () => `-----BEGIN CERTIFICATE-----\n${body.slice(0, 101)}\n-----END CERTIFICATE-----\n`,
      message: /block 0: the base64 body is corrupt|block 0: not a DER X\.509 certificate/,
    },
    {
      name: "valid base64 of garbage bytes",
      input: () =>
        `-----BEGIN CERTIFICATE-----\n${Buffer.from("not a certificate at all").toString("base64")}\n-----END CERTIFICATE-----\n`,
      message: /block 0: not a DER X\.509 certificate/,
    },
    {
      name: "a private key block in the bundle",
      input: () => `${pem}${ca.keyPem}`,
      message: /block 1: a PRIVATE KEY block/,
    },
    {
      name: "mismatched BEGIN/END labels",
      input: () => pem.replace("-----END CERTIFICATE-----", "-----END X509 CRL-----"),
      message: /block 0/,
    },
    {
      name: "a leaf certificate, not a CA",
      input: () => `${pem}${leaf.certPem}`,
      message: /block 1: not a CA certificate/,
    },
  ];
  it("control: one or more CA blocks parse, in order", () => {
    expect(parseBundlePem(pem + other.certPem).map((c) => c.serialNumber)).toEqual([ca.serial, other.serial]);
  });
  for (const row of ROWS) {
    it(`refuses ${row.name}`, () => {
      expect(() => parseBundlePem(row.input())).toThrow(ValidationError);
      expect(() => parseBundlePem(row.input())).toThrow(row.message);
    });
  }
  it("refuses a SPIFFE bundle that is not JSON or whose x5c is not base64 DER of a CA", async () => {
    expect(() => parseBundleJWKS("not json")).toThrow(/SPIFFE bundle is invalid: not JSON/);
    const doc = await bundleJWKS({ cas: [ca.cert], jwtKeys: [], sequence: 1, refreshHintS: 60 });
    const withX5c = (x5c: string) => JSON.stringify({ ...doc, keys: [{ ...doc.keys[0], x5c: [x5c] }] });
    expect(() => parseBundleJWKS(withX5c("!!!notbase64"))).toThrow(
      /keys\[0\]\.x5c\[0\]: not standard base64/,
    );
    expect(() => parseBundleJWKS(withX5c(Buffer.from("garbage").toString("base64")))).toThrow(
      /keys\[0\]\.x5c\[0\]: not a DER X\.509 certificate/,
    );
    expect(() => parseBundleJWKS(withX5c(Buffer.from(leaf.cert.rawData).toString("base64")))).toThrow(
      /keys\[0\]\.x5c\[0\]: not a CA certificate/,
    );
  });
});
