// Certificates built to break the X.509-SVID rules, for the adversarial tests (never imported by
// production code). Each is signed for real by a CA the test trusts (a "bring-your-own" CA in the
// bundle), so OpenSSL's chain check passes wherever OpenSSL does not itself object: only the
// profile check stands between such a certificate and an identity.
import { generateKeyPairSync } from "node:crypto";
import type { CryptoKey } from "./crypto.ts";
import {
  certsToPem,
  ECDSA_SHA256,
  generateP256,
  privateKeyToPem,
  randomSerial,
  subtle,
  x509,
} from "./crypto.ts";

export interface TestCA {
  cert: x509.X509Certificate;
  certPem: string;
  privateKey: CryptoKey;
  /** Certificates sent after the leaf (intermediates), if the leaves it signs need them. */
  chain: x509.X509Certificate[];
}

/** A self-signed P-256 CA; `pathLength` as given (a BYO CA may set one). */
export async function byoCA(name: string, pathLength?: number): Promise<TestCA> {
  const keys = await generateP256();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=${name}`,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 24 * 3600_000),
    keys,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(true, pathLength, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert, certPem: `${cert.toString("pem")}\n`, privateKey: keys.privateKey, chain: [] };
}

/** An intermediate CA under `parent` (its leaves are sent with the intermediate after them). */
export async function intermediateCA(parent: TestCA, name: string): Promise<TestCA> {
  const keys = await generateP256();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: `CN=${name}`,
    issuer: parent.cert.subjectName,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 24 * 3600_000),
    publicKey: keys.publicKey,
    signingKey: parent.privateKey,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    ],
  });
  return {
    cert,
    certPem: `${cert.toString("pem")}\n`,
    privateKey: keys.privateKey,
    chain: [cert, ...parent.chain],
  };
}

/** The attacks, by name. `valid` is the control: a leaf that follows every rule. */
export const LEAF_ATTACKS = [
  "valid",
  "dns-san-with-uri-text",
  "email-san-with-uri-text",
  "ca-true-leaf",
  "key-cert-sign-leaf",
  "crl-sign-leaf",
  "no-digital-signature",
  "no-key-usage",
  "no-extended-key-usage",
  "two-san-extensions",
  "two-uri-sans",
  "rsa-1024-key",
  "sha1-signature",
  "unknown-critical-extension",
  "leaf-with-path-length",
  "wrong-trust-domain",
  "not-a-spiffe-uri",
] as const;
export type LeafAttack = (typeof LEAF_ATTACKS)[number];

export interface Leaf {
  cert: x509.X509Certificate;
  der: Uint8Array;
  /** Leaf then intermediates (what a TLS peer sends). */
  chainPem: string;
  keyPem: string;
}

const KU = x509.KeyUsageFlags;
const EKU_BOTH = [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth];

/**
 * Signs a leaf for `spiffeID` under `ca`, broken the way `attack` says. Everything not named by the
 * attack is as the issuer makes it (P-256, CA:false, digitalSignature, serverAuth+clientAuth).
 */
export async function attackLeaf(ca: TestCA, attack: LeafAttack, spiffeID: string): Promise<Leaf> {
  let publicKey: CryptoKey;
  let keyPem: string;
  if (attack === "rsa-1024-key") {
    const kp = generateKeyPairSync("rsa", { modulusLength: 1024 });
    keyPem = kp.privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    publicKey = await subtle.importKey(
      "spki",
      kp.publicKey.export({ type: "spki", format: "der" }),
      { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
      true,
      ["verify"],
    );
  } else {
    const kp = await generateP256();
    publicKey = kp.publicKey;
    keyPem = await privateKeyToPem(kp.privateKey);
  }
  const uri = (value: string) => new x509.SubjectAlternativeNameExtension([{ type: "url", value }], false);
  let bc: x509.Extension | undefined = new x509.BasicConstraintsExtension(false, undefined, true);
  let ku: x509.Extension | undefined = new x509.KeyUsagesExtension(KU.digitalSignature, true);
  let eku: x509.Extension | undefined = new x509.ExtendedKeyUsageExtension(EKU_BOTH, false);
  let sans: x509.Extension[] = [uri(spiffeID)];
  const extra: x509.Extension[] = [];
  switch (attack) {
    case "valid":
    case "rsa-1024-key":
    case "sha1-signature":
      break;
    case "dns-san-with-uri-text":
      sans = [new x509.SubjectAlternativeNameExtension([{ type: "dns", value: `URI:${spiffeID}` }], false)];
      break;
    case "email-san-with-uri-text":
      sans = [new x509.SubjectAlternativeNameExtension([{ type: "email", value: `URI:${spiffeID}` }], false)];
      break;
    case "ca-true-leaf":
      bc = new x509.BasicConstraintsExtension(true, undefined, true);
      break;
    case "key-cert-sign-leaf":
      ku = new x509.KeyUsagesExtension(KU.digitalSignature | KU.keyCertSign, true);
      break;
    case "crl-sign-leaf":
      ku = new x509.KeyUsagesExtension(KU.digitalSignature | KU.cRLSign, true);
      break;
    case "no-digital-signature":
      // keyAgreement alone: OpenSSL's ssl client/server purpose accepts it for an EC key.
      ku = new x509.KeyUsagesExtension(KU.keyAgreement, true);
      break;
    case "no-key-usage":
      ku = undefined;
      break;
    case "no-extended-key-usage":
      eku = undefined;
      break;
    case "two-san-extensions":
      sans = [uri(spiffeID), uri(spiffeID.replace(/[^/]+$/, "second-identity"))];
      break;
    case "two-uri-sans":
      sans = [
        new x509.SubjectAlternativeNameExtension(
          [
            { type: "url", value: spiffeID },
            { type: "url", value: spiffeID.replace(/[^/]+$/, "second-identity") },
          ],
          false,
        ),
      ];
      break;
    case "unknown-critical-extension":
      // 1.3.6.1.4.1.57264.99 (a private arc) with an empty SEQUENCE, marked critical.
      extra.push(new x509.Extension("1.3.6.1.4.1.57264.99", true, new Uint8Array([0x30, 0x00])));
      break;
    case "leaf-with-path-length":
      bc = new x509.BasicConstraintsExtension(false, 0, true);
      break;
    case "wrong-trust-domain":
      sans = [uri(spiffeID.replace(/^spiffe:\/\/[^/]+/, "spiffe://evil.example"))];
      break;
    case "not-a-spiffe-uri":
      sans = [uri(spiffeID.replace(/^spiffe:/, "https:"))];
      break;
  }
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: "O=attacker",
    issuer: ca.cert.subjectName,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 3600_000),
    publicKey,
    signingKey: ca.privateKey,
    signingAlgorithm: attack === "sha1-signature" ? { name: "ECDSA", hash: "SHA-1" } : ECDSA_SHA256,
    extensions: [...[bc, ku, eku].filter((e): e is x509.Extension => !!e), ...sans, ...extra],
  });
  return {
    cert,
    der: new Uint8Array(cert.rawData),
    chainPem: certsToPem([cert, ...ca.chain]),
    keyPem,
  };
}

/** A valid-looking leaf under an intermediate that a pathLength:0 root forbids. */
export async function pathLengthViolation(root: TestCA, spiffeID: string): Promise<Leaf> {
  const mid = await intermediateCA(root, "attacker intermediate");
  return attackLeaf(mid, "valid", spiffeID);
}
