// The informer caches the controllers read from, and the indexes that turn one change into the
// keys it affects (a ToolManifest used by N agents enqueues N identities). Reconcilers read only
// from here; they call the API server only to write.
import * as k8s from "@kubernetes/client-node";
import type { AgentEnclave, AgentIdentity, ToolManifest } from "../../api/v1alpha1/index.ts";
import { GROUP, KINDS, LABEL_MANAGED_BY, MANAGED_BY, VERSION } from "../../api/v1alpha1/index.ts";
import type { Logger } from "../../lib/log.ts";
import { plain } from "../runtime/apply.ts";
import type { ClientFactory } from "../runtime/client.ts";
import { type ResilientInformer, resilientInformer } from "../runtime/informer.ts";
import type { OperatorMetrics } from "../runtime/metrics.ts";
import { ROLE_BINDING_NAME } from "./context.ts";
import type { NetworkPolicy } from "./netpol.ts";

// Cached objects are plain JSON as the API server sends them (timestamps are strings).
export type Enclave = AgentEnclave & k8s.KubernetesObject;
export type Identity = AgentIdentity & k8s.KubernetesObject;
export type Manifest = ToolManifest & k8s.KubernetesObject;
export type CachedNetworkPolicy = NetworkPolicy & k8s.KubernetesObject;

export interface Caches {
  enclaves: ResilientInformer<Enclave>;
  identities: ResilientInformer<Identity>;
  manifests: ResilientInformer<Manifest>;
  networkPolicies: ResilientInformer<CachedNetworkPolicy>;
  serviceAccounts: ResilientInformer<k8s.V1ServiceAccount>;
  configMaps: ResilientInformer<k8s.V1ConfigMap>;
  namespaces: ResilientInformer<k8s.V1Namespace>;
  /** The operator's own RoleBindings in enclave namespaces (by name and label: nothing else). */
  roleBindings: ResilientInformer<k8s.V1RoleBinding>;
  all(): ResilientInformer<k8s.KubernetesObject>[];
}

export function createCaches(
  kc: k8s.KubeConfig,
  clients: ClientFactory,
  opts: { log: Logger; metrics: OperatorMetrics; resyncMs: number },
): Caches {
  const custom = clients.make(k8s.CustomObjectsApi);
  const core = clients.make(k8s.CoreV1Api);
  const rbac = clients.make(k8s.RbacAuthorizationV1Api);
  const base = { log: opts.log, metrics: opts.metrics };
  const cr = <T extends k8s.KubernetesObject>(plural: string, resyncMs: number) =>
    resilientInformer<T>(
      kc,
      `/apis/${GROUP}/${VERSION}/${plural}`,
      async () =>
        (await custom.listClusterCustomObject({
          group: GROUP,
          version: VERSION,
          plural,
        })) as k8s.KubernetesListObject<T>,
      { ...base, resource: plural, resyncMs },
    );
  const managed = `${LABEL_MANAGED_BY}=${MANAGED_BY}`;
  const roleBindingFieldSelector = `metadata.name=${ROLE_BINDING_NAME}`;
  const caches: Omit<Caches, "all"> = {
    enclaves: cr<Enclave>(KINDS.AgentEnclave.plural, opts.resyncMs),
    identities: cr<Identity>(KINDS.AgentIdentity.plural, opts.resyncMs),
    manifests: cr<Manifest>(KINDS.ToolManifest.plural, opts.resyncMs),
    // Children are selected by our managed-by label: only what we made is cached and watched.
    // Listed through the custom-objects client on purpose: it returns the wire JSON, while the
    // typed NetworkPolicy model renames `from` to `_from`, and watch events carry `from`.
    networkPolicies: resilientInformer<CachedNetworkPolicy>(
      kc,
      "/apis/networking.k8s.io/v1/networkpolicies",
      async () =>
        (await custom.listClusterCustomObject({
          group: "networking.k8s.io",
          version: "v1",
          plural: "networkpolicies",
          labelSelector: managed,
        })) as k8s.KubernetesListObject<CachedNetworkPolicy>,
      { ...base, resource: "networkpolicies", labelSelector: managed },
    ),
    // All ServiceAccounts: an agent must not take over one it did not create (e.g. "default").
    serviceAccounts: resilientInformer(
      kc,
      "/api/v1/serviceaccounts",
      async () => plain(await core.listServiceAccountForAllNamespaces()),
      { ...base, resource: "serviceaccounts" },
    ),
    // All ConfigMaps: our policy ConfigMaps plus the task-token JWKS ConfigMaps enclaves name.
    configMaps: resilientInformer(
      kc,
      "/api/v1/configmaps",
      async () => plain(await core.listConfigMapForAllNamespaces()),
      { ...base, resource: "configmaps" },
    ),
    namespaces: resilientInformer(kc, "/api/v1/namespaces", async () => plain(await core.listNamespace()), {
      ...base,
      resource: "namespaces",
    }),
    // The field selector on the name is what lets RBAC grant list/watch with resourceNames: the
    // operator can watch its own bindings everywhere without being able to read anyone else's.
    roleBindings: resilientInformer(
      kc,
      "/apis/rbac.authorization.k8s.io/v1/rolebindings",
      async () =>
        plain(
          await rbac.listRoleBindingForAllNamespaces({
            labelSelector: managed,
            fieldSelector: roleBindingFieldSelector,
          }),
        ),
      {
        ...base,
        resource: "rolebindings",
        labelSelector: managed,
        fieldSelector: roleBindingFieldSelector,
      },
    ),
  };
  return {
    ...caches,
    all: () => Object.values(caches) as ResilientInformer<k8s.KubernetesObject>[],
  };
}

export const keyOf = (o: k8s.KubernetesObject) => `${o.metadata?.namespace ?? ""}/${o.metadata?.name ?? ""}`;

export function splitKey(key: string): { namespace: string; name: string } {
  const i = key.indexOf("/");
  return { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

/** Older first: creationTimestamp, then name — who keeps a contested claim. */
export function olderFirst(a: k8s.KubernetesObject, b: k8s.KubernetesObject): number {
  const ta = Date.parse(String(a.metadata?.creationTimestamp ?? "")) || 0;
  const tb = Date.parse(String(b.metadata?.creationTimestamp ?? "")) || 0;
  if (ta !== tb) return ta - tb;
  return (a.metadata?.name ?? "") < (b.metadata?.name ?? "") ? -1 : 1;
}

/** The enclave that owns the namespace (the oldest), if any. */
export function namespaceEnclave(caches: Caches, namespace: string): Enclave | undefined {
  return [...caches.enclaves.list(namespace)]
    .filter((e) => !e.metadata.deletionTimestamp)
    .sort(olderFirst)[0];
}
