// Routing and gating: which ToolManifest a request is for, and the conditions without which
// nothing is forwarded at all (a valid policy, an unsuspended agent, a live SVID, a writable
// audit, a granted server). Each failed condition is a refusal with its own rule and HTTP status.
import type { CompiledServer, GatewayPolicy } from "../../api/v1alpha1/policy.ts";
import type { AuditWriter } from "../audit/writer.ts";
import { type Deny, deny } from "../decide/deny.ts";
import type { GatewayMetrics } from "../metrics.ts";
import type { PolicyStore } from "../policy-store.ts";
import type { SvidSource } from "../svid/source.ts";

const ROUTE = /^\/servers\/([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?)\/mcp\/?$/;

export type Refusal = { deny: Deny; status: number };

/** The ToolManifest named by the request path, or the refusal for an unknown route. */
export function routeOf(url: string | undefined): { manifest: string } | Refusal {
  const path = (url ?? "").split("?")[0] ?? "";
  const m = ROUTE.exec(path);
  if (!m)
    return {
      deny: deny("UnknownRoute", `no tool server at ${path.slice(0, 200)}; use /servers/<ToolManifest>/mcp`),
      status: 404,
    };
  return { manifest: m[1]! };
}

export interface GateDeps {
  policy: PolicyStore<GatewayPolicy>;
  svid: SvidSource;
  audit: AuditWriter;
  metrics: GatewayMetrics;
}

export type Gated = { policy: GatewayPolicy; server: CompiledServer };

/** Conditions without which nothing is forwarded: policy, identity, audit, route. */
export function gate(d: GateDeps, manifest: string): Refusal | Gated {
  const st = d.policy.state;
  if (!st.ok) return { deny: deny("PolicyUnavailable", st.reason, manifest), status: 503 };
  if (st.policy.agent.suspended) {
    return {
      deny: deny(
        "AgentSuspended",
        `agent ${st.policy.agent.namespace}/${st.policy.agent.name} is suspended`,
        manifest,
      ),
      status: 403,
    };
  }
  if (d.svid.secondsLeft() <= 0) {
    return {
      deny: deny("SvidExpired", "the gateway has no valid SVID (expired or not yet issued)", manifest),
      status: 503,
    };
  }
  const audit = auditRefusal(d, manifest);
  if (audit) return audit;
  const server = st.policy.servers.find((s) => s.manifest === manifest);
  if (!server)
    return {
      deny: deny("UnknownServer", `ToolManifest ${manifest} is not granted to this agent`, manifest),
      status: 404,
    };
  return { policy: st.policy, server };
}

/** The refusal when the audit cannot take a record (counted by reason), else undefined. */
export function auditRefusal(d: Pick<GateDeps, "audit" | "metrics">, manifest: string): Refusal | undefined {
  if (d.audit.accepting()) return undefined;
  const reason = d.audit.refusal();
  d.metrics.auditRefusals.inc({ reason: reason.includes("full") ? "queue_full" : "write_error" });
  return { deny: deny("AuditUnavailable", reason, manifest), status: 503 };
}

export function isRefusal(x: object): x is Refusal {
  return "deny" in x && "status" in x;
}
