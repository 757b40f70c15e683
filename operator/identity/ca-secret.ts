// The CA Secret's layout and the rotation rules, as pure functions.
//
//   tls.crt / tls.key          the active CA (signs now); PKCS#8 key
//   pending.crt / pending.key  the next CA: already in the bundle, signs from `activate-at`
//   retiring.crt               earlier CAs, trusted until they expire (their SVIDs die with them)
//   annotation warden.dev/ca-activate-at   when the pending CA starts signing (RFC 3339)
//
// Publishing a new CA in the bundle *before* it signs anything is what keeps every live SVID
// verifiable during a rotation: relying parties learn the new CA first, and the old one stays
// trusted until the last SVID it signed has expired (an SVID never outlives its CA).
import { type CA, lifeElapsed, loadCA } from "../../lib/identity/ca.ts";
import { certsFromPem, certsToPem, type x509 } from "../../lib/identity/crypto.ts";

export const ACTIVATE_AT_ANNOTATION = "warden.dev/ca-activate-at";

export interface CASet {
  active: CA;
  pending?: { ca: CA; activateAt: Date };
  retiring: x509.X509Certificate[];
  /** Extra trusted roots (bring-your-own: ca.crt). */
  extraTrust: x509.X509Certificate[];
}

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
  };
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
  | { kind: "retire"; expired: x509.X509Certificate[] }
  | { kind: "replaceExpired" };

/** The one next step for the leader to take; applied one at a time and re-planned after each. */
export function planRotation(set: CASet, now: Date, cfg: RotationConfig): RotationStep {
  if (set.active.notAfter.getTime() <= now.getTime() && !set.pending) return { kind: "replaceExpired" };
  const expired = set.retiring.filter((c) => c.notAfter.getTime() <= now.getTime());
  if (expired.length > 0) return { kind: "retire", expired };
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

/** Applies an activation: pending becomes active, the old active CA retires (trusted until expiry). */
export function activatePending(set: CASet): CASet {
  if (!set.pending) return set;
  return { ...set, active: set.pending.ca, pending: undefined, retiring: [...set.retiring, set.active.cert] };
}
