// Identity metrics. No per-agent label values (DESIGN.md §4): kinds and reasons only.
import { Counter, Gauge, Histogram, type Registry } from "prom-client";

export interface IdentityMetrics {
  issued: Counter<"kind">;
  refused: Counter<"kind" | "reason">;
  issueSeconds: Histogram<"kind">;
  caNotAfter: Gauge<"role">;
  caRotations: Counter;
  deliveredSecrets: Counter<"result">;
  statusWrites: Counter<"result">;
  authnCache: Counter<"result">;
}

const cache = new WeakMap<Registry, IdentityMetrics>();

/** One set per registry (several services in one process share it; prom-client refuses duplicates). */
export function identityMetrics(registry: Registry): IdentityMetrics {
  const existing = cache.get(registry);
  if (existing) return existing;
  const registers = [registry];
  const m: IdentityMetrics = {
    issued: new Counter({
      name: "warden_svids_issued_total",
      help: "SVIDs issued, by kind (x509, jwt).",
      labelNames: ["kind"],
      registers,
    }),
    refused: new Counter({
      name: "warden_svid_requests_refused_total",
      help: "SVID requests refused, by kind and reason.",
      labelNames: ["kind", "reason"],
      registers,
    }),
    issueSeconds: new Histogram({
      name: "warden_svid_issue_duration_seconds",
      help: "Time to authenticate, authorise and sign one SVID request.",
      labelNames: ["kind"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    caNotAfter: new Gauge({
      name: "warden_ca_not_after_seconds",
      help: "Expiry (unix seconds) of the CAs: role=active signs, role=pending is published but not yet signing.",
      labelNames: ["role"],
      registers,
    }),
    caRotations: new Counter({
      name: "warden_ca_rotations_total",
      help: "Signing CA rotations performed.",
      registers,
    }),
    deliveredSecrets: new Counter({
      name: "warden_svid_secrets_written_total",
      help: "SVID Secrets written for Secret delivery, by result.",
      labelNames: ["result"],
      registers,
    }),
    statusWrites: new Counter({
      name: "warden_issuer_status_writes_total",
      help: "AgentIdentity status.lastIssued writes by the issuer (coalesced), by result.",
      labelNames: ["result"],
      registers,
    }),
    authnCache: new Counter({
      name: "warden_issuer_authn_cache_total",
      help: "Token authentications by cache result: hit (cached success), negative_hit (cached refusal, no TokenReview), miss (TokenReview called or rate limited).",
      labelNames: ["result"],
      registers,
    }),
  };
  cache.set(registry, m);
  return m;
}
