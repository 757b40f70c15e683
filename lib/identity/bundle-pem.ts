// The trust bundle as PEM (all trusted CAs; the gateway mounts it and reloads it on change), read
// strictly and without an ASN.1 library: certificate.ts parses each CA (OpenSSL plus the DER
// reader). A corrupt or truncated bundle fails closed as a whole instead of trusting a subset.
import { ValidationError } from "../errors.ts";
import { Certificate } from "./certificate.ts";

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\r\n]*?)-----END ([A-Z0-9 ]+)-----/g;

/** Standard base64 (with padding) that round-trips exactly, else undefined. */
export function strictBase64(text: string): Uint8Array | undefined {
  const t = text.replace(/\r?\n/g, "");
  if (t.length === 0 || t.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(t)) return undefined;
  const bytes = Buffer.from(t, "base64");
  return bytes.toString("base64") === t ? new Uint8Array(bytes) : undefined;
}

/** A CA certificate of a trust bundle (basicConstraints CA:true), or a ValidationError naming `field`. */
export function caCertificate(der: Uint8Array, field: string, what: string): Certificate {
  let cert: Certificate;
  let isCA: boolean;
  try {
    cert = new Certificate(der);
    isCA = cert.basicConstraints()?.ca === true;
  } catch (e) {
    throw new ValidationError(what, [
      { path: field, message: `not a DER X.509 certificate (${(e as Error).message})` },
    ]);
  }
  if (!isCA) {
    throw new ValidationError(what, [
      {
        path: field,
        message: "not a CA certificate (basicConstraints CA:true); a trust bundle holds CAs only",
      },
    ]);
  }
  return cert;
}

/**
 * Parses a PEM trust bundle strictly: only CERTIFICATE blocks with whitespace between them, each
 * valid base64 of a DER X.509 CA certificate, at least one. Anything else is a ValidationError that
 * names the block, so a corrupt or truncated mount fails closed instead of trusting a subset.
 */
export function parseBundlePem(pem: string, what = "trust bundle"): Certificate[] {
  if (typeof pem !== "string" || pem.trim() === "")
    throw new ValidationError(what, [{ path: "", message: "empty; expected PEM CERTIFICATE blocks" }]);
  const certs: Certificate[] = [];
  let last = 0;
  let index = 0;
  for (const m of pem.matchAll(PEM_BLOCK)) {
    const field = `block ${index}`;
    if (pem.slice(last, m.index).trim() !== "")
      throw new ValidationError(what, [
        { path: field, message: "text outside PEM blocks; a bundle holds only CERTIFICATE blocks" },
      ]);
    if (m[1] !== "CERTIFICATE" || m[3] !== "CERTIFICATE")
      throw new ValidationError(what, [
        { path: field, message: `a ${m[1]} block; a bundle holds only CERTIFICATE blocks` },
      ]);
    const der = strictBase64(m[2]!);
    if (!der) throw new ValidationError(what, [{ path: field, message: "the base64 body is corrupt" }]);
    certs.push(caCertificate(der, field, what));
    last = m.index + m[0].length;
    index++;
  }
  if (pem.slice(last).trim() !== "")
    throw new ValidationError(what, [
      {
        path: `block ${index}`,
        message:
          index === 0 ? "not PEM; expected CERTIFICATE blocks" : "text after the last PEM block (truncated?)",
      },
    ]);
  if (certs.length === 0) throw new ValidationError(what, [{ path: "", message: "no CERTIFICATE blocks" }]);
  return certs;
}
