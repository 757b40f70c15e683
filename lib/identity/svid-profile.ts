// The X.509-SVID leaf profile (SPIFFE X509-SVID spec §4-5, RFC 5280 §4.2), as one pure function
// over a certificate's DER. Every place that accepts a leaf as an identity runs it: the gateways on
// each TLS peer (inbound caller, outbound tool server), verifyX509SVID, the SVID client.
//
// Why DER and not Node's `subjectaltname` text: Node renders SANs as "DNS:x, URI:y", so a DNS or
// email SAN whose value *contains* "URI:spiffe://..." reads as a URI to any regex over that text.
// Here the SAN comes from the parsed extension, by GeneralName type, and there must be one
// extension and exactly one URI in it. Checks run in a fixed order; the first failure is reported
// with a stable refusal code (a bounded set: metric label values come from it).
//
// The certificate is read by certificate.ts (OpenSSL plus a strict DER reader), not by an ASN.1
// library: this runs at the gateway's start and on every peer connection.
// svid-profile-reference.ts keeps the @peculiar/x509 implementation it replaced, which the tests
// run beside this one on the attack tables and on random corruptions of real certificates.
import { DeniedError } from "../errors.ts";
import { Certificate, KeyUsage, OID } from "./certificate.ts";
import { parseWorkloadID } from "./spiffe-id.ts";

export { OID };

export const LEAF_REFUSALS = [
  "Malformed",
  "DuplicateExtension",
  "CriticalExtension",
  "NotALeaf",
  "KeyUsage",
  "ExtKeyUsage",
  "WeakKey",
  "WeakSignature",
  "SubjectAltName",
  "SpiffeID",
  "TrustDomain",
] as const;
export type LeafRefusal = (typeof LEAF_REFUSALS)[number];

/** A certificate that is not an acceptable X.509-SVID leaf; `refusal` is the bounded code. */
export class SvidProfileError extends DeniedError {
  override name = "SvidProfileError";
  readonly refusal: LeafRefusal;
  constructor(refusal: LeafRefusal, message: string) {
    super(`SVID${refusal}`, message);
    this.refusal = refusal;
  }
}

/** Extensions this profile understands, so they may be critical; any other critical one is refused. */
export const UNDERSTOOD_CRITICAL: ReadonlySet<string> = new Set<string>([
  OID.basicConstraints,
  OID.keyUsage,
  OID.extKeyUsage,
  OID.subjectAltName,
]);

/**
 * Signature algorithms accepted on SVIDs and on the CAs above them: ECDSA and RSA PKCS#1 v1.5 with
 * SHA-256/384/512, and Ed25519. SHA-1 and MD5 (and anything unknown) are refused.
 */
export const ALLOWED_SIGNATURE_OIDS: ReadonlyMap<string, string> = new Map([
  ["1.2.840.10045.4.3.2", "ecdsa-with-SHA256"],
  ["1.2.840.10045.4.3.3", "ecdsa-with-SHA384"],
  ["1.2.840.10045.4.3.4", "ecdsa-with-SHA512"],
  ["1.2.840.113549.1.1.11", "sha256WithRSAEncryption"],
  ["1.2.840.113549.1.1.12", "sha384WithRSAEncryption"],
  ["1.2.840.113549.1.1.13", "sha512WithRSAEncryption"],
  ["1.3.101.112", "Ed25519"],
]);
export const MIN_RSA_BITS = 2048;
const ALLOWED_CURVES = new Set(["prime256v1", "secp384r1"]);

export type Purpose = "serverAuth" | "clientAuth";

export interface LeafProfileOptions {
  /** When given, the SPIFFE ID must be in this trust domain. */
  trustDomain?: string | undefined;
  /** Extended key usages the leaf must carry (the TLS role it is used in). */
  purposes: readonly Purpose[];
}

export interface ProfiledLeaf {
  spiffeID: string;
  cert: Certificate;
}

/** What is weak about a certificate's key or signature algorithm, or undefined. */
export function weakness(
  cert: Certificate,
): { refusal: "WeakKey" | "WeakSignature"; message: string } | undefined {
  const sig = cert.signatureOID;
  if (!ALLOWED_SIGNATURE_OIDS.has(sig)) {
    return {
      refusal: "WeakSignature",
      message: `signature algorithm ${sig} is not allowed (use ECDSA or RSA with SHA-256 or stronger)`,
    };
  }
  const key = cert.x509.publicKey;
  const d = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === "ec") {
    if (!ALLOWED_CURVES.has(String(d.namedCurve)))
      return { refusal: "WeakKey", message: `EC curve ${String(d.namedCurve)} is not allowed (use P-256)` };
  } else if (key.asymmetricKeyType === "rsa") {
    if ((d.modulusLength ?? 0) < MIN_RSA_BITS)
      return {
        refusal: "WeakKey",
        message: `RSA key of ${d.modulusLength} bits is too small (at least ${MIN_RSA_BITS})`,
      };
  } else if (key.asymmetricKeyType !== "ed25519") {
    return { refusal: "WeakKey", message: `key type ${String(key.asymmetricKeyType)} is not allowed` };
  }
  return undefined;
}

/** Parses a certificate or throws SvidProfileError("Malformed"). */
function parseForProfile(der: Uint8Array | ArrayBuffer | Certificate): Certificate {
  if (der instanceof Certificate) return der;
  try {
    return new Certificate(der instanceof Uint8Array ? der : new Uint8Array(der));
  } catch (e) {
    throw new SvidProfileError("Malformed", `the certificate does not parse: ${(e as Error).message}`);
  }
}

/**
 * Applies the X.509-SVID leaf profile to `der` and returns the SPIFFE ID of its one URI SAN.
 * Throws SvidProfileError naming the first rule the certificate breaks. Signatures and validity
 * are not checked here (the chain check does that); this is about what the leaf *is*.
 */
export function checkLeafProfile(
  der: Uint8Array | ArrayBuffer | Certificate,
  opts: LeafProfileOptions,
): ProfiledLeaf {
  const cert = parseForProfile(der);
  const fail = (refusal: LeafRefusal, message: string): never => {
    throw new SvidProfileError(refusal, message);
  };

  const seen = new Set<string>();
  for (const ext of cert.extensions) {
    if (seen.has(ext.oid))
      fail(
        "DuplicateExtension",
        `extension ${ext.oid} appears twice; a certificate carries each at most once`,
      );
    seen.add(ext.oid);
    if (ext.critical && !UNDERSTOOD_CRITICAL.has(ext.oid))
      fail("CriticalExtension", `unknown critical extension ${ext.oid}`);
  }

  // Every extension's structure was checked when the certificate was parsed.
  const bc = cert.basicConstraints();
  if (bc?.ca) fail("NotALeaf", "an X.509-SVID leaf must have CA:false");
  if (bc && bc.pathLength !== undefined)
    fail("NotALeaf", "a leaf must not carry a path length constraint (only CAs may)");

  const ku = cert.keyUsage();
  if (ku === undefined)
    return fail("KeyUsage", "an X.509-SVID leaf must have a keyUsage extension with digitalSignature");
  if ((ku & KeyUsage.digitalSignature) === 0)
    fail("KeyUsage", "an X.509-SVID leaf must have keyUsage digitalSignature");
  if ((ku & (KeyUsage.keyCertSign | KeyUsage.cRLSign)) !== 0)
    fail("KeyUsage", "an X.509-SVID leaf must not have keyCertSign or cRLSign");

  const usages = new Set(cert.extKeyUsage() ?? []);
  for (const p of opts.purposes) {
    if (!usages.has(OID[p])) fail("ExtKeyUsage", `the leaf's extKeyUsage must include ${p}`);
  }

  let weak: ReturnType<typeof weakness>;
  try {
    weak = weakness(cert);
  } catch (e) {
    return fail("Malformed", `the public key does not parse: ${(e as Error).message}`);
  }
  if (weak) fail(weak.refusal, weak.message);

  const uris = (cert.subjectAltNames() ?? []).flatMap((n) => (n.type === "uri" ? [n.value] : []));
  if (uris.length !== 1)
    fail("SubjectAltName", `an X.509-SVID must carry exactly one URI SAN, this one has ${uris.length}`);
  let spiffeID: string;
  try {
    spiffeID = parseWorkloadID(uris[0]!).toString();
  } catch (e) {
    return fail("SpiffeID", `the URI SAN is not a workload SPIFFE ID: ${(e as Error).message}`);
  }
  if (opts.trustDomain !== undefined && parseWorkloadID(spiffeID).trustDomain !== opts.trustDomain)
    fail("TrustDomain", `${spiffeID} is not in trust domain ${opts.trustDomain}`);
  return { spiffeID, cert };
}
