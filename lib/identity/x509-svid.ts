// X.509-SVID signing and verification (SPIFFE X509-SVID spec): exactly one URI SAN (the SPIFFE ID),
// CA:false, keyUsage digitalSignature (critical), EKU serverAuth+clientAuth, random serial, notBefore
// backdated for skew, notAfter never past the CA's. A CSR contributes its public key and nothing
// else: every extension or attribute it asks for beyond the expected URI SAN is refused.

import { DeniedError } from "../errors.ts";
import type { CA } from "./ca.ts";
import type { CryptoKey, EcKeyAlgorithm } from "./crypto.ts";
import { EC_P256, subtle, x509 } from "./crypto.ts";
import { parseCSR } from "./csr.ts";
import { checkLeafProfile } from "./svid-profile.ts";
import { checkCSRNative, checkIssueOptions, type IssuedDER, issueX509SVIDDER } from "./x509-svid-issue.ts";

const OID_EXTENSION_REQUEST = "1.2.840.113549.1.9.14";
const OID_SAN = "2.5.29.17";
const OID_BASIC_CONSTRAINTS = "2.5.29.19";
const OID_EC_PUBLIC_KEY = "1.2.840.10045.2.1";
const OID_P256 = "1.2.840.10045.3.1.7";

export interface IssuedSVID {
  cert: x509.X509Certificate;
  certPem: string;
  /** Leaf first, then the signing CA (SPIFFE: the leaf, then any intermediates; we add the root too). */
  chainPem: string;
  serial: string;
  spiffeID: string;
  notBefore: Date;
  notAfter: Date;
}

export interface SignOptions {
  ca: CA;
  spiffeID: string;
  ttlMs: number;
  now?: Date;
}

/** Checks a CSR and returns its public key, or throws DeniedError/ValidationError with a reason. */
export async function checkCSR(csrPem: string, expectedID: string): Promise<CryptoKey> {
  const csr = parseCSR(csrPem);
  const spki = csr.publicKey;
  const alg = spki.algorithm as EcKeyAlgorithm;
  const spkiAlg = readSpkiAlgorithm(spki.rawData);
  if (
    alg.name !== "ECDSA" ||
    alg.namedCurve !== "P-256" ||
    spkiAlg.oid !== OID_EC_PUBLIC_KEY ||
    spkiAlg.curve !== OID_P256
  ) {
    throw new DeniedError(
      "CSRKeyNotP256",
      "the CSR's key must be ECDSA P-256; make a P-256 key and send a new CSR",
    );
  }
  let publicKey: CryptoKey;
  try {
    // Importing checks that the point is on the curve.
    publicKey = await subtle.importKey("spki", spki.rawData, EC_P256, true, ["verify"]);
  } catch {
    throw new DeniedError("CSRKeyNotP256", "the CSR's public key is not a valid P-256 point");
  }
  let signatureOK = false;
  try {
    signatureOK = await csr.verify();
  } catch {
    signatureOK = false;
  }
  if (!signatureOK) {
    throw new DeniedError(
      "CSRSignatureInvalid",
      "the CSR's signature does not verify; sign the CSR with the key it carries",
    );
  }
  for (const attr of csr.attributes) {
    if (attr.type !== OID_EXTENSION_REQUEST) {
      throw new DeniedError(
        "CSRUnexpectedAttribute",
        `the CSR carries attribute ${attr.type}; send no attributes besides the extension request`,
      );
    }
  }
  if (csr.attributes.length > 1) {
    throw new DeniedError("CSRUnexpectedAttribute", "the CSR carries more than one extension request");
  }
  let sawSAN = false;
  for (const ext of csr.extensions) {
    if (ext.type === OID_BASIC_CONSTRAINTS) {
      const bc = new x509.BasicConstraintsExtension(ext.rawData);
      if (bc.ca) throw new DeniedError("CSRRequestsCA", "the CSR asks for CA:true; SVIDs are never CAs");
      throw new DeniedError(
        "CSRUnexpectedExtension",
        "the CSR asks for basicConstraints; request only the URI SAN",
      );
    }
    if (ext.type !== OID_SAN || sawSAN) {
      throw new DeniedError(
        "CSRUnexpectedExtension",
        `the CSR asks for extension ${ext.type}; request only the URI SAN`,
      );
    }
    sawSAN = true;
    const san = new x509.SubjectAlternativeNameExtension(ext.rawData);
    const names = san.names.items;
    if (names.length !== 1 || names[0]!.type !== "url") {
      throw new DeniedError(
        "CSRUnexpectedSAN",
        `the CSR must ask for exactly one SAN, the URI ${expectedID}`,
      );
    }
    if (names[0]!.value !== expectedID) {
      throw new DeniedError(
        "CSRSpiffeIDMismatch",
        `the CSR asks for ${truncate(names[0]!.value)} but this workload's SPIFFE ID is ${expectedID}`,
      );
    }
  }
  return publicKey;
}

/**
 * Signs an X.509-SVID for the key in `csrPem`. The CSR is checked natively (checkCSRNative: the
 * same refusals as checkCSR above, which stays as the reference the tests compare it with) and the
 * certificate is written from a DER template (x509-svid-issue.ts).
 */
export async function signX509SVIDFromCSR(opts: SignOptions & { csrPem: string }): Promise<IssuedSVID> {
  const now = opts.now ?? new Date();
  checkIssueOptions({ ...opts, now });
  const { spki } = checkCSRNative(opts.csrPem, opts.spiffeID);
  return issued(opts.spiffeID, issueX509SVIDDER({ ...opts, spki, now }));
}

/** Signs an X.509-SVID for a public key the caller holds (Secret delivery: the operator made it). */
export async function signX509SVID(opts: SignOptions & { publicKey: CryptoKey }): Promise<IssuedSVID> {
  const now = opts.now ?? new Date();
  checkIssueOptions({ ...opts, now });
  const spki = new Uint8Array(await subtle.exportKey("spki", opts.publicKey));
  return issued(opts.spiffeID, issueX509SVIDDER({ ...opts, spki, now }));
}

/** The IssuedSVID of DER bytes; `cert` (the @peculiar/x509 object) is parsed only if someone reads it. */
function issued(spiffeID: string, d: IssuedDER): IssuedSVID {
  let cert: x509.X509Certificate | undefined;
  return {
    get cert() {
      cert ??= new x509.X509Certificate(d.der);
      return cert;
    },
    certPem: d.certPem,
    chainPem: d.chainPem,
    serial: d.serial,
    spiffeID,
    notBefore: d.notBefore,
    notAfter: d.notAfter,
  };
}

/** The single URI SAN of a leaf that passes the X.509-SVID profile (any TLS role). */
export function spiffeIDOf(cert: x509.X509Certificate): string {
  return checkLeafProfile(new Uint8Array(cert.rawData), { purposes: [] }).spiffeID;
}

export { type VerifiedSVID, verifyX509SVID } from "./x509-svid-verify.ts";

function truncate(s: string): string {
  return s.length > 200 ? `${s.slice(0, 200)}…` : s;
}

/** Reads AlgorithmIdentifier (OID + named-curve OID) from DER SubjectPublicKeyInfo. */
function readSpkiAlgorithm(spki: ArrayBuffer): { oid: string; curve?: string } {
  const pk = new x509.PublicKey(spki);
  // @peculiar/x509 keeps the parsed ASN.1 on `asn`; read the OIDs rather than trusting the mapped name.
  const asn = (
    pk as unknown as { asn: { algorithm: { algorithm: string; parameters?: ArrayBuffer | null } } }
  ).asn;
  const params = asn.algorithm.parameters;
  return { oid: asn.algorithm.algorithm, curve: params ? decodeOID(new Uint8Array(params)) : undefined };
}

/** Decodes a DER OBJECT IDENTIFIER (tag 0x06); undefined for anything else. */
function decodeOID(der: Uint8Array): string | undefined {
  if (der[0] !== 0x06 || der.length < 3) return undefined;
  const len = der[1]!;
  if (len & 0x80 || len + 2 !== der.length) return undefined;
  const bytes = der.subarray(2);
  const first = bytes[0]!;
  const parts = [Math.floor(first / 40), first % 40];
  let v = 0;
  for (let i = 1; i < bytes.length; i++) {
    v = v * 128 + (bytes[i]! & 0x7f);
    if ((bytes[i]! & 0x80) === 0) {
      parts.push(v);
      v = 0;
    }
  }
  return parts.join(".");
}
