// Gateway metrics. Label values are bounded: tool names only when the policy grants them (else
// "other"), reasons from the fixed rule set, no per-agent or per-argument labels (DESIGN.md §4).
import { monitorEventLoopDelay } from "node:perf_hooks";
import { Counter, Gauge, Histogram, Registry } from "prom-client";

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly calls = new Counter({
    name: "warden_gateway_calls_total",
    help: "JSON-RPC messages decided, by decision, deciding rule and tool.",
    labelNames: ["decision", "reason", "tool"] as const,
    registers: [this.registry],
  });
  readonly latency = new Histogram({
    name: "warden_gateway_call_duration_seconds",
    help: "Time from receiving a message to the upstream response (or refusal).",
    labelNames: ["decision"] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [this.registry],
  });
  readonly upstreamErrors = new Counter({
    name: "warden_gateway_upstream_errors_total",
    help: "Upstream requests that failed, by kind (connect, tls, timeout, status).",
    labelNames: ["kind"] as const,
    registers: [this.registry],
  });
  readonly peerRefusals = new Counter({
    name: "warden_gateway_peer_refusals_total",
    help: "TLS peers refused (inbound: callers; outbound: tool servers), by side and reason (lib/identity/tls.ts PEER_REFUSALS).",
    labelNames: ["side", "reason"] as const,
    registers: [this.registry],
  });
  readonly policyInfo = new Gauge({
    name: "warden_gateway_policy_info",
    help: "1 for the policy version in force; loaded=false when the policy is missing or invalid.",
    labelNames: ["version", "loaded"] as const,
    registers: [this.registry],
  });
  readonly svidRotations = new Counter({
    name: "warden_gateway_svid_rotations_total",
    help: "X.509-SVIDs the gateway has taken into use (the first one included).",
    registers: [this.registry],
  });
  readonly svidSecondsLeft = new Gauge({
    name: "warden_gateway_svid_seconds_left",
    help: "Seconds until the gateway's X.509-SVID expires.",
    registers: [this.registry],
  });
  readonly auditHealthy = new Gauge({
    name: "warden_gateway_audit_writable",
    help: "1 when audit records can be written; 0 when calls are being refused because of the audit.",
    registers: [this.registry],
  });
  readonly auditRefusals = new Counter({
    name: "warden_gateway_audit_refusals_total",
    help: "Calls refused because the audit could not be written, by reason (write_error, queue_full).",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });
  readonly pendingApprovals = new Gauge({
    name: "warden_gateway_pending_approvals",
    help: "Calls currently held for approval.",
    registers: [this.registry],
  });
  readonly drift = new Counter({
    name: "warden_gateway_definition_drift_total",
    help: "Tool definitions seen in tools/list whose digest differs from the pinned one.",
    labelNames: ["tool"] as const,
    registers: [this.registry],
  });

  readonly unsolicited = new Counter({
    name: "warden_gateway_unsolicited_responses_total",
    help: "JSON-RPC responses dropped because nobody asked for them, by direction (from_server, from_agent).",
    labelNames: ["direction"] as const,
    registers: [this.registry],
  });

  /** Sampled every 10 ms by libuv (an unref'd timer: it never keeps the process alive). */
  readonly #loopDelay = monitorEventLoopDelay({ resolution: 10 });
  readonly eventLoopDelayMax = new Gauge({
    name: "warden_gateway_event_loop_delay_max_seconds",
    help: "Longest event-loop delay since the previous scrape: every call, stream and probe waits this long.",
    registers: [this.registry],
    collect: () => this.#collectLoopDelay(),
  });

  constructor() {
    this.#loopDelay.enable();
  }

  #collectLoopDelay(): void {
    // The histogram holds the delays since the last reset; max is 0 before the first sample.
    this.eventLoopDelayMax.set(this.#loopDelay.max / 1e9);
    this.#loopDelay.reset();
  }

  setPolicy(version: string | undefined): void {
    this.policyInfo.reset();
    this.policyInfo.set({ version: version ?? "", loaded: version ? "true" : "false" }, 1);
  }
}
