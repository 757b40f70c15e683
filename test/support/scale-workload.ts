// The workload the operator's scale test and its benchmark both create: one ToolManifest, one
// enclave, and N AgentIdentities granted two of its tools; and how both count Ready identities.
import type * as k8s from "@kubernetes/client-node";

const GROUP = "warden.dev";
const VERSION = "v1alpha1";

export const scaleToolManifest = (namespace: string) => ({
  apiVersion: `${GROUP}/${VERSION}`,
  kind: "ToolManifest",
  metadata: { name: "tools" },
  spec: {
    endpoint: `https://tools.${namespace}.svc:8443/mcp`,
    server: { port: 8443 },
    tools: [
      { name: "search", description: "Search", inputSchema: { type: "object" } },
      { name: "fetch", risk: "High" },
      { name: "summarize" },
    ],
  },
});

export const scaleEnclave = () => ({
  apiVersion: `${GROUP}/${VERSION}`,
  kind: "AgentEnclave",
  metadata: { name: "proj" },
  spec: { toolServers: ["tools"] },
});

export const scaleIdentity = (name: string) => ({
  apiVersion: `${GROUP}/${VERSION}`,
  kind: "AgentIdentity",
  metadata: { name },
  spec: {
    enclave: "proj",
    agentType: "worker",
    sponsor: { name: "owner" },
    grants: [{ manifest: { name: "tools" }, tools: [{ name: "search" }, { name: "summarize" }] }],
  },
});

/** AgentIdentities in the namespace whose Ready condition is True. */
export async function readyIdentities(custom: k8s.CustomObjectsApi, namespace: string): Promise<number> {
  type Listed = { items: { status?: { conditions?: { type: string; status: string }[] } }[] };
  const list = (await custom.listNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace,
    plural: "agentidentities",
  })) as Listed;
  return list.items.filter((i) =>
    i.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
  ).length;
}
