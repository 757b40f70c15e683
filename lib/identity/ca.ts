// The signing CA: a self-signed P-256 root (CA:true critical, keyCertSign+cRLSign critical, random
// serial, SKI/AKI), or a bring-your-own CA loaded from PEM and checked before it is trusted.

import { ValidationError } from "../errors.ts";
import type { CryptoKey, EcKeyAlgorithm } from "./crypto.ts";
import {
  certsFromPem,
  ECDSA_SHA256,
  generateP256,
  privateKeyFromPem,
  privateKeyToPem,
  publicKeyOf,
  randomSerial,
  subtle,
  x509,
} from "./crypto.ts";
import { validateTrustDomain } from "./spiffe-id.ts";

/** Clock skew allowance applied to every notBefore we write. */
export const BACKDATE_MS = 30_000;

export interface CA {
  cert: x509.X509Certificate;
  certPem: string;
  privateKey: CryptoKey;
  keyPem: string;
  notBefore: Date;
  notAfter: Date;
  serial: string;
  /** Intermediates above `cert` (bring-your-own CA that is not a root), sent after the leaf. */
  chain?: x509.X509Certificate[];
}

export interface CreateRootCAOptions {
  trustDomain: string;
  /** Lifetime of the root, in milliseconds. */
  ttlMs: number;
  now?: Date;
  commonName?: string;
  /** notBefore backdating for clock skew; defaults to BACKDATE_MS (short-lived test CAs pass less). */
  backdateMs?: number;
}

export async function createRootCA(opts: CreateRootCAOptions): Promise<CA> {
  validateTrustDomain(opts.trustDomain);
  if (!(opts.ttlMs > 0)) throw new ValidationError("CA options", [{ path: "ttlMs", message: "must be > 0" }]);
  const now = opts.now ?? new Date();
  const keys = await generateP256();
  const serial = randomSerial();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial,
    name: [
      { CN: [opts.commonName ?? "agent-warden CA"] },
      { O: ["agent-warden"] },
      { OU: [opts.trustDomain] },
    ],
    notBefore: new Date(now.getTime() - (opts.backdateMs ?? BACKDATE_MS)),
    notAfter: new Date(now.getTime() + opts.ttlMs),
    keys,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      // The trust domain's own SPIFFE ID, as SPIRE puts on its CAs (optional per the X509-SVID spec).
      new x509.SubjectAlternativeNameExtension(
        [{ type: "url", value: `spiffe://${opts.trustDomain}` }],
        false,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return {
    cert,
    certPem: `${cert.toString("pem")}\n`,
    privateKey: keys.privateKey,
    keyPem: await privateKeyToPem(keys.privateKey),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    serial: cert.serialNumber,
  };
}

/**
 * Loads a CA from PEM (a self-managed root read back from its Secret, or a bring-your-own CA) and
 * refuses one that cannot safely sign SVIDs: not CA:true, no keyCertSign, not P-256, key mismatch.
 */
export async function loadCA(certPem: string, keyPem: string): Promise<CA> {
  const certs = certsFromPem(certPem);
  const cert = certs[0];
  const fail = (message: string) => new ValidationError("CA", [{ path: "tls.crt", message }]);
  if (!cert) throw fail("no CERTIFICATE PEM block found");
  const bc = cert.getExtension(x509.BasicConstraintsExtension);
  if (!bc?.ca) throw fail("the certificate is not a CA (basicConstraints CA:true is required)");
  const ku = cert.getExtension(x509.KeyUsagesExtension);
  if (!ku || (ku.usages & x509.KeyUsageFlags.keyCertSign) === 0)
    throw fail("the CA certificate lacks keyUsage keyCertSign");
  const alg = cert.publicKey.algorithm as EcKeyAlgorithm;
  if (alg.name !== "ECDSA" || alg.namedCurve !== "P-256") throw fail("the CA key must be ECDSA P-256");
  let privateKey: CryptoKey;
  try {
    privateKey = await privateKeyFromPem(keyPem);
  } catch (err) {
    throw new ValidationError("CA", [
      { path: "tls.key", message: `not a PKCS#8 P-256 key: ${(err as Error).message}` },
    ]);
  }
  const want = Buffer.from(cert.publicKey.rawData);
  const have = Buffer.from(await subtle.exportKey("spki", await publicKeyOf(privateKey)));
  if (!want.equals(have))
    throw new ValidationError("CA", [{ path: "tls.key", message: "the key does not match the certificate" }]);
  return {
    cert,
    certPem: `${cert.toString("pem")}\n`,
    privateKey,
    keyPem,
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    serial: cert.serialNumber,
    chain: certs.slice(1),
  };
}

/** Fraction of the CA's lifetime elapsed at `now` (0 at notBefore, 1 at notAfter). */
export function lifeElapsed(ca: Pick<CA, "notBefore" | "notAfter">, now: Date): number {
  const total = ca.notAfter.getTime() - ca.notBefore.getTime();
  return total <= 0 ? 1 : (now.getTime() - ca.notBefore.getTime()) / total;
}
