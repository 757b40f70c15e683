// Adversarial table for verifyX509SVID: one row per certificate built to break an X.509-SVID rule,
// each signed for real by a bring-your-own CA that is in the trust bundle. Every row must be
// refused with the reason that names the broken rule; the control row must verify.
import * as fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DeniedError } from "../errors.ts";
import { attackLeaf, byoCA, type LeafAttack, pathLengthViolation } from "./attack-certs.ts";
import { verifyX509SVID } from "./x509-svid.ts";

const TD = "example.org";
const ID = `spiffe://${TD}/ns/agents/sa/researcher`;
const byo = await byoCA("bring-your-own CA");

async function refusal(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => "accepted",
    (e: unknown) => e,
  );
  if (err === "accepted") return "accepted";
  expect(err).toBeInstanceOf(DeniedError);
  return (err as DeniedError).reason;
}

const verify = (chain: Awaited<ReturnType<typeof attackLeaf>>["cert"][]) =>
  verifyX509SVID({ chain, bundle: [byo.cert], trustDomain: TD });

const ROWS: { attack: LeafAttack; reason: string }[] = [
  { attack: "dns-san-with-uri-text", reason: "SVIDSubjectAltName" },
  { attack: "email-san-with-uri-text", reason: "SVIDSubjectAltName" },
  { attack: "ca-true-leaf", reason: "SVIDNotALeaf" },
  { attack: "key-cert-sign-leaf", reason: "SVIDKeyUsage" },
  { attack: "crl-sign-leaf", reason: "SVIDKeyUsage" },
  { attack: "no-digital-signature", reason: "SVIDKeyUsage" },
  { attack: "no-key-usage", reason: "SVIDKeyUsage" },
  { attack: "no-extended-key-usage", reason: "SVIDExtKeyUsage" },
  { attack: "two-san-extensions", reason: "SVIDDuplicateExtension" },
  { attack: "two-uri-sans", reason: "SVIDSubjectAltName" },
  { attack: "rsa-1024-key", reason: "SVIDWeakKey" },
  { attack: "sha1-signature", reason: "SVIDWeakSignature" },
  { attack: "unknown-critical-extension", reason: "SVIDCriticalExtension" },
  { attack: "leaf-with-path-length", reason: "SVIDNotALeaf" },
  { attack: "wrong-trust-domain", reason: "SVIDTrustDomain" },
  { attack: "not-a-spiffe-uri", reason: "SVIDSpiffeID" },
];

describe("verifyX509SVID: attack table (each leaf signed by a CA in the bundle)", () => {
  it("control: a leaf that follows every rule verifies", async () => {
    const leaf = await attackLeaf(byo, "valid", ID);
    await expect(verify([leaf.cert])).resolves.toMatchObject({ spiffeID: ID });
  });
  for (const row of ROWS) {
    it(`refuses ${row.attack} (${row.reason})`, async () => {
      const leaf = await attackLeaf(byo, row.attack, ID);
      expect(await refusal(verify([leaf.cert]))).toBe(row.reason);
    });
  }
  it("refuses path-length-exceeded: an intermediate under a pathLength:0 root (SVIDPathLength)", async () => {
    const root = await byoCA("root with pathLength 0", 0);
    const leaf = await pathLengthViolation(root, ID);
    const chain = [leaf.cert, ...(await import("./crypto.ts")).certsFromPem(leaf.chainPem).slice(1)];
    expect(await refusal(verifyX509SVID({ chain, bundle: [root.cert], trustDomain: TD }))).toBe(
      "SVIDPathLength",
    );
  });
  it("control: the same intermediate chain verifies under a root without a path length limit", async () => {
    const root = await byoCA("root without pathLength");
    const leaf = await pathLengthViolation(root, ID);
    const chain = [leaf.cert, ...(await import("./crypto.ts")).certsFromPem(leaf.chainPem).slice(1)];
    await expect(verifyX509SVID({ chain, bundle: [root.cert], trustDomain: TD })).resolves.toMatchObject({
      spiffeID: ID,
    });
  });
});

describe("verifyX509SVID: SAN values (property)", () => {
  it("never reads a SPIFFE ID out of a DNS or email SAN, whatever its text", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("dns-san-with-uri-text" as const, "email-san-with-uri-text" as const),
        fc.stringMatching(/^[a-z0-9-]{1,20}$/),
        async (attack, sa) => {
          const leaf = await attackLeaf(byo, attack, `spiffe://${TD}/ns/agents/sa/${sa}`);
          expect(await refusal(verify([leaf.cert]))).toBe("SVIDSubjectAltName");
        },
      ),
      { numRuns: 15 },
    );
  });
});
