// ToolManifest controller: validation, pinned digests, Accepted, boundAgents, and the inbound
// policy (which SPIFFE IDs the inbound gateway in front of the tool server admits).
import type * as k8s from "@kubernetes/client-node";
import {
  type Grant,
  KINDS,
  LABEL_ENCLAVE,
  LABEL_MANAGED_BY,
  LABEL_TOOL_SERVER,
  MANAGED_BY,
  POLICY_FILE,
  spiffeID,
} from "../../api/v1alpha1/index.ts";
import { canonicalJSON } from "../../lib/canonical-json.ts";
import { grantsSurface } from "../../lib/surface-grant.ts";
import { mergeConditions } from "../runtime/conditions.ts";
import type { ReconcileResult } from "../runtime/workqueue.ts";
import {
  type Caches,
  type Identity,
  type Manifest,
  namespaceEnclave,
  olderFirst,
  splitKey,
} from "./caches.ts";
import type { ControllerContext } from "./context.ts";
import { serviceAccountNameOf } from "./identity-eval.ts";
import { evaluateManifest, type ManifestEvaluation } from "./manifest-eval.ts";
import { compileInboundPolicy } from "./policy.ts";
import { statusUnchanged } from "./status.ts";
import { ownerRef } from "./writer.ts";

export const inboundConfigMapName = (manifest: string) => `warden-inbound-${manifest}`;

/** Evaluations memoised by uid and resourceVersion: 500 agents of one manifest hash its tools once. */
const memo = new Map<string, ManifestEvaluation>();
export function evaluateCached(m: Manifest): ManifestEvaluation {
  const k = `${m.metadata.uid}/${m.metadata.resourceVersion}`;
  let e = memo.get(k);
  if (!e) {
    if (memo.size > 10_000) memo.clear();
    e = evaluateManifest(m);
    memo.set(k, e);
  }
  return e;
}

/** Identities in the namespace with a same-namespace grant on the manifest. */
export function identitiesGranted(caches: Caches, namespace: string, manifest: string): Identity[] {
  return caches.identities
    .list(namespace)
    .filter((i) =>
      (i.spec?.grants ?? []).some(
        (g) => g.manifest.name === manifest && (!g.manifest.namespace || g.manifest.namespace === namespace),
      ),
    );
}

/** The identity keeps its ServiceAccount (no older identity claims the same one). */
export function ownsServiceAccount(caches: Caches, identity: Identity): boolean {
  const sa = serviceAccountNameOf(identity);
  const claimants = caches.identities
    .list(identity.metadata.namespace)
    .filter((i) => serviceAccountNameOf(i) === sa)
    .sort(olderFirst);
  return claimants[0]?.metadata.uid === identity.metadata.uid;
}

export async function reconcileToolManifest(
  ctx: ControllerContext,
  key: string,
): Promise<ReconcileResult | undefined> {
  const { namespace, name } = splitKey(key);
  const { caches } = ctx;
  const m = caches.manifests.get(name, namespace);
  if (!m || m.metadata.deletionTimestamp) return undefined;
  const evaluation = evaluateCached(m);
  const granted = identitiesGranted(caches, namespace, name);
  const accepted = evaluation.accepted.status === "True";

  // Callers the inbound gateway admits: agents granted at least one tool the manifest lists, or
  // some of the rest of its surface (resources, prompts, ...) within what it allows; not suspended,
  // holding their ServiceAccount. Nothing when the manifest is not accepted (fail closed).
  const tools = new Set(evaluation.tools.map((t) => t.name));
  const usesManifest = (g: Grant) =>
    g.manifest.name === name &&
    ((g.tools ?? []).some((t) => tools.has(t.name)) ||
      (evaluation.spec ? grantsSurface(name, evaluation.spec, g) : false));
  const callers = accepted
    ? granted
        .filter((i) => !i.spec.suspended && ownsServiceAccount(caches, i))
        .filter((i) => i.spec.grants?.some(usesManifest))
        .map((i) => spiffeID(ctx.settings.trustDomain, namespace, serviceAccountNameOf(i)))
    : [];
  const enclave = namespaceEnclave(caches, namespace);
  // Writes in a namespace need its enclave (the operator's RoleBinding there comes with it).
  if (enclave) {
    const inbound = compileInboundPolicy(name, namespace, callers);
    const cm: k8s.V1ConfigMap = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: {
        name: inboundConfigMapName(name),
        namespace,
        labels: {
          [LABEL_MANAGED_BY]: MANAGED_BY,
          [LABEL_TOOL_SERVER]: name,
          [LABEL_ENCLAVE]: enclave.metadata.name ?? "",
        },
        ownerReferences: [
          ownerRef({ apiVersion: m.apiVersion, kind: KINDS.ToolManifest.kind, metadata: m.metadata }),
        ],
      },
      data: { [POLICY_FILE]: canonicalJSON(inbound) },
    };
    const live = caches.configMaps.get(inboundConfigMapName(name), namespace);
    if (
      live?.data?.[POLICY_FILE] === cm.data?.[POLICY_FILE] &&
      live?.metadata?.ownerReferences?.some((o) => o.uid === m.metadata.uid)
    ) {
      ctx.metrics.writesSkipped.inc({ resource: "configmaps" });
    } else {
      await ctx.writer.applyConfigMap(cm);
    }
  }

  const generation = m.metadata.generation;
  const status = {
    observedGeneration: generation,
    tools: evaluation.tools.map((t) =>
      t.digest ? { name: t.name, digest: t.digest, risk: t.risk } : { name: t.name, risk: t.risk },
    ),
    boundAgents: granted.length,
    conditions: mergeConditions(m.status?.conditions, [evaluation.accepted], generation, ctx.now()),
  };
  if (statusUnchanged(status, m.status as Record<string, unknown> | undefined)) {
    ctx.metrics.writesSkipped.inc({ resource: "toolmanifests/status" });
  } else {
    await ctx.writer.applyStatus(KINDS.ToolManifest.plural, namespace, name, KINDS.ToolManifest.kind, status);
  }
  return undefined;
}
