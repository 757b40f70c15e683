// JWT-SVIDs (SPIFFE JWT-SVID spec) with jose: ES256 only, `typ: JWT`, `aud` required, lifetime ≤ TTL.
// Verification never trusts the token's header: the algorithm allowlist is always passed, keys come
// only from the trust bundle's `jwt-svid` entries, and the checks jose leaves out (DESIGN.md §7:
// exp of Infinity, missing exp, multi-valued aud, absurd lifetimes, future iat) are made here.

import { createHash } from "node:crypto";
import * as jose from "jose";
import { DeniedError, ValidationError } from "../errors.ts";
import type { CryptoKey } from "./crypto.ts";
import { hasDuplicateKeys } from "./json-duplicates.ts";
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

export async function verifyJWTSVID(token: string, opts: VerifyJWTOptions): Promise<VerifiedJWTSVID> {
  if (typeof token !== "string" || token.length > MAX_JWT_BYTES) {
    throw new DeniedError("JWTTooLarge", `a JWT-SVID must be at most ${MAX_JWT_BYTES} bytes`);
  }
  const parts = token.split(".");
  if (parts.length !== 3) throw new DeniedError("JWTMalformed", "a JWT-SVID is a compact JWS of three parts");
  let header: jose.ProtectedHeaderParameters;
  try {
    header = jose.decodeProtectedHeader(token);
  } catch {
    throw new DeniedError("JWTMalformed", "the JWT header is not valid base64url JSON");
  }
  const decoded = parts.slice(0, 2).map((p) => Buffer.from(p, "base64url").toString("utf8"));
  if (decoded.some(hasDuplicateKeys)) {
    throw new DeniedError(
      "JWTDuplicateClaim",
      "the JWT repeats a header parameter or claim; parsers disagree on which one wins",
    );
  }
  // Checked before jose so `none`, HS256 and friends never reach a key lookup.
  if (header.alg !== JWT_ALG)
    throw new DeniedError("JWTAlgorithmNotAllowed", `only ${JWT_ALG} JWT-SVIDs are accepted`);
  if (header.typ !== undefined && header.typ !== "JWT" && header.typ !== "JOSE") {
    throw new DeniedError("JWTMalformed", "typ must be JWT or JOSE");
  }
  if (!header.kid)
    throw new DeniedError("JWTUnknownKey", "the JWT has no kid; JWT-SVIDs must name their signing key");
  const jwk = opts.keys.find((k) => k.kid === header.kid && (k.use === undefined || k.use === "jwt-svid"));
  if (!jwk) throw new DeniedError("JWTUnknownKey", "the JWT's kid is not in the trust bundle");
  if (jwk.kty !== "EC" || jwk.crv !== "P-256")
    throw new DeniedError("JWTUnknownKey", "the bundle key for this kid is not P-256");
  const key = await jose.importJWK({ kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y }, JWT_ALG);
  const tolerance = opts.clockToleranceS ?? DEFAULT_CLOCK_TOLERANCE_S;
  const now = opts.now ?? new Date();
  let payload: jose.JWTPayload;
  try {
    ({ payload } = await jose.jwtVerify(token, key, {
      algorithms: [JWT_ALG],
      audience: opts.audience,
      requiredClaims: ["exp", "iat", "aud", "sub"],
      clockTolerance: tolerance,
      currentDate: now,
    }));
  } catch (err) {
    throw mapJoseError(err);
  }
  const nowS = now.getTime() / 1000;
  const { exp, iat, aud, sub } = payload;
  if (typeof exp !== "number" || !Number.isFinite(exp))
    throw new DeniedError("JWTBadExpiry", "exp must be a finite number");
  if (typeof iat !== "number" || !Number.isFinite(iat))
    throw new DeniedError("JWTBadIssuedAt", "iat must be a finite number");
  const maxS = opts.maxLifetimeMs / 1000;
  if (iat > nowS + tolerance)
    throw new DeniedError("JWTIssuedInFuture", "iat is in the future; check the issuer's clock");
  if (exp - iat > maxS)
    throw new DeniedError("JWTLifetimeTooLong", `the token lives longer than the maximum ${maxS}s`);
  if (exp > nowS + maxS + tolerance)
    throw new DeniedError("JWTLifetimeTooLong", "exp is further ahead than the maximum lifetime");
  const audiences = Array.isArray(aud) ? aud : [aud as string];
  if (audiences.length !== 1 && !opts.allowMultipleAudiences) {
    throw new DeniedError(
      "JWTMultipleAudiences",
      "the token names more than one audience; request one per audience",
    );
  }
  if (typeof sub !== "string") throw new DeniedError("JWTBadSubject", "sub must be a SPIFFE ID");
  let spiffeID: string;
  try {
    spiffeID = parseWorkloadID(sub).toString();
  } catch {
    throw new DeniedError("JWTBadSubject", "sub is not a valid workload SPIFFE ID");
  }
  if (opts.trustDomain && !spiffeID.startsWith(`spiffe://${opts.trustDomain}/`)) {
    throw new DeniedError("JWTBadSubject", `sub is not in trust domain ${opts.trustDomain}`);
  }
  return {
    spiffeID,
    audience: audiences,
    expiresAt: new Date(exp * 1000),
    issuedAt: new Date(iat * 1000),
    tokenHash: createHash("sha256").update(token).digest("hex"),
  };
}

function mapJoseError(err: unknown): DeniedError {
  if (err instanceof jose.errors.JWTExpired)
    return new DeniedError("JWTExpired", "the JWT-SVID has expired; fetch a new one");
  if (err instanceof jose.errors.JWTClaimValidationFailed) {
    if (err.claim === "aud")
      return new DeniedError("JWTWrongAudience", "the JWT-SVID is not for this audience");
    if (err.claim === "nbf" || err.claim === "iat") {
      return new DeniedError("JWTIssuedInFuture", `${err.claim} is in the future; check the issuer's clock`);
    }
    return new DeniedError("JWTMissingClaim", `claim ${err.claim} is missing or invalid: ${err.message}`);
  }
  if (err instanceof jose.errors.JWSSignatureVerificationFailed) {
    return new DeniedError("JWTBadSignature", "the JWT-SVID signature does not verify");
  }
  if (err instanceof jose.errors.JOSEAlgNotAllowed)
    return new DeniedError("JWTAlgorithmNotAllowed", "only ES256 is accepted");
  return new DeniedError("JWTMalformed", `the JWT-SVID is invalid: ${(err as Error).message}`);
}
