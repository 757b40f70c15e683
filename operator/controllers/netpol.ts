// The NetworkPolicies of an enclave, as a pure function of the enclave, the ToolManifests of its
// namespace, where the issuer and cluster DNS run, and the time. Every pod in the namespace is
// denied by default (Ingress and Egress); DNS goes to the cluster DNS pods only; agent pods reach
// the issuer (their gateway sidecar's SVID), the enclave's tool servers' inbound gateways and the
// egress CIDRs, nothing else; tool-server pods accept only the enclave's agent pods, on the inbound
// gateway's port, and reach only the issuer (their inbound gateway's SVID). No pod is admitted on
// the gateway's admin port or a tool server's own port: kubelet probes come from the node, which a
// NetworkPolicy does not fence. An exemption's extra egress is a policy of its own that exists
// only until expiresAt.
import { exemptionInForce } from "../../api/v1alpha1/exemptions.ts";
import type { AgentEnclave, ToolManifest } from "../../api/v1alpha1/index.ts";
import {
  LABEL_AGENT,
  LABEL_ENCLAVE,
  LABEL_MANAGED_BY,
  LABEL_TOOL_SERVER,
  MANAGED_BY,
} from "../../api/v1alpha1/index.ts";
import { GATEWAY_INBOUND_PORT } from "../../api/v1alpha1/sidecar.ts";

export const POLICY_DEFAULT_DENY = "warden-default-deny";
export const POLICY_DNS = "warden-allow-dns";
export const POLICY_AGENT_EGRESS = "warden-agent-egress";
export const toolServerPolicyName = (manifest: string) => `warden-tool-server-${manifest}`.slice(0, 253);
export const exemptionPolicyName = (exemption: string) => `warden-exemption-${exemption}`;

// Wire shapes (JSON as the API server speaks it). client-node's models rename `from` to `_from`,
// so NetworkPolicies are built, cached and compared as plain JSON, never as client-node models.
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}
export interface Peer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: { cidr: string; except?: string[] };
}
export interface PortRule {
  protocol: string;
  port: number;
}
export interface NetworkPolicySpec {
  podSelector: LabelSelector;
  policyTypes: ("Ingress" | "Egress")[];
  ingress?: { from?: Peer[]; ports?: PortRule[] }[];
  egress?: { to?: Peer[]; ports?: PortRule[] }[];
}
export interface NetworkPolicy {
  apiVersion: "networking.k8s.io/v1";
  kind: "NetworkPolicy";
  metadata: {
    name: string;
    namespace: string;
    labels?: Record<string, string>;
    ownerReferences?: unknown[];
    resourceVersion?: string;
  };
  spec: NetworkPolicySpec;
}
type EgressWire = NonNullable<NetworkPolicySpec["egress"]>[number];

const AGENT_PODS: LabelSelector = { matchExpressions: [{ key: LABEL_AGENT, operator: "Exists" }] };

type EgressRule = NonNullable<AgentEnclave["spec"]["egress"]>[number];

/** Where the pods the enclave must reach outside itself run (operator flags, set by the chart). */
export interface NetworkSettings {
  /** The issuer: the operator's pods (every replica serves it). */
  issuer: {
    namespace: string;
    podLabels: Record<string, string>;
    /** The issuer's container port; 0 (a port picked at run time, tests only) allows any port. */
    port: number;
  };
  /** Cluster DNS: the pods behind the kube-dns Service. */
  dns: { namespace: string; podLabels: Record<string, string> };
}

/** The chart's defaults: the release namespace agent-warden-system, kube-dns in kube-system. */
export const DEFAULT_NETWORK_SETTINGS: NetworkSettings = {
  issuer: {
    namespace: "agent-warden-system",
    podLabels: { "app.kubernetes.io/name": "agent-warden", "app.kubernetes.io/component": "operator" },
    port: 8443,
  },
  dns: { namespace: "kube-system", podLabels: { "k8s-app": "kube-dns" } },
};

const inNamespace = (namespace: string): LabelSelector => ({
  matchLabels: { "kubernetes.io/metadata.name": namespace },
});

/** Egress to the issuer: its pods, by namespace and labels, on its port only. */
export function issuerEgress(settings: NetworkSettings): EgressWire {
  const { namespace, podLabels, port } = settings.issuer;
  return {
    to: [{ namespaceSelector: inNamespace(namespace), podSelector: { matchLabels: { ...podLabels } } }],
    ...(port > 0 ? { ports: [{ protocol: "TCP", port }] } : {}),
  };
}

export interface EnclaveNetwork {
  policies: NetworkPolicy[];
  activeExemptions: string[];
  /** ms until the next exemption expires (when to look again), if any is active. */
  nextExpiryMs?: number;
  /** spec.toolServers entries with no ToolManifest in the namespace. */
  missingToolServers: string[];
}

export function toolServerPodLabels(m: ToolManifest): Record<string, string> {
  const labels = m.spec.server.podLabels;
  return labels && Object.keys(labels).length > 0 ? labels : { [LABEL_TOOL_SERVER]: m.metadata.name ?? "" };
}

function cidrRule(rule: EgressRule): EgressWire {
  const out: EgressWire = {
    to: [{ ipBlock: { cidr: rule.cidr, ...(rule.except?.length ? { except: rule.except } : {}) } }],
  };
  if (rule.ports?.length)
    out.ports = rule.ports.map((p) => ({ protocol: p.protocol ?? "TCP", port: p.port }));
  return out;
}

export function enclaveNetwork(
  enclave: AgentEnclave,
  manifests: ReadonlyMap<string, ToolManifest>,
  now: Date,
  settings: NetworkSettings = DEFAULT_NETWORK_SETTINGS,
): EnclaveNetwork {
  const name = enclave.metadata.name ?? "";
  const namespace = enclave.metadata.namespace ?? "";
  const meta = (policyName: string): NetworkPolicy["metadata"] => ({
    name: policyName,
    namespace,
    labels: { [LABEL_MANAGED_BY]: MANAGED_BY, [LABEL_ENCLAVE]: name },
  });
  const policies: NetworkPolicy[] = [];
  const np = (policyName: string, spec: NetworkPolicySpec): NetworkPolicy => ({
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: meta(policyName),
    spec,
  });

  policies.push(np(POLICY_DEFAULT_DENY, { podSelector: {}, policyTypes: ["Ingress", "Egress"] }));
  policies.push(
    np(POLICY_DNS, {
      podSelector: {},
      policyTypes: ["Egress"],
      egress: [
        {
          to: [
            {
              namespaceSelector: inNamespace(settings.dns.namespace),
              podSelector: { matchLabels: { ...settings.dns.podLabels } },
            },
          ],
          ports: [
            { protocol: "UDP", port: 53 },
            { protocol: "TCP", port: 53 },
          ],
        },
      ],
    }),
  );

  // The gateway sidecar gets and renews its SVID from the issuer: without this no agent starts.
  const egress: EgressWire[] = [issuerEgress(settings)];
  const missingToolServers: string[] = [];
  for (const serverName of [...new Set(enclave.spec.toolServers ?? [])].sort()) {
    const m = manifests.get(serverName);
    if (!m) {
      missingToolServers.push(serverName);
      continue;
    }
    const external = m.spec.server.externalCIDRs ?? [];
    if (external.length > 0) {
      const port = { protocol: "TCP", port: m.spec.server.port };
      egress.push({ to: external.map((cidr) => ({ ipBlock: { cidr } })), ports: [port] });
      continue;
    }
    // In the cluster agents reach only the tool server's inbound gateway (mTLS), never the
    // server's own port (spec.server.port, the gateway's loopback upstream): no sidecar bypass.
    const port = { protocol: "TCP", port: GATEWAY_INBOUND_PORT };
    const podLabels = toolServerPodLabels(m);
    egress.push({ to: [{ podSelector: { matchLabels: podLabels } }], ports: [port] });
    policies.push(
      np(toolServerPolicyName(serverName), {
        podSelector: { matchLabels: podLabels },
        policyTypes: ["Ingress", "Egress"],
        ingress: [{ from: [{ podSelector: AGENT_PODS }], ports: [port] }],
        // The inbound gateway's SVID; the tool server itself reaches nothing (DNS aside).
        egress: [issuerEgress(settings)],
      }),
    );
  }
  for (const rule of enclave.spec.egress ?? []) egress.push(cidrRule(rule));
  policies.push(np(POLICY_AGENT_EGRESS, { podSelector: AGENT_PODS, policyTypes: ["Egress"], egress }));

  const activeExemptions: string[] = [];
  let nextExpiryMs: number | undefined;
  for (const ex of enclave.spec.exemptions ?? []) {
    const left = Date.parse(ex.expiresAt) - now.getTime();
    // Only inside its window, and never when the window exceeds the cap (exemptions.ts).
    if (!exemptionInForce(ex, now)) continue;
    activeExemptions.push(ex.name);
    nextExpiryMs = nextExpiryMs === undefined ? left : Math.min(nextExpiryMs, left);
    if (!ex.egress?.length) continue;
    const selector: LabelSelector = ex.agents?.length
      ? { matchExpressions: [{ key: LABEL_AGENT, operator: "In", values: [...ex.agents].sort() }] }
      : AGENT_PODS;
    policies.push(
      np(exemptionPolicyName(ex.name), {
        podSelector: selector,
        policyTypes: ["Egress"],
        egress: ex.egress.map(cidrRule),
      }),
    );
  }
  return { policies, activeExemptions: activeExemptions.sort(), nextExpiryMs, missingToolServers };
}
