// X.509-SVID issuance near the native floor. Building a certificate with @peculiar/x509 spends
// most of its time encoding ASN.1 in JavaScript; here the TBSCertificate is a template of DER
// bytes of which only the variable fields are written per SVID (serial, validity, subject key,
// URI SAN, SKI), the CSR is read with a strict minimal DER reader and verified by OpenSSL
// (crypto.verify), and the CA signs with crypto.sign. What stays constant per CA (issuer name,
// AKI, the signing KeyObject, the CA's PEM) is computed once and cached.
//
// The certificate is the one signX509SVID has always made (same extensions, same order, same
// criticality): exactly one URI SAN, CA:false (critical), keyUsage digitalSignature (critical),
// EKU serverAuth+clientAuth, a random 128-bit serial, notBefore backdated for clock skew and never
// before the CA's, notAfter never past the CA's. @peculiar/x509 still parses what we make (the
// `cert` of an IssuedSVID, lazily) and the tests cross-check every field with it and with openssl.
import {
  createHash,
  createPublicKey,
  KeyObject,
  type KeyObject as KeyObjectT,
  sign,
  verify,
} from "node:crypto";
import { DeniedError, ValidationError } from "../errors.ts";
import type { CA } from "./ca.ts";
import { BACKDATE_MS } from "./ca.ts";
import { randomSerial, x509 } from "./crypto.ts";
import { MAX_CSR_PEM_BYTES } from "./csr.ts";
import {
  children,
  content,
  DERError,
  derTime,
  expectTLV,
  oidOf,
  readTLV,
  slice,
  type TLV,
  tlv,
} from "./der.ts";
import { parseWorkloadID } from "./spiffe-id.ts";

const OID_EXTENSION_REQUEST = "1.2.840.113549.1.9.14";
const OID_SAN = "2.5.29.17";
const OID_BASIC_CONSTRAINTS = "2.5.29.19";
const OID_ECDSA_SHA256 = "1.2.840.10045.4.3.2";

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");

// Constant DER pieces of every SVID.
const VERSION_V3 = hex("a0 03 02 01 02");
const ALG_ECDSA_SHA256 = hex("30 0a 06 08 2a 86 48 ce 3d 04 03 02");
/** Subject: O=agent-warden as a PrintableString, as @peculiar/x509 writes it (the SPIFFE ID is in the SAN). */
const SUBJECT = tlv(
  0x30,
  tlv(0x31, tlv(0x30, hex("06 03 55 04 0a"), tlv(0x13, Buffer.from("agent-warden")))),
);
const EXT_BASIC_CONSTRAINTS = hex("30 0c 06 03 55 1d 13 01 01 ff 04 02 30 00");
const EXT_KEY_USAGE = hex("30 0e 06 03 55 1d 0f 01 01 ff 04 04 03 02 07 80");
const EXT_EKU = hex(
  "30 1d 06 03 55 1d 25 04 16 30 14 06 08 2b 06 01 05 05 07 03 01 06 08 2b 06 01 05 05 07 03 02",
);
const OID_SAN_DER = hex("06 03 55 1d 11");
const OID_SKI_DER = hex("06 03 55 1d 0e");
/** The P-256 SubjectPublicKeyInfo algorithm: id-ecPublicKey with namedCurve prime256v1. */
const SPKI_ALG_P256 = hex("30 13 06 07 2a 86 48 ce 3d 02 01 06 08 2a 86 48 ce 3d 03 01 07");

interface CAParts {
  key: KeyObjectT;
  issuer: Buffer;
  aki: Buffer;
  /** PEM of the CA and its intermediates, appended to every chain. */
  chainTailPem: string;
}

const caParts = new WeakMap<CA, CAParts>();

function partsOf(ca: CA): CAParts {
  let p = caParts.get(ca);
  if (p) return p;
  const caDER = new Uint8Array(ca.cert.rawData);
  // Certificate → TBSCertificate → [version] serial sigAlg issuer …: the issuer is the CA's subject.
  const certTLV = expectTLV(caDER, 0, 0x30, caDER.length, "CA certificate");
  const tbs = children(caDER, certTLV)[0]!;
  const f = children(caDER, tbs);
  const off = f[0]!.tag === 0xa0 ? 1 : 0;
  const subject = f[off + 4]!;
  const caSKI = ca.cert.getExtension(x509.SubjectKeyIdentifierExtension);
  const keyId = caSKI
    ? Buffer.from(caSKI.keyId, "hex")
    : createHash("sha1")
        .update(subjectPublicKeyBits(new Uint8Array(ca.cert.publicKey.rawData)))
        .digest();
  p = {
    key: KeyObject.from(ca.privateKey),
    issuer: slice(caDER, subject),
    aki: tlv(0x30, hex("06 03 55 1d 23"), tlv(0x04, tlv(0x30, tlv(0x80, keyId)))),
    chainTailPem: [ca.cert, ...(ca.chain ?? [])].map((c) => `${c.toString("pem")}\n`).join(""),
  };
  caParts.set(ca, p);
  return p;
}

/** The BIT STRING contents (without the unused-bits byte) of a DER SubjectPublicKeyInfo. */
function subjectPublicKeyBits(spki: Uint8Array): Buffer {
  const outer = expectTLV(spki, 0, 0x30, spki.length, "SubjectPublicKeyInfo");
  const [, bits] = children(spki, outer);
  if (bits?.tag !== 0x03) throw new DERError("SubjectPublicKeyInfo has no BIT STRING");
  return content(spki, bits).subarray(1);
}

/** A checked CSR: its P-256 public key as DER SubjectPublicKeyInfo. */
export interface CheckedCSR {
  spki: Buffer;
}

const csrFail = (message: string) => new ValidationError("CSR", [{ path: "csr", message }]);

/** Exactly one PEM block of type CERTIFICATE REQUEST, base64-decoded. */
function csrDER(pem: string): Buffer {
  if (pem.length > MAX_CSR_PEM_BYTES) throw csrFail(`must be at most ${MAX_CSR_PEM_BYTES} bytes`);
  const blocks = [...pem.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g)];
  if (blocks.length === 0) throw csrFail("is not PEM; send a PKCS#10 'CERTIFICATE REQUEST' PEM block");
  if (blocks.length !== 1 || blocks[0]![1] !== "CERTIFICATE REQUEST")
    throw csrFail("must be exactly one 'CERTIFICATE REQUEST' PEM block");
  const b64 = blocks[0]![2]!.replace(/\s+/g, "");
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0)
    throw csrFail("is not PEM; the block is not base64");
  return Buffer.from(b64, "base64");
}

/**
 * Checks a CSR natively and returns its key. The same refusals, in the same order, as checkCSR:
 * the key must be P-256 (and a point on the curve), the signature must verify, and the request
 * may carry nothing but one extension request holding at most the one expected URI SAN.
 */
export function checkCSRNative(csrPem: string, expectedID: string): CheckedCSR {
  const der = csrDER(csrPem);
  let cri: TLV;
  let criFields: TLV[];
  let sigAlg: string;
  let sig: Buffer;
  let spkiParts: TLV[] | undefined;
  try {
    const outer = expectTLV(der, 0, 0x30, der.length, "CertificationRequest");
    if (outer.end !== der.length) throw new DERError("bytes after the request");
    const parts = children(der, outer);
    if (parts.length !== 3) throw new DERError("a request has three parts");
    cri = parts[0]!;
    if (cri.tag !== 0x30) throw new DERError("certificationRequestInfo is not a SEQUENCE");
    criFields = children(der, cri);
    if (parts[1]!.tag !== 0x30 || parts[2]!.tag !== 0x03) throw new DERError("bad signature fields");
    sigAlg = oidOf(der, readTLV(der, parts[1]!.body, parts[1]!.end));
    const bits = content(der, parts[2]!);
    if (bits[0] !== 0) throw new DERError("signature BIT STRING has unused bits");
    sig = bits.subarray(1);
    if (criFields.length < 3 || criFields.length > 4) throw new DERError("certificationRequestInfo fields");
    const [version, subject] = criFields;
    if (version!.tag !== 0x02 || version!.end - version!.body !== 1 || der[version!.body] !== 0)
      throw new DERError("version must be 0");
    if (subject!.tag !== 0x30) throw new DERError("subject is not a Name");
    if (criFields[2]!.tag === 0x30) spkiParts = children(der, criFields[2]!);
  } catch (err) {
    throw csrFail(`is not a valid PKCS#10 request: ${(err as Error).message}`);
  }

  const spkiTLV = criFields[2]!;
  const spki = slice(der, spkiTLV);
  const notP256 = () =>
    new DeniedError(
      "CSRKeyNotP256",
      "the CSR's key must be ECDSA P-256; make a P-256 key and send a new CSR",
    );
  if (spkiParts?.length !== 2 || !slice(der, spkiParts[0]!).equals(SPKI_ALG_P256)) throw notP256();
  let key: KeyObjectT;
  try {
    // OpenSSL refuses a point that is not on the curve.
    key = createPublicKey({ key: spki, format: "der", type: "spki" });
  } catch {
    throw new DeniedError("CSRKeyNotP256", "the CSR's public key is not a valid P-256 point");
  }
  if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== "prime256v1")
    throw notP256();

  let signatureOK = false;
  try {
    signatureOK = sigAlg === OID_ECDSA_SHA256 && verify("sha256", slice(der, cri), key, sig);
  } catch {
    signatureOK = false;
  }
  if (!signatureOK)
    throw new DeniedError(
      "CSRSignatureInvalid",
      "the CSR's signature does not verify; sign the CSR with the key it carries",
    );

  const attrs = criFields[3];
  if (attrs) checkAttributes(der, attrs, expectedID);
  return { spki: Buffer.from(spki) };
}

function checkAttributes(der: Buffer, attrs: TLV, expectedID: string): void {
  const structural = (what: string) => csrFail(`is not a valid PKCS#10 request: ${what}`);
  if (attrs.tag !== 0xa0) throw structural("attributes must be [0]");
  let list: TLV[];
  try {
    list = children(der, attrs);
  } catch (err) {
    throw structural((err as Error).message);
  }
  const parsed = list.map((a) => {
    try {
      if (a.tag !== 0x30) throw new DERError("attribute is not a SEQUENCE");
      const [type, values] = children(der, a);
      if (!type || !values || values.tag !== 0x31) throw new DERError("attribute without values");
      return { type: oidOf(der, type), values: children(der, values) };
    } catch (err) {
      throw structural((err as Error).message);
    }
  });
  for (const a of parsed) {
    if (a.type !== OID_EXTENSION_REQUEST)
      throw new DeniedError(
        "CSRUnexpectedAttribute",
        `the CSR carries attribute ${a.type}; send no attributes besides the extension request`,
      );
  }
  if (parsed.length > 1)
    throw new DeniedError("CSRUnexpectedAttribute", "the CSR carries more than one extension request");
  const request = parsed[0];
  if (!request) return;
  if (request.values.length !== 1)
    throw new DeniedError(
      "CSRUnexpectedAttribute",
      "the CSR's extension request must hold exactly one value",
    );
  let sawSAN = false;
  let extensions: TLV[];
  try {
    const exts = request.values[0]!;
    if (exts.tag !== 0x30) throw new DERError("extensions are not a SEQUENCE");
    extensions = children(der, exts);
  } catch (err) {
    throw structural((err as Error).message);
  }
  for (const ext of extensions) {
    let oid: string;
    let value: TLV;
    try {
      if (ext.tag !== 0x30) throw new DERError("extension is not a SEQUENCE");
      const f = children(der, ext);
      oid = oidOf(der, f[0]!);
      const v = f[f.length - 1]!;
      if (f.length < 2 || f.length > 3 || v.tag !== 0x04) throw new DERError("extension value");
      if (f.length === 3 && f[1]!.tag !== 0x01) throw new DERError("extension critical flag");
      value = readTLV(der, v.body, v.end);
      if (value.end !== v.end) throw new DERError("bytes after the extension value");
    } catch (err) {
      throw structural((err as Error).message);
    }
    if (oid === OID_BASIC_CONSTRAINTS) {
      if (basicConstraintsCA(der, value))
        throw new DeniedError("CSRRequestsCA", "the CSR asks for CA:true; SVIDs are never CAs");
      throw new DeniedError(
        "CSRUnexpectedExtension",
        "the CSR asks for basicConstraints; request only the URI SAN",
      );
    }
    if (oid !== OID_SAN || sawSAN)
      throw new DeniedError(
        "CSRUnexpectedExtension",
        `the CSR asks for extension ${oid}; request only the URI SAN`,
      );
    sawSAN = true;
    let names: TLV[];
    try {
      if (value.tag !== 0x30) throw new DERError("SAN is not a SEQUENCE");
      names = children(der, value);
    } catch (err) {
      throw structural((err as Error).message);
    }
    if (names.length !== 1 || names[0]!.tag !== 0x86)
      throw new DeniedError(
        "CSRUnexpectedSAN",
        `the CSR must ask for exactly one SAN, the URI ${expectedID}`,
      );
    const uri = content(der, names[0]!).toString("latin1");
    if (uri !== expectedID)
      throw new DeniedError(
        "CSRSpiffeIDMismatch",
        `the CSR asks for ${uri.length > 200 ? `${uri.slice(0, 200)}…` : uri} but this workload's SPIFFE ID is ${expectedID}`,
      );
  }
}

/** basicConstraints cA flag (DER: present only when TRUE, but read whatever is there). */
function basicConstraintsCA(der: Buffer, value: TLV): boolean {
  try {
    if (value.tag !== 0x30) return false;
    const f = children(der, value);
    return f[0]?.tag === 0x01 && der[f[0].body] !== 0;
  } catch {
    return false;
  }
}

export interface IssuedDER {
  der: Buffer;
  serial: string;
  notBefore: Date;
  notAfter: Date;
  chainPem: string;
  certPem: string;
}

const pemOf = (der: Buffer) => {
  const b64 = der.toString("base64");
  let out = "-----BEGIN CERTIFICATE-----\n";
  for (let i = 0; i < b64.length; i += 64) out += `${b64.slice(i, i + 64)}\n`;
  return `${out}-----END CERTIFICATE-----\n`;
};

/**
 * Writes and signs the X.509-SVID for `spki` (DER SubjectPublicKeyInfo of a P-256 key, already
 * checked). Validity: notBefore = max(now − BACKDATE_MS, CA notBefore), notAfter = min(now + ttl,
 * CA notAfter), both in whole seconds (X.509 times have no fractions; truncating keeps both bounds).
 */
export function issueX509SVIDDER(opts: {
  ca: CA;
  spiffeID: string;
  spki: Uint8Array;
  ttlMs: number;
  now: Date;
}): IssuedDER {
  const p = partsOf(opts.ca);
  const now = opts.now.getTime();
  const sec = (ms: number) => new Date(Math.floor(ms / 1000) * 1000);
  const notBefore = sec(Math.max(now - BACKDATE_MS, opts.ca.notBefore.getTime()));
  const notAfter = sec(Math.min(now + opts.ttlMs, opts.ca.notAfter.getTime()));
  const serial = randomSerial();
  const spki = Buffer.from(opts.spki.buffer, opts.spki.byteOffset, opts.spki.byteLength);
  const ski = createHash("sha1").update(subjectPublicKeyBits(spki)).digest();
  const uri = Buffer.from(opts.spiffeID, "latin1");
  const tbs = tlv(
    0x30,
    VERSION_V3,
    tlv(0x02, Buffer.from(serial, "hex")),
    ALG_ECDSA_SHA256,
    p.issuer,
    tlv(0x30, derTime(notBefore), derTime(notAfter)),
    SUBJECT,
    spki,
    tlv(
      0xa3,
      tlv(
        0x30,
        EXT_BASIC_CONSTRAINTS,
        EXT_KEY_USAGE,
        EXT_EKU,
        tlv(0x30, OID_SAN_DER, tlv(0x04, tlv(0x30, tlv(0x86, uri)))),
        tlv(0x30, OID_SKI_DER, tlv(0x04, tlv(0x04, ski))),
        p.aki,
      ),
    ),
  );
  const signature = sign("sha256", tbs, p.key);
  const der = tlv(0x30, tbs, ALG_ECDSA_SHA256, tlv(0x03, Buffer.from([0]), signature));
  const certPem = pemOf(der);
  return { der, serial, notBefore, notAfter, certPem, chainPem: certPem + p.chainTailPem };
}

/** Validates what issueX509SVIDDER needs before it signs (the same checks signX509SVID makes). */
export function checkIssueOptions(opts: { ca: CA; spiffeID: string; ttlMs: number; now: Date }): void {
  parseWorkloadID(opts.spiffeID);
  if (!(opts.ttlMs > 0)) throw new ValidationError("SVID options", [{ path: "ttl", message: "must be > 0" }]);
  if (opts.now.getTime() >= opts.ca.notAfter.getTime())
    throw new DeniedError("CAExpired", "the signing CA has expired; the operator must rotate it");
}
