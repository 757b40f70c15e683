// The CA Secret's layout and the rotation rules, as pure functions.
//
//   tls.crt / tls.key          the active CA (signs now); PKCS#8 key
//   pending.crt / pending.key  the next CA: already in the bundle, signs from `activate-at`
//   retiring.crt               earlier CAs, trusted until they expire (their SVIDs die with them)
//   annotation warden.dev/ca-activate-at   when the pending CA starts signing (RFC 3339)
//   jwt.key                    the JWT-SVID signing key (PKCS#8 P-256; never the CA key)
//   jwt-pending.key            the next JWT key: published with the pending CA, signs from activate-at
//   jwt-retiring.json          earlier JWT public keys [{kid, x, y, notAfter}], trusted until notAfter
//                              (the notAfter of the CA they signed under: a JWT-SVID's exp never
//                              passes its CA's notAfter, so no live token loses its key)
//
// Publishing a new CA in the bundle *before* it signs anything is what keeps every live SVID
// verifiable during a rotation: relying parties learn the new CA first, and the old one stays
// trusted until the last SVID it signed has expired (an SVID never outlives its CA).

import type * as jose from "jose";
import * as z from "zod";
import { parseOrThrow } from "../../lib/errors.ts";
import { type CA, lifeElapsed, loadCA } from "../../lib/identity/ca.ts";
import { certsFromPem, certsToPem, type x509 } from "../../lib/identity/crypto.ts";
import { type JWTKey, loadJWTKey } from "../../lib/identity/jwt-key.ts";
import type { AuthorityState } from "./authority.ts";

export const ACTIVATE_AT_ANNOTATION = "warden.dev/ca-activate-at";

export interface CASet {
  active: CA;
  pending?: { ca: CA; activateAt: Date };
  retiring: x509.X509Certificate[];
  /** Extra trusted roots (bring-your-own: ca.crt). */
  extraTrust: x509.X509Certificate[];
  /**
   * JWT-SVID signing keys; rotated in step with the CA. Absent only in a Secret written before
   * JWT keys existed (the CA manager adds one) or a bring-your-own Secret without jwt.key.
   */
  jwt?: JWTKeySet;
}

export interface RetiringJWTKey {
  /** Public JWK with kid. */
  jwk: jose.JWK;
  /** Trusted until then: the notAfter of the CA that was active while this key signed. */
  notAfter: Date;
}

export interface JWTKeySet {
  active: JWTKey;
  pending?: JWTKey;
  retiring: RetiringJWTKey[];
}

const retiringJWTSchema = z
  .array(
    z.object({
      kid: z.string().min(1).max(128),
      x: z.string().min(1).max(64),
      y: z.string().min(1).max(64),
      notAfter: z.iso.datetime({ message: "notAfter must be an RFC 3339 time" }),
    }),
  )
  .max(16);

type SecretData = Record<string, string>;
const b64 = (s: string) => Buffer.from(s).toString("base64");
const unb64 = (s: string | undefined) => (s ? Buffer.from(s, "base64").toString("utf8") : "");

export function encodeCASet(set: CASet): { data: SecretData; annotations: Record<string, string> } {
  const data: SecretData = { "tls.crt": b64(set.active.certPem), "tls.key": b64(set.active.keyPem) };
  const annotations: Record<string, string> = {};
  if (set.pending) {
    data["pending.crt"] = b64(set.pending.ca.certPem);
    data["pending.key"] = b64(set.pending.ca.keyPem);
    annotations[ACTIVATE_AT_ANNOTATION] = set.pending.activateAt.toISOString();
  }
  if (set.retiring.length > 0) data["retiring.crt"] = b64(certsToPem(set.retiring));
  if (set.extraTrust.length > 0) data["ca.crt"] = b64(certsToPem(set.extraTrust));
  if (set.jwt) {
    data["jwt.key"] = b64(set.jwt.active.keyPem);
    if (set.jwt.pending) data["jwt-pending.key"] = b64(set.jwt.pending.keyPem);
    if (set.jwt.retiring.length > 0) {
      const list = set.jwt.retiring.map((r) => ({
        kid: r.jwk.kid,
        x: r.jwk.x,
        y: r.jwk.y,
        notAfter: r.notAfter.toISOString(),
      }));
      data["jwt-retiring.json"] = b64(JSON.stringify(list));
    }
  }
  return { data, annotations };
}

export async function decodeCASet(
  data: SecretData,
  annotations: Record<string, string> = {},
): Promise<CASet> {
  const active = await loadCA(unb64(data["tls.crt"]), unb64(data["tls.key"]));
  let pending: CASet["pending"];
  if (data["pending.crt"] && data["pending.key"]) {
    const at = Date.parse(annotations[ACTIVATE_AT_ANNOTATION] ?? "");
    pending = {
      ca: await loadCA(unb64(data["pending.crt"]), unb64(data["pending.key"])),
      activateAt: new Date(Number.isFinite(at) ? at : 0),
    };
  }
  return {
    active,
    pending,
    retiring: certsFromPem(unb64(data["retiring.crt"])),
    extraTrust: certsFromPem(unb64(data["ca.crt"])),
    jwt: await decodeJWTKeys(data),
  };
}

async function decodeJWTKeys(data: SecretData): Promise<JWTKeySet | undefined> {
  if (!data["jwt.key"]) return undefined;
  const active = await loadJWTKey(unb64(data["jwt.key"]), "jwt.key");
  const pending = data["jwt-pending.key"]
    ? await loadJWTKey(unb64(data["jwt-pending.key"]), "jwt-pending.key")
    : undefined;
  let retiring: RetiringJWTKey[] = [];
  if (data["jwt-retiring.json"]) {
    let raw: unknown;
    try {
      raw = JSON.parse(unb64(data["jwt-retiring.json"]));
    } catch {
      raw = undefined;
    }
    const list = parseOrThrow(retiringJWTSchema, raw, "CA Secret jwt-retiring.json");
    retiring = list.map((r) => ({
      jwk: { kty: "EC", crv: "P-256", x: r.x, y: r.y, use: "jwt-svid", kid: r.kid },
      notAfter: new Date(r.notAfter),
    }));
  }
  return { active, pending, retiring };
}

/** What every replica signs with and publishes at `now` (the Authority's state) for a CA Secret. */
export function authorityStateOf(set: CASet, now: Date, sequence: number): AuthorityState {
  return {
    active: set.active,
    trusted: trustedCAs(set, now),
    sequence,
    jwt: set.jwt && { signer: set.jwt.active, trusted: trustedJWTKeys(set, now) },
  };
}

/** Public JWT-SVID keys to publish at `now`: active, pending, unexpired retiring (by kid, once). */
export function trustedJWTKeys(set: CASet, now: Date): jose.JWK[] {
  if (!set.jwt) return [];
  const all = [
    set.jwt.active.publicJwk,
    ...(set.jwt.pending ? [set.jwt.pending.publicJwk] : []),
    ...set.jwt.retiring.filter((r) => r.notAfter.getTime() > now.getTime()).map((r) => r.jwk),
  ];
  const seen = new Set<string>();
  return all.filter((k) => {
    if (!k.kid || seen.has(k.kid)) return false;
    seen.add(k.kid);
    return true;
  });
}

/** Every CA to trust at `now`: active, pending, unexpired retiring, extra; active first, no duplicates. */
export function trustedCAs(set: CASet, now: Date): x509.X509Certificate[] {
  const all = [
    set.active.cert,
    ...(set.active.chain ?? []).slice(-1),
    ...(set.pending ? [set.pending.ca.cert] : []),
  ];
  all.push(...set.retiring.filter((c) => c.notAfter.getTime() > now.getTime()), ...set.extraTrust);
  const seen = new Set<string>();
  return all.filter((c) => {
    const k = Buffer.from(c.rawData).toString("base64");
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

export interface RotationConfig {
  /** Fraction of the active CA's life after which the next CA is prepared (e.g. 2/3). */
  rotateAtFraction: number;
  /** Time between publishing the next CA and signing with it (bundle propagation to all readers). */
  propagationMs: number;
}

export type RotationStep =
  | { kind: "none" }
  | { kind: "prepare"; activateAt: Date }
  | { kind: "activate" }
  | { kind: "retire"; expired: x509.X509Certificate[]; expiredJwtKids: string[] }
  | { kind: "replaceExpired" };

/** The one next step for the leader to take; applied one at a time and re-planned after each. */
export function planRotation(set: CASet, now: Date, cfg: RotationConfig): RotationStep {
  if (set.active.notAfter.getTime() <= now.getTime() && !set.pending) return { kind: "replaceExpired" };
  const expired = set.retiring.filter((c) => c.notAfter.getTime() <= now.getTime());
  const expiredJwtKids = (set.jwt?.retiring ?? [])
    .filter((r) => r.notAfter.getTime() <= now.getTime())
    .map((r) => r.jwk.kid ?? "");
  if (expired.length > 0 || expiredJwtKids.length > 0) return { kind: "retire", expired, expiredJwtKids };
  if (set.pending) {
    // Activate on schedule, or at once if the active CA is about to expire regardless.
    if (now.getTime() >= set.pending.activateAt.getTime() || set.active.notAfter.getTime() <= now.getTime()) {
      return { kind: "activate" };
    }
    return { kind: "none" };
  }
  if (lifeElapsed(set.active, now) >= cfg.rotateAtFraction) {
    return { kind: "prepare", activateAt: new Date(now.getTime() + cfg.propagationMs) };
  }
  return { kind: "none" };
}

/**
 * Applies a prepare step: the next CA and the next JWT key enter the bundle together and both sign
 * from `activateAt`, so relying parties learn the new JWT key before the first token it signs.
 */
export function prepareNext(set: CASet, ca: CA, jwtKey: JWTKey, activateAt: Date): CASet {
  return {
    ...set,
    pending: { ca, activateAt },
    jwt: set.jwt && { ...set.jwt, pending: jwtKey },
  };
}

/**
 * Applies an activation: pending becomes active, the old active CA retires (trusted until expiry).
 * The pending JWT key activates with it; the old JWT key stays published until the old CA's
 * notAfter, which bounds the exp of every token it signed. (A Secret from before JWT keys may have
 * a pending CA without a pending JWT key: the active JWT key then simply keeps signing.)
 */
export function activatePending(set: CASet): CASet {
  if (!set.pending) return set;
  let jwt = set.jwt;
  if (jwt?.pending) {
    jwt = {
      active: jwt.pending,
      pending: undefined,
      retiring: [...jwt.retiring, { jwk: jwt.active.publicJwk, notAfter: set.active.notAfter }],
    };
  }
  return {
    ...set,
    active: set.pending.ca,
    pending: undefined,
    retiring: [...set.retiring, set.active.cert],
    jwt,
  };
}

/** Applies a retire step: drops expired CAs and the JWT keys whose last token has expired. */
export function retireExpired(
  set: CASet,
  step: { expired: x509.X509Certificate[]; expiredJwtKids: string[] },
): CASet {
  return {
    ...set,
    retiring: set.retiring.filter((c) => !step.expired.includes(c)),
    jwt: set.jwt && {
      ...set.jwt,
      retiring: set.jwt.retiring.filter((r) => !step.expiredJwtKids.includes(r.jwk.kid ?? "")),
    },
  };
}
