// What `warden check` cannot see offline, said in its own output (text, JSON, SARIF) and in
// docs/ci-usage.md: the cluster decides some things from state no manifest carries. Each limit
// names the input that closes it, when there is one.
export interface OfflineLimit {
  id: string;
  /** One line for the text output. */
  short: string;
  what: string;
  /** The option (or input) that supplies what is missing; absent when nothing offline can. */
  input?: string;
}

export const OFFLINE_LIMITS = {
  update: {
    id: "offline.update",
    short: "UPDATE comparisons with the stored objects",
    what: "UPDATE rules compare the stored object with the new one: agent.immutableLabels, a running pod's own gateway, ToolManifest tool removals that break grants, CRD transition rules (oldSelf) and validation ratcheting; without it every object is checked as a CREATE",
    input: "--old <stored manifests>",
  },
  namespaceLabels: {
    id: "offline.namespaceLabels",
    short: "the namespaces' live labels",
    what: "the live labels of each namespace (warden.dev/enclave, set by the operator) decide whether pods there are agent-checked; without them an enclave is known only from an AgentEnclave in the input",
    input: "--namespace-labels or a Namespace object in the input",
  },
  clusterObjects: {
    id: "offline.clusterObjects",
    short: "warden objects that exist only in the cluster",
    what: "AgentIdentities, AgentEnclaves and ToolManifests that exist only in the cluster (another enclave in the namespace, an identity suspended after the commit) are unknown; only the input and --context are read",
    input: "--context",
  },
  apiServer: {
    id: "offline.apiServer",
    short: "API-server checks outside the warden CRDs (use kubectl apply --dry-run=server)",
    what: "API-server checks outside the warden CRDs: the core schema of Pods and workloads, name conflicts, the namespace existing, quotas, other webhooks and ValidatingAdmissionPolicies, Pod Security Admission, and the CEL cost budget (kubectl apply --dry-run=server checks these)",
  },
} as const satisfies Record<string, OfflineLimit>;

export interface SuppliedInputs {
  old: boolean;
  namespaceLabels: boolean;
}

/** The limits that applied to one run, given what the user supplied. */
export function limitsFor(s: SuppliedInputs): OfflineLimit[] {
  const out: OfflineLimit[] = [];
  if (!s.old) out.push(OFFLINE_LIMITS.update);
  if (!s.namespaceLabels) out.push(OFFLINE_LIMITS.namespaceLabels);
  out.push(OFFLINE_LIMITS.clusterObjects, OFFLINE_LIMITS.apiServer);
  return out;
}
