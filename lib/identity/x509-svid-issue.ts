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
  createPublicKey,
  hash,
  KeyObject,
  type KeyObject as KeyObjectT,
  randomFillSync,
  sign,
  verify,
} from "node:crypto";
import { DeniedError, ValidationError } from "../errors.ts";
import type { CA } from "./ca.ts";
import { BACKDATE_MS } from "./ca.ts";
import { x509 } from "./crypto.ts";
import { MAX_CSR_PEM_BYTES } from "./csr.ts";
import {
  children,
  content,
  DERError,
  expectTLV,
  oidOf,
  readTLV,
  slice,
  type TLV,
  timeSize,
  tlv,
  tlvSize,
  writeBytes,
  writeHeader,
  writeTime,
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
/** The SKI extension up to its 20-byte key identifier: SEQUENCE { OID, OCTET STRING { OCTET STRING } }. */
const EXT_SKI_HEAD = hex("30 1d 06 03 55 1d 0e 04 16 04 14");
const SKI_BYTES = 20;
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
    : hash("sha1", subjectPublicKeyBits(new Uint8Array(ca.cert.publicKey.rawData)), "buffer");
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

const BEGIN_CSR = "-----BEGIN CERTIFICATE REQUEST-----";
const END_CSR = "-----END CERTIFICATE REQUEST-----";

/**
 * The common case of csrDER without regular expressions: exactly one `-----BEGIN` in the text, it
 * opens a CERTIFICATE REQUEST block that is closed, and the block holds only base64 and ASCII
 * whitespace with at most two `=` at the end. Then the block regex of csrDER matches that one block
 * and nothing else, and its checks pass, so the bytes are the same. Anything else (any other
 * character, another BEGIN, a missing END) returns undefined and csrDER decides the slow way.
 */
export function csrDERFast(pem: string): Buffer | undefined {
  const begin = pem.indexOf("-----BEGIN");
  if (begin === -1 || !pem.startsWith(BEGIN_CSR, begin) || pem.includes("-----BEGIN", begin + 1)) return;
  const from = begin + BEGIN_CSR.length;
  const to = pem.indexOf(END_CSR, from);
  if (to === -1) return;
  let chars = 0;
  let padding = 0;
  for (let i = from; i < to; i++) {
    const c = pem.charCodeAt(i);
    if (c === 0x20 || (c >= 0x09 && c <= 0x0d)) continue; // ASCII whitespace (what \s strips here)
    if (c === 0x3d) {
      padding++;
      if (padding > 2) return;
    } else if (
      padding > 0 ||
      !(
        (c >= 0x41 && c <= 0x5a) ||
        (c >= 0x61 && c <= 0x7a) ||
        (c >= 0x30 && c <= 0x39) ||
        c === 0x2b ||
        c === 0x2f
      )
    ) {
      return;
    }
    chars++;
  }
  if (chars % 4 !== 0) return;
  // Buffer's base64 decoder skips the whitespace, as decoding the stripped text would.
  return Buffer.from(pem.slice(from, to), "base64");
}

/** Exactly one PEM block of type CERTIFICATE REQUEST, base64-decoded. */
export function csrDER(pem: string): Buffer {
  if (pem.length > MAX_CSR_PEM_BYTES) throw csrFail(`must be at most ${MAX_CSR_PEM_BYTES} bytes`);
  const fast = csrDERFast(pem);
  if (fast) return fast;
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
    // OpenSSL refuses a point that is not on the curve. The algorithm bytes were compared with
    // id-ecPublicKey/prime256v1 above, so a key that imports is a P-256 key: asking the KeyObject
    // for its type and curve again cost more than the import (Node's key-detail getters). The key
    // goes in as PEM text: Node takes a string without the KeyObject/CryptoKey brand checks it
    // runs on an options object, and OpenSSL's PEM path imported in about half the time.
    key = createPublicKey(pemBlock("PUBLIC KEY", spki));
  } catch {
    throw new DeniedError("CSRKeyNotP256", "the CSR's public key is not a valid P-256 point");
  }

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
  // `der` is this call's own decoded copy: the key can stay a view into it.
  return { spki };
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

/** A PEM block of `der` (RFC 7468: base64 in lines of 64 characters). */
export function pemBlock(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString("base64");
  let out = `-----BEGIN ${label}-----\n`;
  for (let i = 0; i < b64.length; i += 64) out += `${b64.slice(i, i + 64)}\n`;
  return `${out}-----END ${label}-----\n`;
}

const SERIAL_BYTES = 16;
/** Random bytes for serials, filled 256 serials at a time: one small randomBytes per SVID cost more than the rest of the serial. */
const serialPool = Buffer.alloc(SERIAL_BYTES * 256);
let serialAt = serialPool.length;

/**
 * A random positive 128-bit serial, as crypto.ts randomSerial makes them: top bit cleared (no
 * leading zero in DER) and the top byte non-zero (the serial never shrinks). The bytes are a view
 * into the pool, valid until the next 256 serials: copy them before keeping them.
 */
export function nextSerial(): Buffer {
  if (serialAt === serialPool.length) {
    randomFillSync(serialPool);
    serialAt = 0;
  }
  const b = serialPool.subarray(serialAt, serialAt + SERIAL_BYTES);
  serialAt += SERIAL_BYTES;
  b[0] = (b[0]! & 0x7f) | 0x40;
  return b;
}

/**
 * Writes and signs the X.509-SVID for `spki` (DER SubjectPublicKeyInfo of a P-256 key, already
 * checked). Validity: notBefore = max(now − BACKDATE_MS, CA notBefore), notAfter = min(now + ttl,
 * CA notAfter), both in whole seconds (X.509 times have no fractions; truncating keeps both bounds).
 * Every length is known before writing, so the TBSCertificate is written into one buffer.
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
  const serialBytes = nextSerial();
  const serial = serialBytes.toString("hex");
  const spki = opts.spki;
  const ski = hash("sha1", subjectPublicKeyBits(spki), "buffer");
  // The URI SAN is ASCII (parseWorkloadID checked it); latin1 writes one byte per character.
  const uriLength = opts.spiffeID.length;

  // Sizes, innermost first.
  const uriTLV = tlvSize(uriLength);
  const sanNames = tlvSize(uriTLV);
  const sanValue = tlvSize(sanNames);
  const sanContent = OID_SAN_DER.length + sanValue;
  const extsContent =
    EXT_BASIC_CONSTRAINTS.length +
    EXT_KEY_USAGE.length +
    EXT_EKU.length +
    tlvSize(sanContent) +
    EXT_SKI_HEAD.length +
    SKI_BYTES +
    p.aki.length;
  const extsSeq = tlvSize(extsContent);
  const validityContent = timeSize(notBefore) + timeSize(notAfter);
  const tbsContent =
    VERSION_V3.length +
    tlvSize(SERIAL_BYTES) +
    ALG_ECDSA_SHA256.length +
    p.issuer.length +
    tlvSize(validityContent) +
    SUBJECT.length +
    spki.length +
    tlvSize(extsSeq);
  const tbs = Buffer.allocUnsafe(tlvSize(tbsContent));

  let at = writeHeader(tbs, 0, 0x30, tbsContent);
  at = writeBytes(tbs, at, VERSION_V3);
  at = writeHeader(tbs, at, 0x02, SERIAL_BYTES);
  at = writeBytes(tbs, at, serialBytes);
  at = writeBytes(tbs, at, ALG_ECDSA_SHA256);
  at = writeBytes(tbs, at, p.issuer);
  at = writeHeader(tbs, at, 0x30, validityContent);
  at = writeTime(tbs, at, notBefore);
  at = writeTime(tbs, at, notAfter);
  at = writeBytes(tbs, at, SUBJECT);
  at = writeBytes(tbs, at, spki);
  at = writeHeader(tbs, at, 0xa3, extsSeq);
  at = writeHeader(tbs, at, 0x30, extsContent);
  at = writeBytes(tbs, at, EXT_BASIC_CONSTRAINTS);
  at = writeBytes(tbs, at, EXT_KEY_USAGE);
  at = writeBytes(tbs, at, EXT_EKU);
  at = writeHeader(tbs, at, 0x30, sanContent);
  at = writeBytes(tbs, at, OID_SAN_DER);
  at = writeHeader(tbs, at, 0x04, sanNames);
  at = writeHeader(tbs, at, 0x30, uriTLV);
  at = writeHeader(tbs, at, 0x86, uriLength);
  at += tbs.write(opts.spiffeID, at, uriLength, "latin1");
  at = writeBytes(tbs, at, EXT_SKI_HEAD);
  at = writeBytes(tbs, at, ski);
  at = writeBytes(tbs, at, p.aki);
  if (at !== tbs.length) throw new Error(`TBSCertificate written to ${at} of ${tbs.length} bytes`);

  const signature = sign("sha256", tbs, p.key);
  const sigContent = 1 + signature.length;
  const certContent = tbs.length + ALG_ECDSA_SHA256.length + tlvSize(sigContent);
  const der = Buffer.allocUnsafe(tlvSize(certContent));
  at = writeHeader(der, 0, 0x30, certContent);
  at = writeBytes(der, at, tbs);
  at = writeBytes(der, at, ALG_ECDSA_SHA256);
  at = writeHeader(der, at, 0x03, sigContent);
  der[at++] = 0; // no unused bits
  writeBytes(der, at, signature);
  const certPem = pemBlock("CERTIFICATE", der);
  return { der, serial, notBefore, notAfter, certPem, chainPem: certPem + p.chainTailPem };
}

/** Validates what issueX509SVIDDER needs before it signs (the same checks signX509SVID makes). */
export function checkIssueOptions(opts: { ca: CA; spiffeID: string; ttlMs: number; now: Date }): void {
  checkWorkloadID(opts.spiffeID);
  if (!(opts.ttlMs > 0)) throw new ValidationError("SVID options", [{ path: "ttl", message: "must be > 0" }]);
  if (opts.now.getTime() >= opts.ca.notAfter.getTime())
    throw new DeniedError("CAExpired", "the signing CA has expired; the operator must rotate it");
}

/** SPIFFE IDs that passed parseWorkloadID (a pure check): an issuer signs for the same few thousand IDs again and again. */
const validWorkloadIDs = new Set<string>();
const MAX_REMEMBERED_IDS = 16_384;

/** parseWorkloadID, remembered for the IDs that pass it; throws exactly what it throws. */
export function checkWorkloadID(id: string): void {
  if (validWorkloadIDs.has(id)) return;
  parseWorkloadID(id);
  if (validWorkloadIDs.size >= MAX_REMEMBERED_IDS) validWorkloadIDs.clear();
  validWorkloadIDs.add(id);
}
