// The native certificate reader (certificate.ts) and the leaf profile and CA checks built on it,
// against the @peculiar/x509 implementation they replaced in the gateway (svid-profile-reference.ts
// and @peculiar/x509's own parse): the same fields on real certificates, the same refusal on every
// attack, and never more permissive on random corruptions of real certificates. The native CSR
// maker is checked by both CSR checks of the issuer and by openssl.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { attackLeaf, byoCA, intermediateCA, LEAF_ATTACKS, type LeafAttack } from "./attack-certs.ts";
import { caCertificate } from "./bundle-pem.ts";
import { Certificate, certificatesFromPem, KeyUsage, parseKeyUsage } from "./certificate.ts";
import { generateP256, x509 } from "./crypto.ts";
import { createCSR } from "./csr-create.ts";
import { children, expectTLV } from "./der.ts";
import { checkLeafProfile, type Purpose, SvidProfileError } from "./svid-profile.ts";
import { checkLeafProfileReference } from "./svid-profile-reference.ts";
import { issueFor, testCA } from "./testing.ts";
import { checkCSR } from "./x509-svid.ts";
import { checkCSRNative } from "./x509-svid-issue.ts";

const TD = "example.org";
const ID = `spiffe://${TD}/ns/agents/sa/researcher`;
const ca = await testCA(TD);
const byo = await byoCA("bring-your-own CA");
const mid = await intermediateCA(byo, "intermediate CA");
const svid = await issueFor(ca, ID);
const leaves = new Map<LeafAttack, Uint8Array>();
for (const a of LEAF_ATTACKS) leaves.set(a, (await attackLeaf(byo, a, ID)).der);

const PURPOSES: (readonly Purpose[])[] = [[], ["serverAuth"], ["clientAuth"], ["serverAuth", "clientAuth"]];

/** The outcome of a profile check: the SPIFFE ID, or the refusal code. */
function outcome(check: () => { spiffeID: string }): { id: string } | { refusal: string } {
  try {
    return { id: check().spiffeID };
  } catch (e) {
    if (e instanceof SvidProfileError) return { refusal: e.refusal };
    throw e;
  }
}
const native = (der: Uint8Array, purposes: readonly Purpose[], trustDomain?: string) =>
  outcome(() => checkLeafProfile(der, { purposes, trustDomain }));
const reference = (der: Uint8Array, purposes: readonly Purpose[], trustDomain?: string) =>
  outcome(() => checkLeafProfileReference(der, { purposes, trustDomain }));

/** The CA check of the trust bundle, natively and by the reference (parse, extensions, CA:true). */
function nativeCA(der: Uint8Array): boolean {
  try {
    caCertificate(der, "block 0", "test bundle");
    return true;
  } catch {
    return false;
  }
}
function referenceCA(der: Uint8Array): boolean {
  try {
    const c = new x509.X509Certificate(der);
    void c.extensions;
    return c.getExtension(x509.BasicConstraintsExtension)?.ca === true;
  } catch {
    return false;
  }
}

describe("Certificate: the same fields as @peculiar/x509 on real certificates", () => {
  const all: [string, Uint8Array][] = [
    ["issued SVID", new Uint8Array(svid.cert.rawData)],
    ["issuer CA", new Uint8Array(ca.cert.rawData)],
    ["BYO CA", new Uint8Array(byo.cert.rawData)],
    ["intermediate CA", new Uint8Array(mid.cert.rawData)],
    ...[...leaves].map(([a, der]): [string, Uint8Array] => [`attack leaf ${a}`, der]),
  ];
  for (const [name, der] of all) {
    it(name, () => {
      const ours = new Certificate(der);
      const ref = new x509.X509Certificate(der);
      expect(ours.serialNumber).toBe(ref.serialNumber);
      expect(ours.notBefore.getTime()).toBe(ref.notBefore.getTime());
      expect(ours.notAfter.getTime()).toBe(ref.notAfter.getTime());
      expect(ours.spki.equals(Buffer.from(ref.publicKey.rawData))).toBe(true);
      expect(ours.extensions.map((e) => [e.oid, e.critical])).toEqual(
        ref.extensions.map((e) => [e.type, e.critical]),
      );
      const bc = ref.getExtension(x509.BasicConstraintsExtension);
      expect(ours.basicConstraints()).toEqual(
        bc ? { ca: bc.ca, ...(bc.pathLength !== undefined ? { pathLength: bc.pathLength } : {}) } : undefined,
      );
      expect(ours.keyUsage()).toBe(ref.getExtension(x509.KeyUsagesExtension)?.usages);
      expect(ours.extKeyUsage()).toEqual(
        ref.getExtension(x509.ExtendedKeyUsageExtension)?.usages.map(String),
      );
      const refNames = ref.getExtension(x509.SubjectAlternativeNameExtension)?.names.items;
      expect(ours.subjectAltNames()?.map((n) => [n.type, String(n.value)])).toEqual(
        refNames?.map((n) => [
          { url: "uri", dns: "dns", email: "email" }[n.type as string] ?? n.type,
          n.value,
        ]),
      );
    });
  }

  it("reads every keyUsage bit at the position @peculiar/x509 does", () => {
    for (const [name, flag] of Object.entries(KeyUsage)) {
      const ext = new x509.KeyUsagesExtension(flag, true);
      expect(parseKeyUsage(Buffer.from(ext.value)), name).toBe(flag);
    }
    const all = Object.values(KeyUsage).reduce((a, b) => a | b, 0);
    expect(parseKeyUsage(Buffer.from(new x509.KeyUsagesExtension(all, true).value))).toBe(all);
  });

  it("reads a PEM chain as the certificates it holds, in order", () => {
    const chain = certificatesFromPem(`${svid.chainPem}`);
    expect(chain.map((c) => c.serialNumber)).toEqual([svid.serial, ca.cert.serialNumber]);
  });
});

describe("checkLeafProfile: the same verdict as the @peculiar/x509 reference", () => {
  for (const attack of LEAF_ATTACKS) {
    it(`attack leaf ${attack}, every purpose, with and without a trust domain`, () => {
      const der = leaves.get(attack)!;
      for (const p of PURPOSES) {
        for (const td of [undefined, TD, "other.org"]) {
          expect(native(der, p, td), `${p.join("+")} ${td}`).toEqual(reference(der, p, td));
        }
      }
    });
  }
  it("the issued SVID", () => {
    const der = new Uint8Array(svid.cert.rawData);
    for (const p of PURPOSES) expect(native(der, p, TD)).toEqual({ id: ID });
  });
  it("a CA is never a leaf, and is a bundle CA to both", () => {
    for (const c of [ca.cert, byo.cert, mid.cert]) {
      const der = new Uint8Array(c.rawData);
      expect(native(der, [])).toEqual(reference(der, []));
      expect(nativeCA(der)).toBe(true);
      expect(referenceCA(der)).toBe(true);
    }
    for (const der of leaves.values()) expect(nativeCA(der)).toBe(referenceCA(der));
  });
});

/** Byte offsets of the extensions [3] of a certificate: where corruption says the most. */
function extensionsRange(der: Uint8Array): [number, number] {
  const cert = expectTLV(der, 0, 0x30, der.length, "cert");
  const tbs = children(der, cert)[0]!;
  const exts = children(der, tbs).find((t) => t.tag === 0xa3)!;
  return [exts.start, exts.end];
}

/** A corruption: some bytes overwritten, then perhaps a cut or an insertion. */
const corruption = (der: Uint8Array, focus: [number, number]) =>
  fc
    .record({
      writes: fc.array(
        fc.record({
          inFocus: fc.boolean(),
          at: fc.nat(),
          byte: fc.oneof(
            fc.integer({ min: 0, max: 255 }),
            fc.constantFrom(0x00, 0x01, 0x7f, 0x80, 0x81, 0xff),
          ),
        }),
        { minLength: 1, maxLength: 3 },
      ),
      edit: fc.oneof(
        fc.constant(undefined),
        fc.record({ kind: fc.constant("cut" as const), at: fc.nat(), n: fc.integer({ min: 1, max: 4 }) }),
        fc.record({
          kind: fc.constant("insert" as const),
          at: fc.nat(),
          byte: fc.integer({ min: 0, max: 255 }),
        }),
      ),
    })
    .map(({ writes, edit }) => {
      let out = Buffer.from(der);
      for (const w of writes) {
        const at = w.inFocus ? focus[0] + (w.at % (focus[1] - focus[0])) : w.at % out.length;
        out[at] = w.byte;
      }
      if (edit?.kind === "cut") {
        const at = edit.at % out.length;
        out = Buffer.concat([out.subarray(0, at), out.subarray(at + edit.n)]);
      } else if (edit?.kind === "insert") {
        const at = edit.at % out.length;
        out = Buffer.concat([out.subarray(0, at), Buffer.from([edit.byte]), out.subarray(at)]);
      }
      return new Uint8Array(out);
    });

describe("never more permissive than the reference on corrupted certificates (property)", () => {
  const bases: [string, Uint8Array][] = [
    ["issued SVID", new Uint8Array(svid.cert.rawData)],
    ["two-uri-sans leaf", leaves.get("two-uri-sans")!],
    ["leaf-with-path-length", leaves.get("leaf-with-path-length")!],
    ["no-key-usage leaf", leaves.get("no-key-usage")!],
  ];
  for (const [name, der] of bases) {
    it(`leaf profile, ${name}: whatever the native check accepts, the reference accepts with the same ID`, () => {
      fc.assert(
        fc.property(corruption(der, extensionsRange(der)), fc.constantFrom(...PURPOSES), (bad, purposes) => {
          const ours = native(bad, purposes, TD);
          if ("id" in ours) expect(reference(bad, purposes, TD)).toEqual(ours);
        }),
        { numRuns: 400 },
      );
    });
  }
  for (const [name, c] of [
    ["issuer CA", ca.cert],
    ["intermediate CA", mid.cert],
  ] as const) {
    it(`bundle CA check, ${name}: whatever the native check accepts, the reference accepts`, () => {
      const der = new Uint8Array(c.rawData);
      fc.assert(
        fc.property(corruption(der, extensionsRange(der)), (bad) => {
          if (nativeCA(bad)) expect(referenceCA(bad)).toBe(true);
        }),
        { numRuns: 400 },
      );
    });
  }
});

describe("createCSR (native): what the issuer's two CSR checks and openssl accept", () => {
  const dir = mkdtempSync(join(tmpdir(), "warden-csr-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("with the SPIFFE ID as its one URI SAN, for random workload IDs (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        // Kubernetes names: a namespace is a DNS label, a ServiceAccount a DNS subdomain (so never
        // "." or "..", which no SPIFFE ID may carry as a path segment).
        fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,28}[a-z0-9])?$/),
        fc.stringMatching(/^[a-z0-9]([a-z0-9.-]{0,28}[a-z0-9])?$/),
        async (ns, sa) => {
          const id = `spiffe://${TD}/ns/${ns}/sa/${sa}`;
          const keys = await generateP256();
          const pem = await createCSR(keys, id);
          const key = await checkCSR(pem, id);
          expect(Buffer.from(await globalThis.crypto.subtle.exportKey("spki", key))).toEqual(
            checkCSRNative(pem, id).spki,
          );
        },
      ),
      { numRuns: 20 },
    );
  });

  it("with no extension when the ID is not known yet; openssl verifies both forms", async () => {
    const keys = await generateP256();
    for (const [name, pem] of [
      ["no-san", await createCSR(keys)],
      ["san", await createCSR(keys, ID)],
    ] as const) {
      const file = join(dir, `${name}.csr`);
      writeFileSync(file, pem);
      const out = execFileSync("openssl", ["req", "-in", file, "-noout", "-verify", "-text"], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
      });
      if (name === "san") expect(out).toContain(`URI:${ID}`);
      else expect(out).not.toContain("URI:");
    }
    // Without a SAN the issuer names the workload from its token: both checks take it.
    const bare = await createCSR(keys);
    expect(checkCSRNative(bare, ID).spki).toEqual(checkCSRNative(await createCSR(keys, ID), ID).spki);
    await expect(checkCSR(bare, ID)).resolves.toBeTruthy();
  });

  it("refuses a key that is not P-256", async () => {
    const { generateKeyPairSync } = await import("node:crypto");
    const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
    await expect(createCSR(rsa, ID)).rejects.toThrow(/P-256/);
    const p384 = generateKeyPairSync("ec", { namedCurve: "P-384" });
    await expect(createCSR(p384, ID)).rejects.toThrow(/P-256/);
  });
});
