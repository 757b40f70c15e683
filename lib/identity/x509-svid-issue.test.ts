// The DER-template issuer against the library it replaced: byte-identical TBSCertificates with
// @peculiar/x509 for the same inputs, the native CSR check never more permissive than the
// @peculiar/x509 reference (checkCSR) on mutated requests, and openssl verifying what it signs,
// including across the UTCTime/GeneralizedTime boundary of 2050.
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DeniedError, ValidationError } from "../errors.ts";
import { createRootCA } from "./ca.ts";
import type { CryptoKeyPair } from "./crypto.ts";
import { ECDSA_SHA256, generateP256, subtle, x509 } from "./crypto.ts";
import { createCSR } from "./csr.ts";
import { children, expectTLV, slice } from "./der.ts";
import { testCA } from "./testing.ts";
import { checkCSR, signX509SVIDFromCSR, verifyX509SVID } from "./x509-svid.ts";
import { checkCSRNative, issueX509SVIDDER } from "./x509-svid-issue.ts";

const ID = "spiffe://example.org/ns/agents/sa/bot";
const ca = await testCA();
const keys = await generateP256();
const csrPem = await createCSR(keys, ID);
const p384 = (await subtle.generateKey({ name: "ECDSA", namedCurve: "P-384" }, true, [
  "sign",
  "verify",
])) as CryptoKeyPair;
const pemToDer = (pem: string) => Buffer.from(x509.PemConverter.decode(pem)[0]!);
const derToPem = (der: Uint8Array, type = "CERTIFICATE REQUEST") =>
  x509.PemConverter.encode(der as never, type);

function tbsOf(der: Uint8Array): Buffer {
  const cert = expectTLV(der, 0, 0x30, der.length, "certificate");
  return slice(der, children(der, cert)[0]!);
}

/** The outcome of a CSR check, as a comparable string. */
async function outcome(check: () => unknown): Promise<string> {
  try {
    await check();
    return "accepted";
  } catch (err) {
    if (err instanceof DeniedError) return `denied:${err.reason}`;
    if (err instanceof ValidationError) return "invalid";
    return `threw:${(err as Error).name}`;
  }
}

describe("issueX509SVIDDER", () => {
  it("writes the same TBSCertificate bytes as @peculiar/x509 for the same serial, times and key", async () => {
    const now = new Date(Math.floor(Date.now() / 1000) * 1000 + 789);
    const spki = new Uint8Array(await subtle.exportKey("spki", keys.publicKey));
    const ours = issueX509SVIDDER({ ca, spiffeID: ID, spki, ttlMs: 900_000, now });
    const caSKI = ca.cert.getExtension(x509.SubjectKeyIdentifierExtension)!;
    const theirs = await x509.X509CertificateGenerator.create({
      serialNumber: ours.serial,
      subject: [{ O: ["agent-warden"] }],
      issuer: ca.cert.subjectName,
      notBefore: ours.notBefore,
      notAfter: ours.notAfter,
      publicKey: keys.publicKey,
      signingKey: ca.privateKey,
      signingAlgorithm: ECDSA_SHA256,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension(
          [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth],
          false,
        ),
        new x509.SubjectAlternativeNameExtension([{ type: "url", value: ID }], false),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
        new x509.AuthorityKeyIdentifierExtension(caSKI.keyId, false),
      ],
    });
    expect(tbsOf(ours.der).toString("hex")).toBe(tbsOf(new Uint8Array(theirs.rawData)).toString("hex"));
    // Whole seconds: backdated 30 s, notAfter = now + TTL (both truncated, never past the CA's).
    expect(ours.notBefore.getTime()).toBe(Math.floor(now.getTime() / 1000) * 1000 - 30_000);
    expect(ours.notAfter.getTime()).toBe(
      Math.min(Math.floor(now.getTime() / 1000) * 1000 + 900_000, ca.notAfter.getTime()),
    );
    // Signed by the CA: @peculiar/x509 verifies our signature.
    const parsed = new x509.X509Certificate(ours.der);
    expect(await parsed.verify({ publicKey: ca.cert.publicKey, signatureOnly: true })).toBe(true);
    expect(parsed.serialNumber).toBe(ours.serial);
  });

  it("chains leaf then CA in PEM, and the lazily parsed cert matches", async () => {
    const svid = await signX509SVIDFromCSR({ ca, csrPem, spiffeID: ID, ttlMs: 60_000 });
    const certs = x509.PemConverter.decodeWithHeaders(svid.chainPem).map((b) => b.type);
    expect(certs).toEqual(["CERTIFICATE", "CERTIFICATE"]);
    expect(svid.chainPem.startsWith(svid.certPem)).toBe(true);
    expect(svid.chainPem.endsWith(ca.certPem)).toBe(true);
    expect(svid.cert.serialNumber).toBe(svid.serial);
    expect(svid.cert.notAfter.getTime()).toBe(svid.notAfter.getTime());
  });
});

describe("checkCSRNative against the @peculiar/x509 reference (checkCSR)", () => {
  const bitFlip = (pem: string, at: number, mask: number) => {
    const der = pemToDer(pem);
    const i = ((at % der.length) + der.length) % der.length;
    der[i] = der[i]! ^ mask;
    return derToPem(der);
  };
  const make = async (
    k: CryptoKeyPair,
    extensions: x509.Extension[],
    signingAlgorithm: object = ECDSA_SHA256,
  ) =>
    (
      await x509.Pkcs10CertificateRequestGenerator.create({
        keys: k as never,
        signingAlgorithm: signingAlgorithm as never,
        extensions,
      })
    ).toString("pem");
  const uri = (...v: string[]) =>
    new x509.SubjectAlternativeNameExtension(v.map((value) => ({ type: "url" as const, value })));

  const attacks: { name: string; pem: () => Promise<string>; want: string }[] = [
    { name: "a good CSR", pem: async () => csrPem, want: "accepted" },
    { name: "no SAN at all (the issuer decides the ID)", pem: () => createCSR(keys), want: "accepted" },
    { name: "another SPIFFE ID", pem: () => make(keys, [uri(`${ID}x`)]), want: "denied:CSRSpiffeIDMismatch" },
    { name: "two URI SANs", pem: () => make(keys, [uri(ID, `${ID}2`)]), want: "denied:CSRUnexpectedSAN" },
    {
      name: "a DNS SAN beside the URI",
      pem: () =>
        make(keys, [
          new x509.SubjectAlternativeNameExtension([
            { type: "url", value: ID },
            { type: "dns", value: "evil.example" },
          ]),
        ]),
      want: "denied:CSRUnexpectedSAN",
    },
    {
      name: "two SAN extensions",
      pem: () => make(keys, [uri(ID), uri(ID)]),
      want: "denied:CSRUnexpectedExtension",
    },
    {
      name: "CA:true",
      pem: () => make(keys, [uri(ID), new x509.BasicConstraintsExtension(true, 0, true)]),
      want: "denied:CSRRequestsCA",
    },
    {
      name: "CA:false basicConstraints",
      pem: () => make(keys, [uri(ID), new x509.BasicConstraintsExtension(false, undefined, true)]),
      want: "denied:CSRUnexpectedExtension",
    },
    {
      name: "keyCertSign keyUsage",
      pem: () => make(keys, [uri(ID), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true)]),
      want: "denied:CSRUnexpectedExtension",
    },
    {
      name: "a P-384 key",
      pem: () => make(p384, [uri(ID)], { name: "ECDSA", hash: "SHA-384" }),
      want: "denied:CSRKeyNotP256",
    },
    {
      name: "a flipped signature byte",
      pem: async () => bitFlip(csrPem, -1, 1),
      want: "denied:CSRSignatureInvalid",
    },
    { name: "not PEM", pem: async () => "hello", want: "invalid" },
    { name: "a certificate, not a request", pem: async () => ca.certPem, want: "invalid" },
    { name: "two requests", pem: async () => csrPem + csrPem, want: "invalid" },
    { name: "oversized", pem: async () => "A".repeat(10_000), want: "invalid" },
    {
      name: "trailing bytes after the request",
      pem: async () => derToPem(Buffer.concat([pemToDer(csrPem), Buffer.from([0])])),
      want: "invalid",
    },
    { name: "truncated", pem: async () => derToPem(pemToDer(csrPem).subarray(0, 100)), want: "invalid" },
  ];
  for (const a of attacks) {
    it(a.name, async () => {
      const pem = await a.pem();
      const native = await outcome(() => checkCSRNative(pem, ID));
      expect(native).toBe(a.want);
      // Never more permissive than the reference; where both refuse for a reason, the same reason.
      const reference = await outcome(() => checkCSR(pem, ID));
      if (native === "accepted") expect(reference).toBe("accepted");
      if (native.startsWith("denied:") && reference.startsWith("denied:")) expect(native).toBe(reference);
    });
  }

  it("a random corruption is never accepted by the native check unless the reference accepts it too (property)", async () => {
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 10_000 }),
        fc.integer({ min: 1, max: 255 }),
        async (at, mask) => {
          const pem = bitFlip(csrPem, at, mask);
          const native = await outcome(() => checkCSRNative(pem, ID));
          expect(native.startsWith("threw:")).toBe(false);
          if (native === "accepted") {
            accepted++;
            expect(await outcome(() => checkCSR(pem, ID))).toBe("accepted");
          }
        },
      ),
      { numRuns: 300 },
    );
    // Flipping any bit of a signed request must break it: nothing got through.
    expect(accepted).toBe(0);
  });
});

describe("openssl verifies what the template signs", () => {
  const opensslVerify = (caPem: string, leafPem: string, atSeconds?: number) => {
    const dir = mkdtempSync(join(tmpdir(), "svid-der-"));
    writeFileSync(join(dir, "ca.pem"), caPem);
    writeFileSync(join(dir, "leaf.pem"), leafPem);
    const at = atSeconds === undefined ? [] : ["-attime", String(atSeconds)];
    return execFileSync("openssl", [
      "verify",
      ...at,
      "-CAfile",
      join(dir, "ca.pem"),
      "-purpose",
      "sslclient",
      join(dir, "leaf.pem"),
    ]).toString();
  };

  it("for random valid SPIFFE IDs (property)", async () => {
    const segment = fc
      .stringMatching(/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,20}$/)
      .filter((s) => s !== "." && s !== "..");
    await fc.assert(
      fc.asyncProperty(fc.array(segment, { minLength: 1, maxLength: 4 }), async (segs) => {
        const id = `spiffe://example.org/${segs.join("/")}`;
        const k = await generateP256();
        const svid = await signX509SVIDFromCSR({
          ca,
          csrPem: await createCSR(k, id),
          spiffeID: id,
          ttlMs: 60_000,
        });
        expect(opensslVerify(ca.certPem, svid.certPem)).toContain(": OK");
        await expect(
          verifyX509SVID({ chain: [svid.cert], bundle: [ca.cert], expectedID: id }),
        ).resolves.toBeTruthy();
      }),
      { numRuns: 8 },
    );
  });

  it("across 2050, where X.509 switches from UTCTime to GeneralizedTime", async () => {
    const now = new Date("2049-12-31T23:50:00Z");
    const longCA = await createRootCA({ trustDomain: "example.org", ttlMs: 86_400_000, now });
    const svid = await signX509SVIDFromCSR({ ca: longCA, csrPem, spiffeID: ID, ttlMs: 3600_000, now });
    expect(svid.notAfter.toISOString()).toBe("2050-01-01T00:50:00.000Z");
    expect(svid.cert.notAfter.toISOString()).toBe("2050-01-01T00:50:00.000Z");
    const text = execFileSync("openssl", ["x509", "-noout", "-dates"], { input: svid.certPem }).toString();
    expect(text).toContain("notAfter=Jan  1 00:50:00 2050 GMT");
    const inside = Date.parse("2050-01-01T00:10:00Z") / 1000;
    expect(opensslVerify(longCA.certPem, svid.certPem, inside)).toContain(": OK");
  });
});
