// The X.509-SVID leaf profile as it was written on @peculiar/x509 (an ASN.1 library), kept as the
// reference the tests run beside svid-profile.ts (which reads certificates with OpenSSL and the
// project's DER reader): on the attack tables both must give the same refusal, and on random
// corruptions of real certificates the native check must never accept what this one refuses.
// Not imported by production code.
import { X509Certificate as NodeX509Certificate } from "node:crypto";
import { x509 } from "./crypto.ts";
import { parseWorkloadID } from "./spiffe-id.ts";
import {
  ALLOWED_SIGNATURE_OIDS,
  type LeafProfileOptions,
  type LeafRefusal,
  MIN_RSA_BITS,
  OID,
  SvidProfileError,
  UNDERSTOOD_CRITICAL,
} from "./svid-profile.ts";

const ALLOWED_CURVES = new Set(["prime256v1", "secp384r1"]);

interface ReferenceProfiledLeaf {
  spiffeID: string;
  cert: x509.X509Certificate;
}

/** The signature algorithm OID of a parsed certificate (read from the ASN.1, not a mapped name). */
function signatureOID(cert: x509.X509Certificate): string {
  return (cert as unknown as { asn: { signatureAlgorithm: { algorithm: string } } }).asn.signatureAlgorithm
    .algorithm;
}

/** What is weak about a certificate's key or signature algorithm, or undefined. */
function weakness(
  der: Uint8Array,
  cert: x509.X509Certificate,
): { refusal: "WeakKey" | "WeakSignature"; message: string } | undefined {
  const sig = signatureOID(cert);
  if (!ALLOWED_SIGNATURE_OIDS.has(sig)) {
    return {
      refusal: "WeakSignature",
      message: `signature algorithm ${sig} is not allowed (use ECDSA or RSA with SHA-256 or stronger)`,
    };
  }
  const key = new NodeX509Certificate(der).publicKey;
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

function toBytes(der: Uint8Array | ArrayBuffer): Uint8Array {
  return der instanceof Uint8Array ? der : new Uint8Array(der);
}

/**
 * Applies the X.509-SVID leaf profile to `der` and returns the SPIFFE ID of its one URI SAN.
 * Throws SvidProfileError naming the first rule the certificate breaks. Signatures and validity
 * are not checked here (the chain check does that); this is about what the leaf *is*.
 */
export function checkLeafProfileReference(
  der: Uint8Array | ArrayBuffer,
  opts: LeafProfileOptions,
): ReferenceProfiledLeaf {
  const bytes = toBytes(der);
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(bytes);
    void cert.extensions;
  } catch (e) {
    throw new SvidProfileError("Malformed", `the certificate does not parse: ${(e as Error).message}`);
  }
  const fail = (refusal: LeafRefusal, message: string): never => {
    throw new SvidProfileError(refusal, message);
  };

  const seen = new Set<string>();
  for (const ext of cert.extensions) {
    if (seen.has(ext.type))
      fail(
        "DuplicateExtension",
        `extension ${ext.type} appears twice; a certificate carries each at most once`,
      );
    seen.add(ext.type);
    if (ext.critical && !UNDERSTOOD_CRITICAL.has(ext.type))
      fail("CriticalExtension", `unknown critical extension ${ext.type}`);
  }

  try {
    const bc = cert.getExtension(x509.BasicConstraintsExtension);
    if (bc?.ca) fail("NotALeaf", "an X.509-SVID leaf must have CA:false");
    if (bc && bc.pathLength !== undefined)
      fail("NotALeaf", "a leaf must not carry a path length constraint (only CAs may)");

    const ku = cert.getExtension(x509.KeyUsagesExtension);
    if (!ku) fail("KeyUsage", "an X.509-SVID leaf must have a keyUsage extension with digitalSignature");
    if ((ku!.usages & x509.KeyUsageFlags.digitalSignature) === 0)
      fail("KeyUsage", "an X.509-SVID leaf must have keyUsage digitalSignature");
    if ((ku!.usages & (x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign)) !== 0)
      fail("KeyUsage", "an X.509-SVID leaf must not have keyCertSign or cRLSign");

    const eku = cert.getExtension(x509.ExtendedKeyUsageExtension);
    const usages = new Set((eku?.usages ?? []).map(String));
    for (const p of opts.purposes) {
      if (!usages.has(OID[p])) fail("ExtKeyUsage", `the leaf's extKeyUsage must include ${p}`);
    }
  } catch (e) {
    if (e instanceof SvidProfileError) throw e;
    fail("Malformed", `an extension does not parse: ${(e as Error).message}`);
  }

  let weak: ReturnType<typeof weakness>;
  try {
    weak = weakness(bytes, cert);
  } catch (e) {
    return fail("Malformed", `the public key does not parse: ${(e as Error).message}`);
  }
  if (weak) fail(weak.refusal, weak.message);

  let uris: string[];
  try {
    const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
    uris = (san?.names.items ?? []).filter((n) => n.type === "url").map((n) => n.value);
  } catch (e) {
    return fail("Malformed", `the subjectAltName does not parse: ${(e as Error).message}`);
  }
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
