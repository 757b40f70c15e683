// Where the gateway's X.509-SVID comes from. The gateway depends only on this small interface:
// the issuer client of lib/identity (key made in memory, renewed at half-life) implements it in
// issuer mode, and FileSvidSource implements it for Secret delivery and tests.
import { createPrivateKey, X509Certificate } from "node:crypto";

export interface Svid {
  /** Leaf first, then intermediates (PEM). */
  certChainPem: string;
  /** PKCS#8 PEM private key of the leaf. */
  keyPem: string;
  /** Trust bundle (PEM roots) to verify peers with. */
  bundlePem: string;
  spiffeID: string;
  notAfter: Date;
}

export interface SvidSource {
  /** The SVID in force, or undefined while none has been obtained. */
  current(): Svid | undefined;
  /** Resolves once a first SVID is available. */
  ready(): Promise<void>;
  /** Seconds until the current SVID expires (≤ 0 when expired or absent). */
  secondsLeft(): number;
  /** Called after every rotation; returns an unsubscribe function. */
  onUpdate(fn: (svid: Svid) => void): () => void;
  close(): void;
}

/** The SPIFFE ID in a certificate's URI SAN (exactly one is required by the X509-SVID spec). */
export function spiffeIDOfCert(cert: X509Certificate): string | undefined {
  const uris = [...(cert.subjectAltName ?? "").matchAll(/URI:([^,\s]+)/g)].map((m) => m[1]!);
  if (uris.length !== 1 || !uris[0]!.startsWith("spiffe://")) return undefined;
  return uris[0];
}

/** Checks a PEM chain + key pair and derives the SPIFFE ID and expiry. Throws on any mismatch. */
export function svidFromPem(certChainPem: string, keyPem: string, bundlePem: string): Svid {
  const first = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/.exec(certChainPem);
  if (!first) throw new Error("the SVID certificate file has no PEM certificate");
  const leaf = new X509Certificate(first[0]);
  const spiffeID = spiffeIDOfCert(leaf);
  if (!spiffeID) throw new Error("the SVID certificate must carry exactly one spiffe:// URI SAN");
  if (!leaf.checkPrivateKey(createPrivateKey(keyPem)))
    throw new Error("the SVID key does not match the certificate");
  return { certChainPem, keyPem, bundlePem, spiffeID, notAfter: new Date(leaf.validTo) };
}

export function secondsUntil(svid: Svid | undefined, now = Date.now()): number {
  return svid ? Math.floor((svid.notAfter.getTime() - now) / 1000) : 0;
}
