import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { AgentEnclave, ToolManifest } from "../../api/v1alpha1/index.ts";
import {
  DEFAULT_NETWORK_SETTINGS,
  enclaveNetwork,
  type NetworkPolicy,
  type NetworkSettings,
} from "./netpol.ts";

const SETTINGS: NetworkSettings = {
  issuer: {
    namespace: "warden-system",
    podLabels: { "app.kubernetes.io/instance": "w", "app.kubernetes.io/component": "operator" },
    port: 8443,
  },
  dns: { namespace: "kube-system", podLabels: { "k8s-app": "kube-dns" } },
};
const ISSUER_EGRESS = {
  to: [
    {
      namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "warden-system" } },
      podSelector: {
        matchLabels: { "app.kubernetes.io/instance": "w", "app.kubernetes.io/component": "operator" },
      },
    },
  ],
  ports: [{ protocol: "TCP", port: 8443 }],
};

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
      SETTINGS,
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
        ISSUER_EGRESS,
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
      policyTypes: ["Ingress", "Egress"],
      ingress: [
        {
          from: [{ podSelector: { matchExpressions: [{ key: "warden.dev/agent", operator: "Exists" }] } }],
          ports: [{ protocol: "TCP", port: 15443 }],
        },
      ],
      egress: [ISSUER_EGRESS],
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

/** Every (from, port) an ingress rule admits, and every (to, port) an egress rule allows. */
function allowed(policies: NetworkPolicy[]) {
  const ingressPorts: number[] = [];
  const egress: { selector: string; peer: string; ports: number[] | "any" }[] = [];
  for (const p of policies) {
    for (const r of p.spec.ingress ?? []) ingressPorts.push(...(r.ports ?? []).map((x) => x.port));
    for (const r of p.spec.egress ?? [])
      egress.push({
        selector: JSON.stringify(p.spec.podSelector),
        peer: JSON.stringify(r.to),
        ports: r.ports ? r.ports.map((x) => x.port) : "any",
      });
  }
  return { ingressPorts, egress };
}

describe("enclaveNetwork: what a pod in the enclave can reach (attacks)", () => {
  const manifests = new Map([
    ["search", manifest("search", { port: 8080 })],
    ["custom", manifest("custom", { port: 9000, podLabels: { app: "custom-tools" } })],
  ]);
  const net = enclaveNetwork(enclave({ toolServers: ["search", "custom"] }), manifests, new Date(), SETTINGS);
  const byName = Object.fromEntries(net.policies.map((p) => [p.metadata.name, p.spec]));
  const { ingressPorts, egress } = allowed(net.policies);

  const attacks: { name: string; holds: () => boolean }[] = [
    {
      name: "agent → tool server's own port (bypassing both gateways): no rule names 8080 or 9000",
      holds: () =>
        egress.every((e) => e.ports === "any" || !e.ports.some((p) => p === 8080 || p === 9000)) &&
        !ingressPorts.some((p) => p === 8080 || p === 9000),
    },
    {
      name: "anything → the gateway's admin port 15020: no ingress rule admits it",
      holds: () => !ingressPorts.includes(15020),
    },
    {
      name: "anything → the outbound gateway's port 15001: no ingress rule admits it",
      holds: () => !ingressPorts.includes(15001),
    },
    {
      name: "agent → API server or any address: no ipBlock without a listed CIDR",
      holds: () => egress.every((e) => !e.peer.includes("ipBlock")),
    },
    {
      name: "agent → pods in other namespaces: only DNS pods and the issuer pods, by exact labels",
      holds: () =>
        egress
          .filter((e) => e.peer.includes("namespaceSelector"))
          .every(
            (e) =>
              e.peer === JSON.stringify(ISSUER_EGRESS.to) ||
              e.peer.includes('"kubernetes.io/metadata.name":"kube-system"'),
          ),
    },
    {
      name: "agent → the issuer on another port than the issuer's",
      holds: () =>
        egress
          .filter((e) => e.peer === JSON.stringify(ISSUER_EGRESS.to))
          .every((e) => JSON.stringify(e.ports) === "[8443]"),
    },
    {
      name: "DNS to anything but port 53",
      holds: () =>
        JSON.stringify(byName["warden-allow-dns"]?.egress?.[0]?.ports) ===
        JSON.stringify([
          { protocol: "UDP", port: 53 },
          { protocol: "TCP", port: 53 },
        ]),
    },
    {
      name: "tool-server pod → anywhere but the issuer (and DNS)",
      holds: () =>
        ["warden-tool-server-search", "warden-tool-server-custom"].every(
          (n) => JSON.stringify(byName[n]?.egress) === JSON.stringify([ISSUER_EGRESS]),
        ),
    },
    {
      name: "non-agent pod → tool server: ingress only from warden.dev/agent pods, port 15443",
      holds: () =>
        ["warden-tool-server-search", "warden-tool-server-custom"].every(
          (n) =>
            JSON.stringify(byName[n]?.ingress) ===
            JSON.stringify([
              {
                from: [
                  { podSelector: { matchExpressions: [{ key: "warden.dev/agent", operator: "Exists" }] } },
                ],
                ports: [{ protocol: "TCP", port: 15443 }],
              },
            ]),
        ),
    },
    {
      name: "tool server with its own pod labels is fenced by those labels",
      holds: () =>
        JSON.stringify(byName["warden-tool-server-custom"]?.podSelector) ===
        JSON.stringify({ matchLabels: { app: "custom-tools" } }),
    },
  ];
  it.each(attacks)("$name", ({ holds }) => expect(holds()).toBe(true));

  it("the agent egress is the issuer first, then each tool server's inbound gateway", () => {
    expect(byName["warden-agent-egress"]?.egress).toEqual([
      ISSUER_EGRESS,
      {
        to: [{ podSelector: { matchLabels: { app: "custom-tools" } } }],
        ports: [{ protocol: "TCP", port: 15443 }],
      },
      {
        to: [{ podSelector: { matchLabels: { "warden.dev/tool-server": "search" } } }],
        ports: [{ protocol: "TCP", port: 15443 }],
      },
    ]);
  });

  it("an enclave without tool servers still lets agents reach the issuer, and only it", () => {
    const bare = enclaveNetwork(enclave({}), new Map(), new Date(), SETTINGS);
    const agent = bare.policies.find((p) => p.metadata.name === "warden-agent-egress");
    expect(agent?.spec.egress).toEqual([ISSUER_EGRESS]);
  });

  it("DNS and issuer peers follow the settings (another DNS provider, a release elsewhere)", () => {
    const other = enclaveNetwork(enclave({}), new Map(), new Date(), {
      issuer: { namespace: "sec", podLabels: { app: "warden" }, port: 9443 },
      dns: { namespace: "dns-system", podLabels: { app: "coredns" } },
    });
    const spec = (n: string) => other.policies.find((p) => p.metadata.name === n)?.spec;
    expect(spec("warden-allow-dns")?.egress?.[0]?.to).toEqual([
      {
        namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "dns-system" } },
        podSelector: { matchLabels: { app: "coredns" } },
      },
    ]);
    expect(spec("warden-agent-egress")?.egress).toEqual([
      {
        to: [
          {
            namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "sec" } },
            podSelector: { matchLabels: { app: "warden" } },
          },
        ],
        ports: [{ protocol: "TCP", port: 9443 }],
      },
    ]);
  });

  it("defaults match the chart's default release", () => {
    expect(DEFAULT_NETWORK_SETTINGS.issuer.port).toBe(8443);
    expect(DEFAULT_NETWORK_SETTINGS.dns).toEqual({
      namespace: "kube-system",
      podLabels: { "k8s-app": "kube-dns" },
    });
  });

  it("property: whatever the tool servers and their ports, no rule opens a server's own port or the admin port", () => {
    const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/);
    const port = fc.integer({ min: 1, max: 65535 }).filter((p) => p !== 15443 && p !== 53);
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(name, port), { selector: ([n]) => n, maxLength: 6 }), (servers) => {
        const ms = new Map(servers.map(([n, p]) => [n, manifest(n, { port: p })]));
        const n = enclaveNetwork(enclave({ toolServers: servers.map(([x]) => x) }), ms, new Date(), SETTINGS);
        const a = allowed(n.policies);
        const own = new Set(servers.map(([, p]) => p).filter((p) => p !== 8443));
        return (
          !a.ingressPorts.some((p) => own.has(p) || p === 15020 || p === 15001) &&
          a.ingressPorts.every((p) => p === 15443) &&
          a.egress.every(
            (e) => e.ports !== "any" && e.ports.every((p) => p === 15443 || p === 53 || p === 8443),
          )
        );
      }),
    );
  });
});
