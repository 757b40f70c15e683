// Strict decoding of compact JWS tokens (RFC 7515) before any signature or claim is looked at,
// shared by JWT-SVIDs and task tokens. RFC 8725 (JWT BCP) asks verifiers to pin the algorithm, to
// type tokens explicitly so one kind cannot be replayed as another, and to refuse what they do
// not understand. So: exactly three base64url segments with no padding, whitespace or non-canonical
// trailing bits; UTF-8 JSON objects with no BOM and no duplicate members; a header made only of
// `alg`, `typ` and `kid` (jku, x5u, jwk, x5c, crit, b64, zip... refused: keys come from our own
// bundle, never from the token); `alg` ES256; `typ` one of the kind's values; `kid` present.
import * as jose from "jose";
import { DeniedError } from "../errors.ts";
import { hasDuplicateKeys } from "./json-duplicates.ts";

export const JWS_ALG = "ES256";
/** The only protected header members accepted. */
export const ALLOWED_HEADER_MEMBERS = new Set(["alg", "typ", "kid"]);
const BASE64URL = /^[A-Za-z0-9_-]+$/;
const BOM = "\uFEFF";

export interface JwsKind {
  /** What the token is, for messages ("task token", "JWT-SVID"). */
  what: string;
  /** Accepted `typ` values, compared case-insensitively (RFC 7515 §4.1.9); the header must have one. */
  typ: readonly string[];
  maxBytes: number;
}

export interface DecodedJws {
  header: { alg: string; typ: string; kid: string };
  payload: Record<string, unknown>;
}

function rejected(reason: string, message: string): DeniedError {
  return new DeniedError(reason, message);
}

/** Decodes one base64url segment strictly (RFC 7515 §2: no padding; canonical trailing bits). */
export function strictBase64url(segment: string, name: string, what: string): Buffer {
  if (segment.length === 0) throw rejected("JWTMalformed", `the ${what}'s ${name} is empty`);
  if (!BASE64URL.test(segment)) {
    throw rejected(
      "JWTMalformed",
      `the ${what}'s ${name} is not base64url without padding (no '=', '+', '/', spaces or line breaks)`,
    );
  }
  const bytes = Buffer.from(segment, "base64url");
  if (segment.length % 4 === 1 || bytes.toString("base64url") !== segment)
    throw rejected("JWTMalformed", `the ${what}'s ${name} is not canonical base64url`);
  return bytes;
}

/** A JSON object from UTF-8 bytes: no BOM, valid UTF-8, no duplicate members, an object. */
function jsonObject(
  bytes: Buffer,
  name: string,
  what: string,
  reasonForDuplicates: string,
): Record<string, unknown> {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw rejected("JWTMalformed", `the ${what}'s ${name} is not valid UTF-8`);
  }
  if (text.startsWith(BOM))
    throw rejected("JWTMalformed", `the ${what}'s ${name} starts with a byte-order mark`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw rejected("JWTMalformed", `the ${what}'s ${name} is not JSON`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    const got = value === null ? "null" : Array.isArray(value) ? "an array" : typeof value;
    throw rejected("JWTMalformed", `the ${what}'s ${name} must be a JSON object, got ${got}`);
  }
  if (hasDuplicateKeys(text)) {
    throw rejected(
      reasonForDuplicates,
      `the ${what}'s ${name} repeats a member; parsers disagree on which one wins`,
    );
  }
  return value as Record<string, unknown>;
}

/** Decodes and checks a compact JWS's structure and header. Throws DeniedError naming the problem. */
export function decodeJws(token: unknown, kind: JwsKind): DecodedJws {
  const { what } = kind;
  if (typeof token !== "string") throw rejected("JWTMalformed", `the ${what} must be a string`);
  if (token.length > kind.maxBytes)
    throw rejected("JWTTooLarge", `a ${what} must be at most ${kind.maxBytes} bytes`);
  const parts = token.split(".");
  if (parts.length !== 3)
    throw rejected("JWTMalformed", `a ${what} is a compact JWS of three dot-separated parts`);
  const header = jsonObject(strictBase64url(parts[0]!, "header", what), "header", what, "JWTDuplicateClaim");
  for (const member of Object.keys(header)) {
    if (!ALLOWED_HEADER_MEMBERS.has(member)) {
      throw rejected(
        "JWTHeaderNotAllowed",
        `the ${what}'s header carries "${member.slice(0, 40)}"; only alg, typ and kid are accepted (keys come from the trust bundle, never the token)`,
      );
    }
  }
  if (header.alg !== JWS_ALG)
    throw rejected("JWTAlgorithmNotAllowed", `only ${JWS_ALG} ${what}s are accepted`);
  const typ = header.typ;
  if (typeof typ !== "string" || !kind.typ.some((t) => t.toLowerCase() === typ.toLowerCase())) {
    throw rejected(
      "JWTBadType",
      `the ${what}'s header typ must be ${kind.typ.map((t) => `"${t}"`).join(" or ")}${typeof typ === "string" ? `, got "${typ.slice(0, 60)}"` : " (it is missing)"}`,
    );
  }
  const kid = header.kid;
  if (typeof kid !== "string" || kid.length === 0 || kid.length > 256)
    throw rejected("JWTUnknownKey", `the ${what}'s header has no kid; name the signing key`);
  const payload = jsonObject(
    strictBase64url(parts[1]!, "payload", what),
    "payload",
    what,
    "JWTDuplicateClaim",
  );
  strictBase64url(parts[2]!, "signature", what);
  return { header: { alg: JWS_ALG, typ, kid }, payload };
}

/**
 * The JWK for `kid` among `keys` that may verify ES256 signatures: EC P-256, `alg` absent or ES256,
 * and usable for verification — `use` (when present) one of `uses`; without `use`, `key_ops` (when
 * present) must include "verify" (RFC 7517 §4.2-4.3).
 */
export function selectVerificationKey(
  keys: readonly jose.JWK[],
  kid: string,
  uses: readonly string[],
): jose.JWK | undefined {
  return keys.find(
    (k) =>
      k.kid === kid &&
      k.kty === "EC" &&
      k.crv === "P-256" &&
      (k.alg === undefined || k.alg === JWS_ALG) &&
      (k.use !== undefined
        ? uses.includes(k.use)
        : k.key_ops === undefined || (Array.isArray(k.key_ops) && k.key_ops.includes("verify"))),
  );
}

/** Verifies the ES256 signature of an already-decoded token with `jwk` (public members only). */
export async function verifyJwsSignature(token: string, jwk: jose.JWK, what: string): Promise<void> {
  const key = await jose.importJWK({ kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y }, JWS_ALG);
  try {
    await jose.compactVerify(token, key, { algorithms: [JWS_ALG] });
  } catch {
    throw rejected("JWTBadSignature", `the ${what}'s signature does not verify`);
  }
}

/** A NumericDate claim (RFC 7519 §2): a finite non-negative number of seconds. */
export function numericDate(
  payload: Record<string, unknown>,
  claim: string,
  what: string,
): number | undefined {
  const v = payload[claim];
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || v > 253402300799) {
    throw rejected(
      claim === "exp" ? "JWTBadExpiry" : claim === "iat" ? "JWTBadIssuedAt" : "JWTMissingClaim",
      `the ${what}'s ${claim} claim must be a NumericDate (seconds since the epoch, before year 10000)`,
    );
  }
  return v;
}

export function requireClaim(payload: Record<string, unknown>, claim: string, what: string): unknown {
  if (payload[claim] === undefined)
    throw rejected("JWTMissingClaim", `the ${what} has no ${claim} claim; it is required`);
  return payload[claim];
}
