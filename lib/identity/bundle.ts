// The trust bundle in its two forms: PEM (all trusted CAs, for TLS stacks and openssl) and the
// SPIFFE bundle format (a JWKS whose keys carry `use: x509-svid` with x5c, or `use: jwt-svid` with
// kid; plus spiffe_sequence and spiffe_refresh_hint). During a CA rotation both CAs are in it.
// The PEM reader is bundle-pem.ts (no ASN.1 library, for the gateway); this module is the operator's.
import * as jose from "jose";
import * as z from "zod";
import { parseOrThrow, ValidationError } from "../errors.ts";
import { caCertificate as nativeCACertificate, strictBase64 } from "./bundle-pem.ts";
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

/** A bundle CA, checked natively (bundle-pem.ts), as the @peculiar/x509 object the operator uses. */
function caCertificate(der: Uint8Array, field: string, what: string): x509.X509Certificate {
  nativeCACertificate(der, field, what);
  try {
    return new x509.X509Certificate(der);
  } catch (e) {
    throw new ValidationError(what, [
      { path: field, message: `not a DER X.509 certificate (${(e as Error).message})` },
    ]);
  }
}

// The PEM form is read without @peculiar/x509 (the gateway imports it from bundle-pem.ts).
export { parseBundlePem } from "./bundle-pem.ts";
