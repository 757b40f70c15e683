// Go-style durations ("90s", "15m", "1h30m", "500ms") as the API schemas spell them, and the TTL
// rule of the issuer: the identity's TTL, capped by its enclave, by the cluster-wide --svid-max-ttl
// and by a test-only override.
import { DURATION_PATTERN } from "../../api/v1alpha1/common.ts";
import { ValidationError } from "../../lib/errors.ts";

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const WHOLE = new RegExp(DURATION_PATTERN);
const PART = /([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/g;

export function parseDuration(text: string, field = "duration"): number {
  if (!WHOLE.test(text)) {
    throw new ValidationError("duration", [
      { path: field, message: `${JSON.stringify(text)} is not a duration such as 90s, 15m or 1h30m` },
    ]);
  }
  let ms = 0;
  for (const m of text.matchAll(PART)) ms += Number(m[1]) * UNIT_MS[m[2]!]!;
  return Math.round(ms);
}

export const DEFAULT_SVID_TTL = "15m";
export const DEFAULT_ENCLAVE_MAX_TTL = "1h";

/**
 * min(identity TTL, enclave max, cluster max, override). Each input is a Go duration; missing
 * identity and enclave values use the API's defaults, a missing cluster max or override caps nothing.
 */
export function effectiveTTLms(opts: {
  identityTTL?: string;
  enclaveMaxTTL?: string;
  /** The operator's --svid-max-ttl. */
  clusterMaxTTL?: string;
  override?: string;
}): number {
  const ttl = parseDuration(opts.identityTTL ?? DEFAULT_SVID_TTL, "spec.svid.ttl");
  const max = parseDuration(opts.enclaveMaxTTL ?? DEFAULT_ENCLAVE_MAX_TTL, "AgentEnclave spec.maxSvidTTL");
  const clusterMax = opts.clusterMaxTTL
    ? parseDuration(opts.clusterMaxTTL, "svid.maxTTL")
    : Number.POSITIVE_INFINITY;
  const override = opts.override
    ? parseDuration(opts.override, "issuer.ttlOverride")
    : Number.POSITIVE_INFINITY;
  return Math.min(ttl, max, clusterMax, override);
}

export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
