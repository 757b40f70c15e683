// X.509-SVID chain verification without an ASN.1 library (the SVID client in the gateway runs it on
// every SVID it receives): the leaf profile of svid-profile.ts, validity, and signatures up to a
// CA of the trust bundle, checked by OpenSSL (node:crypto's X509Certificate.verify).
import { DeniedError } from "../errors.ts";
import { type Certificate, type CertificateInput, certificateOf, KeyUsage } from "./certificate.ts";
import { ALLOWED_SIGNATURE_OIDS, checkLeafProfile, SvidProfileError } from "./svid-profile.ts";

export interface VerifiedSVID {
  spiffeID: string;
  serial: string;
  notBefore: Date;
  notAfter: Date;
}

/** Longest chain walked from the leaf to a bundle CA (leaf, intermediates, root). */
const MAX_CHAIN_DEPTH = 5;

/**
 * Verifies an X.509-SVID chain (leaf first) against trusted CAs: the full leaf profile
 * (svid-profile.ts: CA:false, keyUsage, EKU serverAuth+clientAuth, one SAN extension with exactly
 * one URI SAN, no unknown critical extension, no weak key or signature), validity at `now`,
 * signatures up to a bundle CA with every CA's path length honoured, trust domain, and optionally
 * the exact expected SPIFFE ID. Certificates may be given as DER, as node:crypto or @peculiar/x509
 * objects, or as parsed Certificates.
 */
export async function verifyX509SVID(opts: {
  chain: readonly CertificateInput[];
  bundle: readonly CertificateInput[];
  trustDomain?: string;
  expectedID?: string;
  now?: Date;
}): Promise<VerifiedSVID> {
  const now = opts.now ?? new Date();
  if (!opts.chain[0]) throw new DeniedError("SVIDMissing", "no certificate was presented");
  let leaf: Certificate;
  try {
    leaf = certificateOf(opts.chain[0]);
  } catch (e) {
    throw new SvidProfileError("Malformed", `the certificate does not parse: ${(e as Error).message}`);
  }
  const { spiffeID } = checkLeafProfile(leaf, {
    trustDomain: opts.trustDomain,
    purposes: ["serverAuth", "clientAuth"],
  });
  if (opts.expectedID && spiffeID !== opts.expectedID) {
    throw new DeniedError("SVIDWrongID", `expected ${opts.expectedID}, got ${spiffeID}`);
  }
  if (!withinValidity(leaf, now))
    throw new DeniedError("SVIDExpired", "the X.509-SVID is not valid at this time");
  // A bundle CA or intermediate that does not parse can vouch for nothing: it is skipped.
  const bundle = parsedOrSkipped(opts.bundle);
  let current = leaf;
  let pathLengthRefused = false;
  // `depth` = intermediates between the leaf and the CA being tried as issuer.
  for (let depth = 0; depth < MAX_CHAIN_DEPTH; depth++) {
    for (const root of bundle) {
      const v = issuedBy(current, root, depth, now);
      if (v === "ok") {
        return { spiffeID, serial: leaf.serialNumber, notBefore: leaf.notBefore, notAfter: leaf.notAfter };
      }
      if (v === "pathLength") pathLengthRefused = true;
    }
    const nextInput = opts.chain[depth + 1];
    if (!nextInput) break;
    const [next] = parsedOrSkipped([nextInput]);
    if (!next) break;
    const v = issuedBy(current, next, depth, now);
    if (v === "pathLength") pathLengthRefused = true;
    if (v !== "ok") break;
    current = next;
  }
  if (pathLengthRefused) {
    throw new DeniedError(
      "SVIDPathLength",
      "the chain has more intermediates than a CA's pathLength constraint allows",
    );
  }
  throw new DeniedError("SVIDUntrusted", "the X.509-SVID does not chain to a CA in the trust bundle");
}

function parsedOrSkipped(certs: readonly CertificateInput[]): Certificate[] {
  const out: Certificate[] = [];
  for (const c of certs) {
    try {
      out.push(certificateOf(c));
    } catch {
      // not a certificate this reader accepts: trusted for nothing
    }
  }
  return out;
}

/**
 * Whether `issuer` signed `cert` and may: the issuer name is the CA's subject byte for byte, the CA
 * has CA:true (and keyCertSign when keyUsage is present), is valid now, the signature algorithm is
 * one we accept, OpenSSL verifies the signature, and the CA's pathLength allows `intermediatesBelow`.
 */
function issuedBy(
  cert: Certificate,
  issuer: Certificate,
  intermediatesBelow: number,
  now: Date,
): "ok" | "no" | "pathLength" {
  if (!cert.issuerDER.equals(issuer.subjectDER)) return "no";
  const bc = issuer.basicConstraints();
  const ku = issuer.keyUsage();
  if (!bc?.ca || (ku !== undefined && (ku & KeyUsage.keyCertSign) === 0)) return "no";
  if (!withinValidity(issuer, now)) return "no";
  if (!ALLOWED_SIGNATURE_OIDS.has(cert.signatureOID)) return "no";
  try {
    if (!cert.x509.verify(issuer.x509.publicKey)) return "no";
  } catch {
    return "no";
  }
  if (bc.pathLength !== undefined && intermediatesBelow > bc.pathLength) return "pathLength";
  return "ok";
}

function withinValidity(cert: Certificate, now: Date): boolean {
  return cert.notBefore.getTime() <= now.getTime() && now.getTime() < cert.notAfter.getTime();
}
