// AgentEnclave controller: namespace label, the operator's RoleBinding for writes in the
// namespace, the NetworkPolicies of netpol.ts, and status. Level-triggered: each run computes the
// whole desired state from the caches and writes only the differences.
import type * as k8s from "@kubernetes/client-node";
import {
  enclavePodSecurityLevel,
  isProtectedNamespace,
  KINDS,
  LABEL_ENCLAVE,
  LABEL_MANAGED_BY,
  MANAGED_BY,
  nextExemptionChangeMs,
  PSA_ENFORCE_LABEL,
  PSA_ENFORCE_VERSION_LABEL,
} from "../../api/v1alpha1/index.ts";
import { isSubset } from "../runtime/apply.ts";
import { type ConditionInput, mergeConditions, readyFrom } from "../runtime/conditions.ts";
import type { ReconcileResult } from "../runtime/workqueue.ts";
import { type CachedNetworkPolicy, type Enclave, namespaceEnclave, splitKey } from "./caches.ts";
import { type ControllerContext, ROLE_BINDING_NAME } from "./context.ts";
import { enclaveNetwork, type NetworkPolicy } from "./netpol.ts";
import { statusUnchanged } from "./status.ts";
import { ownerRef } from "./writer.ts";

/** Desired spec contained in the live one, and no extra rules in lists we left empty. */
export function networkPolicyMatches(
  desired: NetworkPolicy,
  actual: CachedNetworkPolicy | undefined,
): boolean {
  if (!actual) return false;
  const a = actual.spec as NetworkPolicy["spec"] | undefined;
  if (!a || !isSubset(desired.spec, a)) return false;
  if (!desired.spec.ingress && (a.ingress?.length ?? 0) > 0) return false;
  if (!desired.spec.egress && (a.egress?.length ?? 0) > 0) return false;
  if ([...a.policyTypes].sort().join() !== [...desired.spec.policyTypes].sort().join()) return false;
  return (
    isSubset(desired.metadata.labels, actual.metadata?.labels) &&
    isSubset(desired.metadata.ownerReferences, actual.metadata?.ownerReferences)
  );
}

export async function reconcileEnclave(
  ctx: ControllerContext,
  key: string,
): Promise<ReconcileResult | undefined> {
  const { namespace, name } = splitKey(key);
  const { caches, writer } = ctx;
  const enclave = caches.enclaves.get(name, namespace);
  const ns = caches.namespaces.get(namespace);
  const winner = namespaceEnclave(caches, namespace);

  if (!enclave || enclave.metadata.deletionTimestamp) {
    // Gone: drop our namespace label unless another enclave now owns the namespace (applying a
    // Namespace without the label makes server-side apply remove the field we owned).
    if (!winner && ns?.metadata?.labels?.[LABEL_ENCLAVE] === name) {
      await writer.applyNamespace({ apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } });
    }
    if (winner) return reconcileEnclave(ctx, `${namespace}/${winner.metadata.name}`);
    return undefined;
  }

  const generation = enclave.metadata.generation;
  /** An enclave this namespace cannot have: both conditions say why, nothing is fenced. */
  const refuse = async (reason: string, message: string) => {
    await writeStatus(ctx, enclave, {
      observedGeneration: generation,
      conditions: mergeConditions(
        enclave.status?.conditions,
        [
          { type: "NetworkPolicyReady", status: "False", reason, message },
          { type: "Ready", status: "False", reason, message },
        ],
        generation,
      ),
    });
    return undefined;
  };
  if (isProtectedNamespace(namespace, ctx.settings.operatorNamespace)) {
    // The webhook never sees these namespaces (its registrations exclude them), so this is where
    // an enclave there is refused: fencing them would cut off the cluster's (or our own) pods.
    return refuse(
      "ProtectedNamespace",
      `Namespace ${namespace} ${namespace === ctx.settings.operatorNamespace ? "is agent-warden's own" : "belongs to the cluster"}; an AgentEnclave there is not reconciled. Delete it and create it in a namespace of its own project.`,
    );
  }
  if (winner && winner.metadata.uid !== enclave.metadata.uid) {
    return refuse(
      "DuplicateEnclave",
      `Namespace ${namespace} already belongs to AgentEnclave ${winner.metadata.name}; one enclave per namespace. Delete this one or move it to its own namespace.`,
    );
  }

  const nsLabels = enclaveNamespaceLabels(enclave, ctx.now());
  if (ns && !isSubset(nsLabels, ns.metadata?.labels)) {
    await writer.applyNamespace({
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: namespace, labels: nsLabels },
    });
    ctx.enclaveNamespaceLabelled?.(namespace);
  }
  await ensureRoleBinding(ctx, enclave);

  const manifests = new Map(caches.manifests.list(namespace).map((m) => [m.metadata.name ?? "", m]));
  const net = enclaveNetwork(enclave, manifests, ctx.now(), ctx.settings.network);
  const owner = ownerRef({
    apiVersion: enclave.apiVersion,
    kind: KINDS.AgentEnclave.kind,
    metadata: enclave.metadata,
  });
  const wanted = new Set<string>();
  for (const np of net.policies) {
    np.metadata.ownerReferences = [owner];
    wanted.add(np.metadata.name);
    if (networkPolicyMatches(np, caches.networkPolicies.get(np.metadata.name, namespace))) {
      ctx.metrics.writesSkipped.inc({ resource: "networkpolicies" });
      continue;
    }
    await writer.applyNetworkPolicy(np);
  }
  for (const live of caches.networkPolicies.list(namespace)) {
    const liveName = live.metadata?.name ?? "";
    if (live.metadata?.labels?.[LABEL_ENCLAVE] === name && !wanted.has(liveName)) {
      // An exemption that expired or a tool server no longer listed.
      await writer.deleteNetworkPolicy(namespace, liveName);
    }
  }

  const agents = caches.identities.list(namespace).filter((i) => i.spec?.enclave === name).length;
  const conds: ConditionInput[] = [
    {
      type: "NetworkPolicyReady",
      status: "True",
      reason: "Applied",
      message: `${net.policies.length} NetworkPolicies enforce default-deny with DNS, tool-server and egress allowances.`,
    },
  ];
  if (net.missingToolServers.length > 0) {
    conds.push({
      type: "ToolServersResolved",
      status: "False",
      reason: "ToolManifestNotFound",
      message: `spec.toolServers names ToolManifest(s) that do not exist in ${namespace}: ${net.missingToolServers.join(", ")}; create them or remove them from spec.toolServers.`,
    });
  }
  conds.push(readyFrom(conds, `Enclave ${name} fences namespace ${namespace}.`));
  await writeStatus(ctx, enclave, {
    observedGeneration: generation,
    networkPolicies: [...wanted].sort(),
    activeExemptions: net.activeExemptions,
    agents,
    conditions: mergeConditions(enclave.status?.conditions, conds, generation, ctx.now()),
  });
  // Look again just after the next exemption starts or expires, so its egress and the namespace's
  // Pod Security level really change then.
  const next = nextExemptionChangeMs(enclave.spec.exemptions ?? [], ctx.now());
  return next !== undefined ? { requeueAfterMs: next + 500 } : undefined;
}

/**
 * The labels the operator owns on an enclave namespace: the enclave's name, and Pod Security
 * admission at the level the enclave's exemptions leave (restricted unless one in force waives a
 * control of it), so pods that escape the webhook still meet the profile.
 */
export function enclaveNamespaceLabels(enclave: Enclave, now: Date): Record<string, string> {
  return {
    [LABEL_ENCLAVE]: enclave.metadata.name ?? "",
    [PSA_ENFORCE_LABEL]: enclavePodSecurityLevel(enclave.spec.exemptions ?? [], now),
    [PSA_ENFORCE_VERSION_LABEL]: "latest",
  };
}

/** The operator's RoleBinding of an enclave namespace: binds the enclave role to our ServiceAccount. */
export function desiredRoleBinding(
  settings: Pick<
    ControllerContext["settings"],
    "enclaveClusterRole" | "serviceAccount" | "operatorNamespace"
  >,
  enclave: Enclave,
): k8s.V1RoleBinding {
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "RoleBinding",
    metadata: {
      name: ROLE_BINDING_NAME,
      namespace: enclave.metadata.namespace ?? "",
      labels: { [LABEL_MANAGED_BY]: MANAGED_BY, [LABEL_ENCLAVE]: enclave.metadata.name ?? "" },
      ownerReferences: [
        ownerRef({
          apiVersion: enclave.apiVersion,
          kind: KINDS.AgentEnclave.kind,
          metadata: enclave.metadata,
        }),
      ],
    },
    roleRef: {
      apiGroup: "rbac.authorization.k8s.io",
      kind: "ClusterRole",
      name: settings.enclaveClusterRole,
    },
    subjects: [
      { kind: "ServiceAccount", name: settings.serviceAccount, namespace: settings.operatorNamespace },
    ],
  };
}

/**
 * Does the live binding grant exactly what we want? roleRef and subjects must match exactly (an
 * extra subject added by hand would widen who holds the enclave role); labels and owner only as a
 * subset. A binding missing from the cache does not match.
 */
export function roleBindingMatches(desired: k8s.V1RoleBinding, live: k8s.V1RoleBinding | undefined): boolean {
  if (!live) return false;
  return (
    JSON.stringify(live.roleRef) === JSON.stringify(desired.roleRef) &&
    isSubset(desired.subjects, live.subjects) &&
    isSubset(desired.metadata?.labels, live.metadata?.labels) &&
    isSubset(desired.metadata?.ownerReferences, live.metadata?.ownerReferences)
  );
}

async function ensureRoleBinding(ctx: ControllerContext, enclave: Enclave): Promise<void> {
  if (!ctx.settings.enclaveClusterRole) return;
  const rb = desiredRoleBinding(ctx.settings, enclave);
  // The RoleBindings we own are watched (caches.roleBindings), so a deleted or edited binding
  // enqueues its enclave and lands here, where the cache shows the difference.
  if (roleBindingMatches(rb, ctx.caches.roleBindings.get(ROLE_BINDING_NAME, rb.metadata?.namespace))) {
    ctx.metrics.writesSkipped.inc({ resource: "rolebindings" });
    return;
  }
  await ctx.writer.applyRoleBinding(rb);
}

async function writeStatus(
  ctx: ControllerContext,
  enclave: Enclave,
  status: Record<string, unknown>,
): Promise<void> {
  if (statusUnchanged(status, enclave.status as Record<string, unknown> | undefined)) {
    ctx.metrics.writesSkipped.inc({ resource: "agentenclaves/status" });
    return;
  }
  await ctx.writer.applyStatus(
    KINDS.AgentEnclave.plural,
    enclave.metadata.namespace ?? "",
    enclave.metadata.name ?? "",
    KINDS.AgentEnclave.kind,
    status,
  );
}
