import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DeniedError } from "../errors.ts";
import { createRootCA, loadCA } from "./ca.ts";
import type { CryptoKeyPair } from "./crypto.ts";
import { ECDSA_SHA256, generateP256, subtle, x509 } from "./crypto.ts";
import { createCSR } from "./csr.ts";
import { issueFor, testCA } from "./testing.ts";
import { signX509SVID, signX509SVIDFromCSR, verifyX509SVID } from "./x509-svid.ts";

const ID = "spiffe://example.org/ns/agents/sa/bot";
const ca = await testCA();

async function csrWith(
  keys: CryptoKeyPair,
  extensions: x509.Extension[],
  signingAlgorithm: object = ECDSA_SHA256,
) {
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    keys: keys as never,
    signingAlgorithm: signingAlgorithm as never,
    extensions,
  });
  return csr.toString("pem");
}
const uriSAN = (...values: string[]) =>
  new x509.SubjectAlternativeNameExtension(values.map((value) => ({ type: "url" as const, value })));

async function refusal(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DeniedError);
  return (err as DeniedError).reason;
}

describe("CA", () => {
  it("is a self-signed root with CA:true critical, keyCertSign+cRLSign, SKI/AKI and a ≥64-bit serial", async () => {
    const c = ca.cert;
    expect(await c.isSelfSigned()).toBe(true);
    const bc = c.getExtension(x509.BasicConstraintsExtension)!;
    expect(bc.ca).toBe(true);
    expect(bc.critical).toBe(true);
    const ku = c.getExtension(x509.KeyUsagesExtension)!;
    expect(ku.critical).toBe(true);
    expect(ku.usages).toBe(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign);
    const ski = c.getExtension(x509.SubjectKeyIdentifierExtension)!;
    expect(c.getExtension(x509.AuthorityKeyIdentifierExtension)!.keyId).toBe(ski.keyId);
    expect(c.serialNumber.length).toBeGreaterThanOrEqual(16);
  });
  it("round-trips through PEM (PKCS#8) and refuses a mismatched key or a non-CA cert", async () => {
    const back = await loadCA(ca.certPem, ca.keyPem);
    expect(back.serial).toBe(ca.serial);
    expect(ca.keyPem).toContain("BEGIN PRIVATE KEY");
    const other = await testCA();
    await expect(loadCA(ca.certPem, other.keyPem)).rejects.toThrow(/does not match/);
    const leaf = await issueFor(ca, ID);
    await expect(loadCA(leaf.certPem, leaf.keyPem)).rejects.toThrow(/not a CA/);
  });
});

describe("X.509-SVID from a CSR", () => {
  it("meets every SPIFFE MUST", async () => {
    const svid = await issueFor(ca, ID);
    const c = svid.cert;
    const bc = c.getExtension(x509.BasicConstraintsExtension)!;
    expect(bc.ca).toBe(false);
    const ku = c.getExtension(x509.KeyUsagesExtension)!;
    expect(ku.critical).toBe(true);
    expect(ku.usages).toBe(x509.KeyUsageFlags.digitalSignature);
    const eku = c.getExtension(x509.ExtendedKeyUsageExtension)!;
    expect(eku.usages).toEqual([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]);
    const san = c.getExtension(x509.SubjectAlternativeNameExtension)!;
    expect(san.names.items.map((n) => [n.type, n.value])).toEqual([["url", ID]]);
    expect(BigInt(`0x${c.serialNumber}`) >= 2n ** 64n).toBe(true);
    expect(await c.verify({ publicKey: ca.cert.publicKey, signatureOnly: true })).toBe(true);
    const aki = c.getExtension(x509.AuthorityKeyIdentifierExtension)!;
    expect(aki.keyId).toBe(ca.cert.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId);
  });
  it("backdates notBefore ~30 s and sets notAfter = now + TTL", async () => {
    const now = new Date();
    const keys = await generateP256();
    const svid = await signX509SVIDFromCSR({
      ca,
      csrPem: await createCSR(keys, ID),
      spiffeID: ID,
      ttlMs: 600_000,
      now,
    });
    expect(Math.abs(svid.notBefore.getTime() - (now.getTime() - 30_000))).toBeLessThan(1000);
    expect(Math.abs(svid.notAfter.getTime() - (now.getTime() + 600_000))).toBeLessThan(1000);
  });
  it("never outlives the CA", async () => {
    const shortCA = await createRootCA({ trustDomain: "example.org", ttlMs: 60_000 });
    const svid = await issueFor(shortCA, ID, 3600_000);
    expect(svid.notAfter.getTime()).toBe(shortCA.notAfter.getTime());
  });
  it("gives every SVID a distinct serial", async () => {
    const serials = new Set<string>();
    for (let i = 0; i < 20; i++) serials.add((await issueFor(ca, ID)).serial);
    expect(serials.size).toBe(20);
  });
  it("refuses a CSR asking for an extra SAN", async () => {
    const keys = await generateP256();
    const dns = new x509.SubjectAlternativeNameExtension([
      { type: "url", value: ID },
      { type: "dns", value: "evil.example.com" },
    ]);
    expect(
      await refusal(
        signX509SVIDFromCSR({ ca, csrPem: await csrWith(keys, [dns]), spiffeID: ID, ttlMs: 60_000 }),
      ),
    ).toBe("CSRUnexpectedSAN");
    const twoURIs = uriSAN(ID, "spiffe://example.org/ns/agents/sa/other");
    expect(
      await refusal(
        signX509SVIDFromCSR({ ca, csrPem: await csrWith(keys, [twoURIs]), spiffeID: ID, ttlMs: 60_000 }),
      ),
    ).toBe("CSRUnexpectedSAN");
  });
  it("refuses a CSR asking for another SPIFFE ID", async () => {
    const keys = await generateP256();
    const csrPem = await csrWith(keys, [uriSAN("spiffe://example.org/ns/kube-system/sa/admin")]);
    expect(await refusal(signX509SVIDFromCSR({ ca, csrPem, spiffeID: ID, ttlMs: 60_000 }))).toBe(
      "CSRSpiffeIDMismatch",
    );
  });
  it("refuses a CSR asking for CA:true or any other extension", async () => {
    const keys = await generateP256();
    const caTrue = await csrWith(keys, [uriSAN(ID), new x509.BasicConstraintsExtension(true, 0, true)]);
    expect(await refusal(signX509SVIDFromCSR({ ca, csrPem: caTrue, spiffeID: ID, ttlMs: 60_000 }))).toBe(
      "CSRRequestsCA",
    );
    const ku = await csrWith(keys, [
      uriSAN(ID),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true),
    ]);
    expect(await refusal(signX509SVIDFromCSR({ ca, csrPem: ku, spiffeID: ID, ttlMs: 60_000 }))).toBe(
      "CSRUnexpectedExtension",
    );
  });
  it("refuses RSA and P-384 keys", async () => {
    const rsa = (await subtle.generateKey(
      {
        name: "RSASSA-PKCS1-v1_5",
        modulusLength: 2048,
        publicExponent: new Uint8Array([1, 0, 1]),
        hash: "SHA-256",
      },
      true,
      ["sign", "verify"],
    )) as CryptoKeyPair;
    const rsaCSR = await csrWith(rsa, [uriSAN(ID)], { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" });
    expect(await refusal(signX509SVIDFromCSR({ ca, csrPem: rsaCSR, spiffeID: ID, ttlMs: 60_000 }))).toBe(
      "CSRKeyNotP256",
    );
    const p384 = (await subtle.generateKey({ name: "ECDSA", namedCurve: "P-384" }, true, [
      "sign",
      "verify",
    ])) as CryptoKeyPair;
    const p384CSR = await csrWith(p384, [uriSAN(ID)], { name: "ECDSA", hash: "SHA-384" });
    expect(await refusal(signX509SVIDFromCSR({ ca, csrPem: p384CSR, spiffeID: ID, ttlMs: 60_000 }))).toBe(
      "CSRKeyNotP256",
    );
  });
  it("refuses a CSR whose signature does not verify", async () => {
    const keys = await generateP256();
    const der = Buffer.from(x509.PemConverter.decode(await createCSR(keys, ID))[0]!);
    der[der.length - 1] = der[der.length - 1]! ^ 0x01;
    const tampered = x509.PemConverter.encode(der, "CERTIFICATE REQUEST");
    expect(await refusal(signX509SVIDFromCSR({ ca, csrPem: tampered, spiffeID: ID, ttlMs: 60_000 }))).toBe(
      "CSRSignatureInvalid",
    );
  });
  it("refuses garbage and oversized CSRs as validation errors", async () => {
    await expect(signX509SVIDFromCSR({ ca, csrPem: "hello", spiffeID: ID, ttlMs: 60_000 })).rejects.toThrow(
      /CSR is invalid/,
    );
    await expect(
      signX509SVIDFromCSR({ ca, csrPem: "A".repeat(10_000), spiffeID: ID, ttlMs: 60_000 }),
    ).rejects.toThrow(/8192/);
  });
  it("signs CSRs for random valid names (property)", async () => {
    const segment = fc
      .stringMatching(/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,20}$/)
      .filter((s) => s !== "." && s !== "..");
    const td = fc.stringMatching(/^[a-z0-9][a-z0-9.-]{0,30}$/);
    await fc.assert(
      fc.asyncProperty(td, fc.array(segment, { minLength: 1, maxLength: 5 }), async (trustDomain, segs) => {
        const id = `spiffe://${trustDomain}/${segs.join("/")}`;
        const svid = await issueFor(ca, id, 60_000);
        const verified = await verifyX509SVID({
          chain: [svid.cert],
          bundle: [ca.cert],
          expectedID: id,
          trustDomain,
        });
        expect(verified.spiffeID).toBe(id);
      }),
      { numRuns: 40 },
    );
  });
});

describe("X.509-SVID verification", () => {
  it("accepts a chain from a bundle CA and refuses another CA, an expired SVID, or the wrong ID", async () => {
    const svid = await issueFor(ca, ID);
    await expect(
      verifyX509SVID({ chain: [svid.cert], bundle: [ca.cert], trustDomain: "example.org" }),
    ).resolves.toMatchObject({
      spiffeID: ID,
    });
    const other = await testCA();
    expect(await refusal(verifyX509SVID({ chain: [svid.cert], bundle: [other.cert] }))).toBe("SVIDUntrusted");
    const later = new Date(svid.notAfter.getTime() + 1000);
    expect(await refusal(verifyX509SVID({ chain: [svid.cert], bundle: [ca.cert], now: later }))).toBe(
      "SVIDExpired",
    );
    expect(
      await refusal(verifyX509SVID({ chain: [svid.cert], bundle: [ca.cert], expectedID: `${ID}x` })),
    ).toBe("SVIDWrongID");
    expect(
      await refusal(verifyX509SVID({ chain: [svid.cert], bundle: [ca.cert], trustDomain: "other.org" })),
    ).toBe("SVIDTrustDomain");
  });
  it("signs an operator-made key (Secret delivery path)", async () => {
    const keys = await generateP256();
    const svid = await signX509SVID({ ca, publicKey: keys.publicKey, spiffeID: ID, ttlMs: 60_000 });
    await expect(
      verifyX509SVID({ chain: [svid.cert], bundle: [ca.cert], expectedID: ID }),
    ).resolves.toBeTruthy();
  });
});

describe("openssl agrees", () => {
  it("verifies issued SVIDs for sslclient and sslserver and shows one URI SAN, CA:FALSE, Digital Signature", async () => {
    const dir = mkdtempSync(join(tmpdir(), "svid-"));
    const svid = await issueFor(ca, ID);
    writeFileSync(join(dir, "bundle.pem"), ca.certPem);
    writeFileSync(join(dir, "leaf.pem"), svid.certPem);
    for (const purpose of ["sslclient", "sslserver"]) {
      const out = execFileSync("openssl", [
        "verify",
        "-CAfile",
        join(dir, "bundle.pem"),
        "-purpose",
        purpose,
        join(dir, "leaf.pem"),
      ]);
      expect(out.toString()).toContain(": OK");
    }
    const text = execFileSync("openssl", [
      "x509",
      "-in",
      join(dir, "leaf.pem"),
      "-text",
      "-noout",
    ]).toString();
    expect(text.match(/URI:/g)).toHaveLength(1);
    expect(text).toContain(`URI:${ID}`);
    expect(text).not.toMatch(/DNS:|IP Address:|email:/);
    expect(text).toMatch(/Basic Constraints: critical\s+CA:FALSE/);
    expect(text).toMatch(/Key Usage: critical\s+Digital Signature\n/);
    expect(text).toContain("TLS Web Server Authentication, TLS Web Client Authentication");
    const caText = execFileSync("openssl", [
      "x509",
      "-in",
      join(dir, "bundle.pem"),
      "-text",
      "-noout",
    ]).toString();
    expect(caText).toMatch(/Basic Constraints: critical\s+CA:TRUE/);
    expect(caText).toMatch(/Key Usage: critical\s+Certificate Sign, CRL Sign/);
  });
});
