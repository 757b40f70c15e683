// Where the gateway's X.509-SVID comes from. The gateway depends only on this small interface:
// the issuer client of lib/identity (key made in memory, renewed at half-life) implements it in
// issuer mode, and FileSvidSource implements it for Secret delivery and tests.
import { createPrivateKey, X509Certificate } from "node:crypto";
import { checkLeafProfile } from "../../lib/identity/svid-profile.ts";

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

/** The SPIFFE ID of our own SVID: the leaf must pass the full X.509-SVID profile (both TLS roles). */
export function spiffeIDOfCert(cert: X509Certificate): string {
  return checkLeafProfile(new Uint8Array(cert.raw), { purposes: ["serverAuth", "clientAuth"] }).spiffeID;
}

/** Checks a PEM chain + key pair and derives the SPIFFE ID and expiry. Throws on any mismatch. */
export function svidFromPem(certChainPem: string, keyPem: string, bundlePem: string): Svid {
  const first = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/.exec(certChainPem);
  if (!first) throw new Error("the SVID certificate file has no PEM certificate");
  const leaf = new X509Certificate(first[0]);
  let spiffeID: string;
  try {
    spiffeID = spiffeIDOfCert(leaf);
  } catch (e) {
    throw new Error(`the SVID certificate is not a valid X.509-SVID: ${(e as Error).message}`);
  }
  if (!leaf.checkPrivateKey(createPrivateKey(keyPem)))
    throw new Error("the SVID key does not match the certificate");
  return { certChainPem, keyPem, bundlePem, spiffeID, notAfter: new Date(leaf.validTo) };
}

export function secondsUntil(svid: Svid | undefined, now = Date.now()): number {
  return svid ? Math.floor((svid.notAfter.getTime() - now) / 1000) : 0;
}
