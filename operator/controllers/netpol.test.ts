import { describe, expect, it } from "vitest";
import type { AgentEnclave, ToolManifest } from "../../api/v1alpha1/index.ts";
import { enclaveNetwork } from "./netpol.ts";

const enclave = (spec: Partial<AgentEnclave["spec"]>): AgentEnclave => ({
  apiVersion: "warden.dev/v1alpha1",
  kind: "AgentEnclave",
  metadata: { name: "proj", namespace: "team-a" },
  spec: { maxSvidTTL: "1h", requireSponsor: false, requireTaskToken: false, ...spec },
});
const manifest = (name: string, server: Partial<ToolManifest["spec"]["server"]>): ToolManifest => ({
  apiVersion: "warden.dev/v1alpha1",
  kind: "ToolManifest",
  metadata: { name, namespace: "team-a" },
  spec: {
    endpoint: `https://${name}.team-a.svc:8443/mcp`,
    transport: "StreamableHTTP",
    mode: "Enforce",
    server: { port: 8443, ...server },
    tools: [{ name: "t", risk: "Low" }],
  },
});

describe("enclaveNetwork", () => {
  it("denies by default, allows DNS to kube-dns only, and agent egress to tool servers and CIDRs", () => {
    const net = enclaveNetwork(
      enclave({
        toolServers: ["search", "ext", "gone"],
        egress: [{ cidr: "203.0.113.0/24", ports: [{ port: 443, protocol: "TCP" }] }],
      }),
      new Map([
        ["search", manifest("search", {})],
        ["ext", manifest("ext", { externalCIDRs: ["198.51.100.0/24"], port: 443 })],
      ]),
      new Date(),
    );
    const byName = Object.fromEntries(net.policies.map((p) => [p.metadata?.name, p.spec]));
    expect(byName["warden-default-deny"]).toEqual({ podSelector: {}, policyTypes: ["Ingress", "Egress"] });
    expect(byName["warden-allow-dns"]?.egress?.[0]?.ports).toEqual([
      { protocol: "UDP", port: 53 },
      { protocol: "TCP", port: 53 },
    ]);
    expect(byName["warden-agent-egress"]).toEqual({
      podSelector: { matchExpressions: [{ key: "warden.dev/agent", operator: "Exists" }] },
      policyTypes: ["Egress"],
      egress: [
        { to: [{ ipBlock: { cidr: "198.51.100.0/24" } }], ports: [{ protocol: "TCP", port: 443 }] },
        {
          to: [{ podSelector: { matchLabels: { "warden.dev/tool-server": "search" } } }],
          ports: [{ protocol: "TCP", port: 15443 }],
        },
        { to: [{ ipBlock: { cidr: "203.0.113.0/24" } }], ports: [{ protocol: "TCP", port: 443 }] },
      ],
    });
    expect(byName["warden-tool-server-search"]).toEqual({
      podSelector: { matchLabels: { "warden.dev/tool-server": "search" } },
      policyTypes: ["Ingress"],
      ingress: [
        {
          from: [{ podSelector: { matchExpressions: [{ key: "warden.dev/agent", operator: "Exists" }] } }],
          ports: [{ protocol: "TCP", port: 15443 }],
        },
      ],
    });
    expect(byName["warden-tool-server-ext"]).toBeUndefined();
    expect(net.missingToolServers).toEqual(["gone"]);
  });

  it("applies an exemption's egress only until expiresAt and says when to look again", () => {
    const now = new Date("2026-01-01T00:00:00Z");
    const e = enclave({
      exemptions: [
        {
          name: "migration",
          egress: [{ cidr: "192.0.2.0/24" }],
          agents: ["b", "a"],
          startsAt: "2025-12-31T00:00:00Z",
          expiresAt: "2026-01-01T00:10:00Z",
          reason: "one-off data migration",
        },
        {
          name: "old",
          egress: [{ cidr: "192.0.2.0/24" }],
          startsAt: "2025-12-30T00:00:00Z",
          expiresAt: "2025-12-31T00:00:00Z",
          reason: "expired one",
        },
      ],
    });
    const net = enclaveNetwork(e, new Map(), now);
    expect(net.activeExemptions).toEqual(["migration"]);
    expect(net.nextExpiryMs).toBe(600_000);
    const ex = net.policies.find((p) => p.metadata?.name === "warden-exemption-migration");
    expect(ex?.spec?.podSelector).toEqual({
      matchExpressions: [{ key: "warden.dev/agent", operator: "In", values: ["a", "b"] }],
    });
    expect(net.policies.find((p) => p.metadata?.name === "warden-exemption-old")).toBeUndefined();
    const later = enclaveNetwork(e, new Map(), new Date("2026-01-01T00:10:00Z"));
    expect(later.policies.find((p) => p.metadata?.name?.startsWith("warden-exemption-"))).toBeUndefined();
    expect(later.nextExpiryMs).toBeUndefined();
  });
});
