// The trust bundle in its two forms: PEM (all trusted CAs, for TLS stacks and openssl) and the
// SPIFFE bundle format (a JWKS whose keys carry `use: x509-svid` with x5c, or `use: jwt-svid` with
// kid; plus spiffe_sequence and spiffe_refresh_hint). During a CA rotation both CAs are in it.
import * as jose from "jose";
import * as z from "zod";
import { parseOrThrow, ValidationError } from "../errors.ts";
import { certsToPem, x509 } from "./crypto.ts";

export interface SpiffeBundle {
  keys: jose.JWK[];
  spiffe_sequence: number;
  spiffe_refresh_hint: number;
}

export function bundlePem(cas: readonly x509.X509Certificate[]): string {
  return certsToPem(cas);
}

/**
 * The SPIFFE bundle: each CA once as `x509-svid` (x5c), and each JWT-SVID signing key once as
 * `jwt-svid` (kid). CA keys are never published as jwt-svid: they sign certificates only.
 */
export async function bundleJWKS(opts: {
  cas: readonly x509.X509Certificate[];
  /** Public JWT-SVID keys (active, pending, retiring) with their kid. */
  jwtKeys: readonly jose.JWK[];
  sequence: number;
  refreshHintS: number;
}): Promise<SpiffeBundle> {
  const keys: jose.JWK[] = [];
  for (const ca of opts.cas) {
    const jwk = await jose.exportJWK(await ca.publicKey.export());
    keys.push({
      kty: jwk.kty,
      crv: jwk.crv,
      x: jwk.x,
      y: jwk.y,
      use: "x509-svid",
      x5c: [Buffer.from(ca.rawData).toString("base64")],
    });
  }
  const kids = new Set<string>();
  for (const k of opts.jwtKeys) {
    if (!k.kid || kids.has(k.kid)) continue;
    kids.add(k.kid);
    keys.push({ kty: k.kty, crv: k.crv, x: k.x, y: k.y, use: "jwt-svid", kid: k.kid });
  }
  return {
    keys,
    spiffe_sequence: opts.sequence,
    spiffe_refresh_hint: Math.max(1, Math.round(opts.refreshHintS)),
  };
}

const jwkSchema = z
  .object({
    kty: z.literal("EC", { message: "only EC keys are used in agent-warden bundles" }),
    crv: z.literal("P-256", { message: "only P-256 keys are used" }),
    x: z.string().min(1).max(64),
    y: z.string().min(1).max(64),
    use: z.enum(["x509-svid", "jwt-svid"], { message: "use must be x509-svid or jwt-svid" }),
    kid: z.string().max(128).optional(),
    x5c: z.array(z.string().max(16384)).max(1).optional(),
  })
  .passthrough();

const spiffeBundleSchema = z.object({
  keys: z.array(jwkSchema).max(64),
  spiffe_sequence: z.number().int().min(0).optional(),
  spiffe_refresh_hint: z.number().int().min(0).optional(),
});

/** Parses a SPIFFE bundle JWKS into trusted CA certificates and JWT-SVID verification keys. */
export function parseBundleJWKS(json: string): {
  cas: x509.X509Certificate[];
  jwtKeys: jose.JWK[];
  sequence: number;
} {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (e) {
    throw new ValidationError("SPIFFE bundle", [
      { path: "", message: `not JSON (${(e as Error).message}); expected a JWKS with a keys array` },
    ]);
  }
  const doc = parseOrThrow(spiffeBundleSchema, parsed, "SPIFFE bundle");
  const cas: x509.X509Certificate[] = [];
  const jwtKeys: jose.JWK[] = [];
  doc.keys.forEach((k, i) => {
    if (k.use === "x509-svid") {
      const b64 = k.x5c?.[0];
      if (!b64) return; // SPIFFE: an x509-svid key without exactly one x5c entry is ignored
      const der = strictBase64(b64);
      const field = `keys[${i}].x5c[0]`;
      if (!der)
        throw new ValidationError("SPIFFE bundle", [
          { path: field, message: "not standard base64 (RFC 4648 §4)" },
        ]);
      cas.push(caCertificate(der, field, "SPIFFE bundle"));
    } else if (k.kid) {
      jwtKeys.push({ kty: k.kty, crv: k.crv, x: k.x, y: k.y, use: k.use, kid: k.kid });
    }
  });
  return { cas, jwtKeys, sequence: doc.spiffe_sequence ?? 0 };
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\r\n]*?)-----END ([A-Z0-9 ]+)-----/g;

/** Standard base64 (with padding) that round-trips exactly, else undefined. */
function strictBase64(text: string): Uint8Array | undefined {
  const t = text.replace(/\r?\n/g, "");
  if (t.length === 0 || t.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(t)) return undefined;
  const bytes = Buffer.from(t, "base64");
  return bytes.toString("base64") === t ? new Uint8Array(bytes) : undefined;
}

function caCertificate(der: Uint8Array, field: string, what: string): x509.X509Certificate {
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(der);
    void cert.extensions;
  } catch (e) {
    throw new ValidationError(what, [
      { path: field, message: `not a DER X.509 certificate (${(e as Error).message})` },
    ]);
  }
  if (!cert.getExtension(x509.BasicConstraintsExtension)?.ca) {
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
export function parseBundlePem(pem: string, what = "trust bundle"): x509.X509Certificate[] {
  if (typeof pem !== "string" || pem.trim() === "")
    throw new ValidationError(what, [{ path: "", message: "empty; expected PEM CERTIFICATE blocks" }]);
  const certs: x509.X509Certificate[] = [];
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
