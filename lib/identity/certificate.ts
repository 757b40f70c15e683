// X.509 certificates read without an ASN.1 library, for the gateway's start-up and per-connection
// checks: OpenSSL (node:crypto's X509Certificate) parses the certificate, verifies signatures and
// reads public keys; the strict DER reader of der.ts reads the fields OpenSSL does not expose as
// structures (the extensions with their critical flags, the names as bytes, the signature
// algorithm OID). A certificate must pass both: DER only (definite, minimal lengths, nothing after
// the end), every extension the profile or the chain check reads parsed strictly, and the
// extensions that @peculiar/x509 (the reference the tests compare with) parses eagerly checked for
// their structure too, so this reader never accepts a certificate the reference refuses.
import { X509Certificate } from "node:crypto";
import { children, content, DERError, expectTLV, oidOf, slice, type TLV } from "./der.ts";

export const OID = {
  basicConstraints: "2.5.29.19",
  keyUsage: "2.5.29.15",
  extKeyUsage: "2.5.29.37",
  subjectAltName: "2.5.29.17",
  subjectKeyIdentifier: "2.5.29.14",
  authorityKeyIdentifier: "2.5.29.35",
  issuerAltName: "2.5.29.18",
  certificatePolicies: "2.5.29.32",
  crlDistributionPoints: "2.5.29.31",
  authorityInfoAccess: "1.3.6.1.5.5.7.1.1",
  serverAuth: "1.3.6.1.5.5.7.3.1",
  clientAuth: "1.3.6.1.5.5.7.3.2",
} as const;

/** keyUsage bits (RFC 5280 §4.2.1.3), numbered as @peculiar/x509's KeyUsageFlags: bit n is 1 << n. */
export const KeyUsage = {
  digitalSignature: 1,
  nonRepudiation: 2,
  keyEncipherment: 4,
  dataEncipherment: 8,
  keyAgreement: 16,
  keyCertSign: 32,
  cRLSign: 64,
  encipherOnly: 128,
  decipherOnly: 256,
} as const;

export interface CertExtension {
  oid: string;
  critical: boolean;
  /** The extnValue's content (the DER inside the OCTET STRING). */
  value: Buffer;
}

/** One parsed certificate: the fields the SVID profile and the chain check need. */
export class Certificate {
  readonly der: Buffer;
  /** Lowercase hex of the serial INTEGER's content bytes (the form @peculiar/x509 gives). */
  readonly serialNumber: string;
  readonly issuerDER: Buffer;
  readonly subjectDER: Buffer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** SubjectPublicKeyInfo, DER. */
  readonly spki: Buffer;
  /** The outer signatureAlgorithm OID (equal to the TBSCertificate's, or the parse fails). */
  readonly signatureOID: string;
  readonly extensions: readonly CertExtension[];
  /** OpenSSL's view of the same bytes: public key, signature verification. */
  readonly x509: X509Certificate;

  constructor(der: Uint8Array) {
    this.der = Buffer.from(der.buffer, der.byteOffset, der.byteLength);
    const f = parseFields(this.der);
    this.serialNumber = f.serialNumber;
    this.issuerDER = f.issuerDER;
    this.subjectDER = f.subjectDER;
    this.notBefore = f.notBefore;
    this.notAfter = f.notAfter;
    this.spki = f.spki;
    this.signatureOID = f.signatureOID;
    this.extensions = f.extensions;
    this.x509 = new X509Certificate(this.der);
  }

  extension(oid: string): CertExtension | undefined {
    return this.extensions.find((e) => e.oid === oid);
  }

  /** basicConstraints, or undefined when absent. */
  basicConstraints(): { ca: boolean; pathLength?: number } | undefined {
    const e = this.extension(OID.basicConstraints);
    return e && parseBasicConstraints(e.value);
  }

  /** keyUsage bits (KeyUsage flags), or undefined when absent. */
  keyUsage(): number | undefined {
    const e = this.extension(OID.keyUsage);
    return e && parseKeyUsage(e.value);
  }

  /** extKeyUsage OIDs, or undefined when absent. */
  extKeyUsage(): string[] | undefined {
    const e = this.extension(OID.extKeyUsage);
    return e && parseExtKeyUsage(e.value);
  }

  /** subjectAltName entries, or undefined when absent. */
  subjectAltNames(): GeneralName[] | undefined {
    const e = this.extension(OID.subjectAltName);
    return e && parseGeneralNames(e.value);
  }
}

/** Anything that carries a certificate's DER: bytes, a Certificate, node:crypto's or @peculiar/x509's. */
export type CertificateInput =
  | Uint8Array
  | Certificate
  | { readonly raw: Uint8Array }
  | { readonly rawData: ArrayBuffer };

export function certificateOf(c: CertificateInput): Certificate {
  if (c instanceof Certificate) return c;
  if (c instanceof Uint8Array) return new Certificate(c);
  if ("raw" in c) return new Certificate(c.raw);
  return new Certificate(new Uint8Array(c.rawData));
}

interface Fields {
  serialNumber: string;
  issuerDER: Buffer;
  subjectDER: Buffer;
  notBefore: Date;
  notAfter: Date;
  spki: Buffer;
  signatureOID: string;
  extensions: CertExtension[];
}

function parseFields(der: Buffer): Fields {
  const cert = expectTLV(der, 0, 0x30, der.length, "Certificate");
  if (cert.end !== der.length) throw new DERError("bytes after the certificate");
  const [tbs, sigAlg, sigValue, ...extra] = children(der, cert);
  if (!tbs || !sigAlg || !sigValue || extra.length > 0)
    throw new DERError("a Certificate is tbsCertificate, signatureAlgorithm, signatureValue");
  if (tbs.tag !== 0x30 || sigValue.tag !== 0x03) throw new DERError("Certificate: unexpected tag");
  const signatureOID = algorithmOID(der, sigAlg);

  const f = children(der, tbs);
  let i = 0;
  // version [0] EXPLICIT INTEGER: only v3 (2); the profile needs extensions, which need v3.
  const version = f[i++];
  if (version?.tag !== 0xa0) throw new DERError("TBSCertificate: version must be v3");
  const vInt = expectTLV(der, version.body, 0x02, version.end, "version");
  if (vInt.end !== version.end || vInt.end - vInt.body !== 1 || der[vInt.body] !== 2)
    throw new DERError("TBSCertificate: version must be v3");
  const serial = f[i++];
  if (serial?.tag !== 0x02) throw new DERError("TBSCertificate: serialNumber must be an INTEGER");
  const serialNumber = integerHex(der, serial);
  const innerAlg = f[i++];
  if (!innerAlg || !slice(der, innerAlg).equals(slice(der, sigAlg)))
    throw new DERError("the TBSCertificate's signature algorithm differs from the certificate's");
  const issuer = f[i++];
  const validity = f[i++];
  const subject = f[i++];
  const spki = f[i++];
  if (issuer?.tag !== 0x30 || subject?.tag !== 0x30 || validity?.tag !== 0x30 || spki?.tag !== 0x30)
    throw new DERError("TBSCertificate: issuer, validity, subject and key must be SEQUENCEs");
  const [nb, na, ...more] = children(der, validity);
  if (!nb || !na || more.length > 0) throw new DERError("validity is notBefore, notAfter");
  // issuerUniqueID [1] and subjectUniqueID [2] are not used by any CA we trust: refused.
  const exts = f[i++];
  if (exts?.tag !== 0xa3 || i !== f.length)
    throw new DERError("TBSCertificate: expected extensions [3] and nothing after them");
  return {
    serialNumber,
    issuerDER: slice(der, issuer),
    subjectDER: slice(der, subject),
    notBefore: derTimeValue(der, nb),
    notAfter: derTimeValue(der, na),
    spki: slice(der, spki),
    signatureOID,
    extensions: parseExtensions(der, exts),
  };
}

/** AlgorithmIdentifier: its OID (parameters, if any, must be one well-formed TLV). */
function algorithmOID(der: Buffer, alg: TLV): string {
  if (alg.tag !== 0x30) throw new DERError("AlgorithmIdentifier must be a SEQUENCE");
  const [oid, params, ...more] = children(der, alg);
  if (!oid || more.length > 0) throw new DERError("AlgorithmIdentifier is an OID and parameters");
  if (params) wellFormed(der, params, 0);
  return oidOf(der, oid);
}

/** A DER INTEGER's content as lowercase hex; minimal encoding required. */
function integerHex(der: Buffer, t: TLV): string {
  const n = t.end - t.body;
  if (n === 0 || n > 21) throw new DERError("INTEGER of unexpected size");
  if (
    n > 1 &&
    ((der[t.body] === 0 && der[t.body + 1]! < 0x80) || (der[t.body] === 0xff && der[t.body + 1]! >= 0x80))
  )
    throw new DERError("non-minimal INTEGER");
  return content(der, t).toString("hex");
}

function smallNonNegativeInteger(der: Buffer, t: TLV): number {
  if (t.tag !== 0x02) throw new DERError("expected an INTEGER");
  const hex = integerHex(der, t);
  if (der[t.body]! & 0x80) throw new DERError("negative INTEGER");
  if (hex.length > 8) throw new DERError("INTEGER too large");
  return Number.parseInt(hex, 16);
}

const UTC_TIME = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/;
const GENERALIZED_TIME = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/;

/** RFC 5280 §4.1.2.5: UTCTime YYMMDDHHMMSSZ (YY < 50 is 20YY) or GeneralizedTime YYYYMMDDHHMMSSZ. */
function derTimeValue(der: Buffer, t: TLV): Date {
  const text = content(der, t).toString("latin1");
  const m = t.tag === 0x17 ? UTC_TIME.exec(text) : t.tag === 0x18 ? GENERALIZED_TIME.exec(text) : null;
  if (!m) throw new DERError("a time must be UTCTime or GeneralizedTime in seconds with Z");
  const yy = Number(m[1]);
  const year = t.tag === 0x18 ? yy : yy < 50 ? 2000 + yy : 1900 + yy;
  const [mo, d, h, mi, s] = [m[2], m[3], m[4], m[5], m[6]].map(Number) as [
    number,
    number,
    number,
    number,
    number,
  ];
  const date = new Date(Date.UTC(year, mo - 1, d, h, mi, s));
  if (
    date.getUTCFullYear() !== year ||
    date.getUTCMonth() !== mo - 1 ||
    date.getUTCDate() !== d ||
    date.getUTCHours() !== h ||
    date.getUTCMinutes() !== mi ||
    date.getUTCSeconds() !== s
  )
    throw new DERError("a time names no real instant");
  return date;
}

/** Extensions: each OID once per certificate is checked by the profile, not here. */
function parseExtensions(der: Buffer, wrapper: TLV): CertExtension[] {
  const [seq, ...more] = children(der, wrapper);
  if (seq?.tag !== 0x30 || more.length > 0) throw new DERError("extensions [3] must hold one SEQUENCE");
  const list = children(der, seq);
  if (list.length === 0) throw new DERError("an empty extensions list is not DER");
  return list.map((ext) => {
    if (ext.tag !== 0x30) throw new DERError("an Extension must be a SEQUENCE");
    const parts = children(der, ext);
    const oidT = parts[0];
    if (oidT?.tag !== 0x06) throw new DERError("an Extension starts with its OID");
    const oid = oidOf(der, oidT);
    let critical = false;
    let k = 1;
    if (parts[k]?.tag === 0x01) {
      const b = parts[k]!;
      // DER: TRUE is 0xff, and FALSE (the default) is left out.
      if (b.end - b.body !== 1 || der[b.body] !== 0xff)
        throw new DERError("critical must be DER TRUE or absent");
      critical = true;
      k++;
    }
    const value = parts[k++];
    if (value?.tag !== 0x04 || k !== parts.length)
      throw new DERError(`extension ${oid}: expected its value as one OCTET STRING`);
    const v = content(der, value);
    checkKnownExtension(oid, v);
    return { oid, critical, value: v };
  });
}

/** One complete TLV in `v` and nothing after it. */
function only(v: Buffer, tag: number, what: string): TLV {
  const t = expectTLV(v, 0, tag, v.length, what);
  if (t.end !== v.length) throw new DERError(`${what}: bytes after the value`);
  return t;
}

/**
 * The structure of every extension @peculiar/x509 parses eagerly (its ExtensionFactory), so that a
 * certificate with a broken one is refused here as it is there.
 */
function checkKnownExtension(oid: string, v: Buffer): void {
  switch (oid) {
    case OID.basicConstraints:
      parseBasicConstraints(v);
      return;
    case OID.keyUsage:
      parseKeyUsage(v);
      return;
    case OID.extKeyUsage:
      parseExtKeyUsage(v);
      return;
    case OID.subjectAltName:
    case OID.issuerAltName:
      parseGeneralNames(v);
      return;
    case OID.subjectKeyIdentifier:
      only(v, 0x04, "subjectKeyIdentifier");
      return;
    case OID.authorityKeyIdentifier: {
      // SEQUENCE { keyIdentifier [0] OPTIONAL, authorityCertIssuer [1] OPTIONAL, serial [2] OPTIONAL }
      const seq = only(v, 0x30, "authorityKeyIdentifier");
      let last = -1;
      for (const c of children(v, seq)) {
        const n = c.tag === 0x80 ? 0 : c.tag === 0xa1 ? 1 : c.tag === 0x82 ? 2 : -1;
        if (n <= last) throw new DERError("authorityKeyIdentifier: unexpected or repeated field");
        last = n;
        if (n === 1) generalNamesOf(v, c);
        else if (n === 2 && c.end === c.body) throw new DERError("authorityKeyIdentifier: empty serial");
      }
      return;
    }
    case OID.certificatePolicies:
    case OID.crlDistributionPoints:
    case OID.authorityInfoAccess: {
      const seq = only(v, 0x30, oid);
      if (seq.end === seq.body) throw new DERError(`${oid}: empty`);
      wellFormed(v, seq, 0);
      return;
    }
  }
}

/** Every constructed node under `t` parses as DER, to a bounded depth. */
function wellFormed(buf: Uint8Array, t: TLV, depth: number): void {
  if (depth > 8) throw new DERError("nested too deep");
  if (t.tag & 0x20) for (const c of children(buf, t)) wellFormed(buf, c, depth + 1);
}

export function parseBasicConstraints(v: Buffer): { ca: boolean; pathLength?: number } {
  const seq = only(v, 0x30, "basicConstraints");
  const parts = children(v, seq);
  let k = 0;
  let ca = false;
  if (parts[k]?.tag === 0x01) {
    const b = parts[k]!;
    if (b.end - b.body !== 1 || v[b.body] !== 0xff)
      throw new DERError("basicConstraints: cA must be DER TRUE or absent");
    ca = true;
    k++;
  }
  let pathLength: number | undefined;
  if (parts[k]) pathLength = smallNonNegativeInteger(v, parts[k++]!);
  if (k !== parts.length) throw new DERError("basicConstraints: unexpected field");
  return pathLength === undefined ? { ca } : { ca, pathLength };
}

/** The keyUsage BIT STRING as KeyUsage flags (DER: no unused bit set, no trailing zero byte). */
export function parseKeyUsage(v: Buffer): number {
  const t = only(v, 0x03, "keyUsage");
  const n = t.end - t.body;
  if (n < 2 || n > 3) throw new DERError("keyUsage: a BIT STRING of 1 or 2 bytes");
  const unused = v[t.body]!;
  const last = v[t.end - 1]!;
  if (unused > 7 || (last & ((1 << unused) - 1)) !== 0 || last === 0)
    throw new DERError("keyUsage: not a DER BIT STRING");
  let flags = 0;
  for (let byte = 0; byte < n - 1; byte++) {
    const b = v[t.body + 1 + byte]!;
    for (let bit = 0; bit < 8; bit++) if (b & (0x80 >> bit)) flags |= 1 << (byte * 8 + bit);
  }
  return flags;
}

export function parseExtKeyUsage(v: Buffer): string[] {
  const seq = only(v, 0x30, "extKeyUsage");
  const list = children(v, seq);
  if (list.length === 0) throw new DERError("extKeyUsage: empty");
  return list.map((t) => {
    if (t.tag !== 0x06) throw new DERError("extKeyUsage: not an OID");
    return oidOf(v, t);
  });
}

export type GeneralName =
  | { type: "uri" | "dns" | "email"; value: string }
  | { type: "ip" | "other" | "directory" | "registeredID"; value: Buffer };

export function parseGeneralNames(v: Buffer): GeneralName[] {
  return generalNamesOf(v, only(v, 0x30, "GeneralNames"));
}

/** GeneralNames (RFC 5280 §4.2.1.6): at least one; the string forms IA5 (7-bit) only. */
function generalNamesOf(v: Buffer, seq: TLV): GeneralName[] {
  const list = children(v, seq);
  if (list.length === 0) throw new DERError("GeneralNames: empty");
  return list.map((t): GeneralName => {
    const text = (type: "uri" | "dns" | "email"): GeneralName => {
      const bytes = content(v, t);
      for (const b of bytes) if (b > 0x7f) throw new DERError(`GeneralName ${type}: not an IA5String`);
      return { type, value: bytes.toString("latin1") };
    };
    switch (t.tag) {
      case 0x81:
        return text("email");
      case 0x82:
        return text("dns");
      case 0x86:
        return text("uri");
      case 0x87:
        return { type: "ip", value: content(v, t) };
      case 0x88:
        return { type: "registeredID", value: content(v, t) };
      case 0xa0:
        wellFormed(v, t, 0);
        return { type: "other", value: slice(v, t) };
      case 0xa4:
        wellFormed(v, t, 0);
        return { type: "directory", value: slice(v, t) };
      default:
        throw new DERError(`GeneralName: tag 0x${t.tag.toString(16)} is not read here`);
    }
  });
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----\r?\n([A-Za-z0-9+/=\r\n]*?)-----END CERTIFICATE-----/g;

/** Every CERTIFICATE block of a PEM text, parsed (what a chain file or an issuer answer holds). */
export function certificatesFromPem(pem: string): Certificate[] {
  return [...pem.matchAll(PEM_CERTIFICATE)].map(
    (m) => new Certificate(Buffer.from(m[1]!.replace(/\s+/g, ""), "base64")),
  );
}
