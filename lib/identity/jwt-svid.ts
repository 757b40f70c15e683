// JWT-SVIDs (SPIFFE JWT-SVID spec, RFC 8725): ES256 only, `typ: JWT`, `kid`, `aud` required,
// lifetime ≤ TTL. Verification never trusts the token's header: jws.ts decodes strictly and admits
// only alg/typ/kid, keys come only from the trust bundle's `jwt-svid` entries, and every claim is
// checked here in a fixed order (DESIGN.md §7: exp of Infinity, missing exp, multi-valued aud,
// absurd lifetimes, future iat), each refusal naming the claim.

import { createHash } from "node:crypto";
import * as jose from "jose";
import { DeniedError, ValidationError } from "../errors.ts";
import type { CryptoKey } from "./crypto.ts";
import {
  decodeJws,
  type JwsKind,
  numericDate,
  requireClaim,
  selectVerificationKey,
  verifyJwsSignature,
} from "./jws.ts";
import { parseWorkloadID } from "./spiffe-id.ts";

export const JWT_ALG = "ES256";
export const MAX_JWT_BYTES = 8192;
export const DEFAULT_CLOCK_TOLERANCE_S = 5;

export interface JWTSigningKey {
  privateKey: CryptoKey;
  /** Key ID published with `use: jwt-svid` in the SPIFFE bundle. */
  kid: string;
}

export async function signJWTSVID(opts: {
  key: JWTSigningKey;
  spiffeID: string;
  audience: string[];
  ttlMs: number;
  now?: Date;
  /** Upper bound the token's exp must not pass (the signing CA's notAfter). */
  notAfter?: Date;
}): Promise<{ token: string; expiresAt: Date; issuedAt: Date }> {
  parseWorkloadID(opts.spiffeID);
  if (opts.audience.length === 0 || opts.audience.some((a) => a.length === 0 || a.length > 256)) {
    throw new ValidationError("JWT-SVID request", [
      { path: "audience", message: "give 1 or more audiences of 1-256 characters" },
    ]);
  }
  const now = opts.now ?? new Date();
  const iat = Math.floor(now.getTime() / 1000);
  let exp = Math.floor((now.getTime() + opts.ttlMs) / 1000);
  if (opts.notAfter) exp = Math.min(exp, Math.floor(opts.notAfter.getTime() / 1000));
  if (exp <= iat) throw new DeniedError("CAExpired", "the signing key expires too soon to issue a JWT-SVID");
  const token = await new jose.SignJWT({})
    .setProtectedHeader({ alg: JWT_ALG, typ: "JWT", kid: opts.key.kid })
    .setSubject(opts.spiffeID)
    .setAudience(opts.audience.length === 1 ? opts.audience[0]! : opts.audience)
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .sign(opts.key.privateKey);
  return { token, expiresAt: new Date(exp * 1000), issuedAt: new Date(iat * 1000) };
}

/** RFC 7638 thumbprint of a public key: a stable kid for the `jwt-svid` JWKS entry. */
export async function jwtKid(publicKey: CryptoKey): Promise<string> {
  return jose.calculateJwkThumbprint(await jose.exportJWK(publicKey), "sha256");
}

export interface VerifyJWTOptions {
  /** The audience this verifier is. */
  audience: string;
  /** Public JWKs with `use: jwt-svid` (from the SPIFFE bundle). */
  keys: readonly jose.JWK[];
  trustDomain?: string;
  /** When set, the token must carry exactly this `iss`. */
  issuer?: string;
  /** When set, `sub` must be exactly this SPIFFE ID (e.g. the peer already authenticated by mTLS). */
  subject?: string;
  /** Longest exp - iat accepted. */
  maxLifetimeMs: number;
  /** Accept `aud` arrays with more than one entry (off by default: SPIFFE says SHOULD be one). */
  allowMultipleAudiences?: boolean;
  clockToleranceS?: number;
  now?: Date;
}

export interface VerifiedJWTSVID {
  spiffeID: string;
  audience: string[];
  expiresAt: Date;
  issuedAt: Date;
  /** sha256 of the token, for caches keyed by token hash. */
  tokenHash: string;
}

/** JWT-SVID typing: the SPIFFE JWT-SVID spec allows `JWT` or `JOSE`; we require one of them. */
export const JWT_SVID_KIND: JwsKind = { what: "JWT-SVID", typ: ["JWT", "JOSE"], maxBytes: MAX_JWT_BYTES };

/**
 * Verifies a JWT-SVID. Order: structure and header (jws.ts: strict base64url, header allowlist,
 * ES256, typ, kid), the key from the bundle's jwt-svid entries, the signature, then the claims in
 * a fixed order — iss (when required), sub, aud, exp, nbf, iat, lifetime — each refusal naming
 * its claim.
 */
export async function verifyJWTSVID(token: string, opts: VerifyJWTOptions): Promise<VerifiedJWTSVID> {
  const what = JWT_SVID_KIND.what;
  const { header, payload } = decodeJws(token, JWT_SVID_KIND);
  const jwk = selectVerificationKey(opts.keys, header.kid, ["jwt-svid"]);
  if (!jwk) throw new DeniedError("JWTUnknownKey", "the JWT's kid is not a jwt-svid key of the trust bundle");
  await verifyJwsSignature(token, jwk, what);

  const tolerance = opts.clockToleranceS ?? DEFAULT_CLOCK_TOLERANCE_S;
  const nowS = (opts.now ?? new Date()).getTime() / 1000;
  if (opts.issuer !== undefined) {
    const iss = requireClaim(payload, "iss", what);
    if (iss !== opts.issuer)
      throw new DeniedError(
        "JWTWrongIssuer",
        `the ${what}'s iss claim is not the expected issuer ${opts.issuer}`,
      );
  }
  const sub = requireClaim(payload, "sub", what);
  if (typeof sub !== "string")
    throw new DeniedError("JWTBadSubject", `the ${what}'s sub claim must be a SPIFFE ID`);
  let spiffeID: string;
  try {
    spiffeID = parseWorkloadID(sub).toString();
  } catch {
    throw new DeniedError("JWTBadSubject", `the ${what}'s sub claim is not a valid workload SPIFFE ID`);
  }
  if (opts.trustDomain && parseWorkloadID(spiffeID).trustDomain !== opts.trustDomain) {
    throw new DeniedError(
      "JWTBadSubject",
      `the ${what}'s sub claim is not in trust domain ${opts.trustDomain}`,
    );
  }
  if (opts.subject !== undefined && spiffeID !== opts.subject)
    throw new DeniedError("JWTWrongSubject", `the ${what}'s sub claim ${spiffeID} is not ${opts.subject}`);
  const aud = requireClaim(payload, "aud", what);
  const audiences = typeof aud === "string" ? [aud] : aud;
  if (!Array.isArray(audiences) || audiences.length === 0 || audiences.some((a) => typeof a !== "string"))
    throw new DeniedError(
      "JWTMissingClaim",
      `the ${what}'s aud claim must be a string or an array of strings`,
    );
  if (!audiences.includes(opts.audience))
    throw new DeniedError("JWTWrongAudience", `the ${what}'s aud claim does not name this audience`);
  if (audiences.length !== 1 && !opts.allowMultipleAudiences) {
    throw new DeniedError(
      "JWTMultipleAudiences",
      `the ${what}'s aud claim names more than one audience; request one per audience`,
    );
  }
  requireClaim(payload, "exp", what);
  const exp = numericDate(payload, "exp", what)!;
  if (exp <= nowS - tolerance)
    throw new DeniedError("JWTExpired", `the ${what} has expired (exp); fetch a new one`);
  const nbf = numericDate(payload, "nbf", what);
  if (nbf !== undefined && nbf > nowS + tolerance)
    throw new DeniedError(
      "JWTIssuedInFuture",
      `the ${what}'s nbf claim is in the future; check the issuer's clock`,
    );
  requireClaim(payload, "iat", what);
  const iat = numericDate(payload, "iat", what)!;
  if (iat > nowS + tolerance)
    throw new DeniedError(
      "JWTIssuedInFuture",
      `the ${what}'s iat claim is in the future; check the issuer's clock`,
    );
  const maxS = opts.maxLifetimeMs / 1000;
  if (exp - iat > maxS)
    throw new DeniedError(
      "JWTLifetimeTooLong",
      `the ${what} lives longer (exp - iat) than the maximum ${maxS}s`,
    );
  if (exp > nowS + maxS + tolerance)
    throw new DeniedError(
      "JWTLifetimeTooLong",
      `the ${what}'s exp is further ahead than the maximum lifetime`,
    );
  return {
    spiffeID,
    audience: audiences as string[],
    expiresAt: new Date(exp * 1000),
    issuedAt: new Date(iat * 1000),
    tokenHash: createHash("sha256").update(token).digest("hex"),
  };
}
