// The informer caches the controllers read from, and the indexes that turn one change into the
// keys it affects (a ToolManifest used by N agents enqueues N identities). Reconcilers read only
// from here; they call the API server only to write.
import * as k8s from "@kubernetes/client-node";
import type { AgentEnclave, AgentIdentity, ToolManifest } from "../../api/v1alpha1/index.ts";
import { GROUP, KINDS, LABEL_MANAGED_BY, MANAGED_BY, VERSION } from "../../api/v1alpha1/index.ts";
import type { Logger } from "../../lib/log.ts";
import { plain } from "../runtime/apply.ts";
import type { ClientFactory } from "../runtime/client.ts";
import { listAllPages, resilientInformer } from "../runtime/informer.ts";
import type { OperatorMetrics } from "../runtime/metrics.ts";
import { NamedWatches } from "../runtime/named-watches.ts";
import { type Cache, MultiNamespaceInformer } from "../runtime/scoped-informer.ts";
import { ROLE_BINDING_NAME } from "./context.ts";
import type { NetworkPolicy } from "./netpol.ts";

// Cached objects are plain JSON as the API server sends them (timestamps are strings).
export type Enclave = AgentEnclave & k8s.KubernetesObject;
export type Identity = AgentIdentity & k8s.KubernetesObject;
export type Manifest = ToolManifest & k8s.KubernetesObject;
export type CachedNetworkPolicy = NetworkPolicy & k8s.KubernetesObject;

export interface Caches {
  enclaves: Cache<Enclave>;
  identities: Cache<Identity>;
  manifests: Cache<Manifest>;
  networkPolicies: Cache<CachedNetworkPolicy>;
  /** ServiceAccounts we made (managed-by label); an unlabelled one is found by creating (409). */
  serviceAccounts: Cache<k8s.V1ServiceAccount>;
  /** ConfigMaps we made (policy and inbound ConfigMaps, by the managed-by label). */
  configMaps: Cache<k8s.V1ConfigMap>;
  /** The task-token JWKS ConfigMaps enclaves name, each watched by name (ControllerManager keeps the set). */
  jwksConfigMaps: NamedWatches<k8s.V1ConfigMap>;
  namespaces: Cache<k8s.V1Namespace>;
  /** The operator's own RoleBindings in enclave namespaces (by name and label: nothing else). */
  roleBindings: Cache<k8s.V1RoleBinding>;
  all(): CacheLike[];
}

/** What readiness, start and stop need of every cache. */
export type CacheLike = Pick<
  Cache<k8s.KubernetesObject>,
  "resource" | "start" | "stop" | "synced" | "healthy"
>;

type Page = { limit: number; _continue?: string };
type Selectors = { labelSelector?: string; fieldSelector?: string };

export function createCaches(
  kc: k8s.KubeConfig,
  clients: ClientFactory,
  opts: {
    log: Logger;
    metrics: OperatorMetrics;
    resyncMs: number;
    /** Watch only these namespaces (--namespaces); empty: the whole cluster. */
    namespaces?: ReadonlySet<string>;
  },
): Caches {
  const custom = clients.make(k8s.CustomObjectsApi);
  const core = clients.make(k8s.CoreV1Api);
  const rbac = clients.make(k8s.RbacAuthorizationV1Api);
  const base = { log: opts.log, metrics: opts.metrics };
  const scope = opts.namespaces && opts.namespaces.size > 0 ? [...opts.namespaces].sort() : undefined;

  /**
   * One cache of a namespaced kind: cluster-wide, or one list+watch per namespace in scope. Every
   * LIST is paginated. `path(ns)` is the collection URL; `list(ns, …)` the matching client call.
   */
  const scoped = <T extends k8s.KubernetesObject>(
    resource: string,
    path: (namespace?: string) => string,
    list: (namespace: string | undefined, sel: Selectors & Page) => Promise<k8s.KubernetesListObject<T>>,
    sel: Selectors & { resyncMs?: number },
  ): Cache<T> => {
    const make = (namespace?: string) =>
      resilientInformer<T>(
        kc,
        path(namespace),
        () => listAllPages((page) => list(namespace, { ...sel, ...page })),
        {
          ...base,
          ...sel,
          resource: namespace ? `${resource}/${namespace}` : resource,
        },
      );
    return scope ? new MultiNamespaceInformer(resource, scope, make) : make();
  };

  const cr = <T extends k8s.KubernetesObject>(plural: string) =>
    scoped<T>(
      plural,
      (ns) =>
        ns ? `/apis/${GROUP}/${VERSION}/namespaces/${ns}/${plural}` : `/apis/${GROUP}/${VERSION}/${plural}`,
      async (ns, q) =>
        (ns
          ? await custom.listNamespacedCustomObject({
              group: GROUP,
              version: VERSION,
              plural,
              namespace: ns,
              ...q,
            })
          : await custom.listClusterCustomObject({
              group: GROUP,
              version: VERSION,
              plural,
              ...q,
            })) as k8s.KubernetesListObject<T>,
      { resyncMs: opts.resyncMs },
    );
  const managed = `${LABEL_MANAGED_BY}=${MANAGED_BY}`;
  const np = { group: "networking.k8s.io", version: "v1", plural: "networkpolicies" };
  const caches: Omit<Caches, "all"> = {
    enclaves: cr<Enclave>(KINDS.AgentEnclave.plural),
    identities: cr<Identity>(KINDS.AgentIdentity.plural),
    manifests: cr<Manifest>(KINDS.ToolManifest.plural),
    // Children are selected by our managed-by label: only what we made is cached and watched.
    // Listed through the custom-objects client on purpose: it returns the wire JSON, while the
    // typed NetworkPolicy model renames `from` to `_from`, and watch events carry `from`.
    networkPolicies: scoped<CachedNetworkPolicy>(
      "networkpolicies",
      (ns) =>
        ns
          ? `/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies`
          : "/apis/networking.k8s.io/v1/networkpolicies",
      async (ns, q) =>
        (ns
          ? await custom.listNamespacedCustomObject({ ...np, namespace: ns, ...q })
          : await custom.listClusterCustomObject({
              ...np,
              ...q,
            })) as k8s.KubernetesListObject<CachedNetworkPolicy>,
      { labelSelector: managed },
    ),
    // Only what we made, by label: a cluster's other ServiceAccounts and ConfigMaps (tens of
    // thousands in a large cluster) are neither listed nor watched.
    serviceAccounts: scoped<k8s.V1ServiceAccount>(
      "serviceaccounts",
      (ns) => (ns ? `/api/v1/namespaces/${ns}/serviceaccounts` : "/api/v1/serviceaccounts"),
      async (ns, q) =>
        plain(
          ns
            ? await core.listNamespacedServiceAccount({ namespace: ns, ...q })
            : await core.listServiceAccountForAllNamespaces(q),
        ),
      { labelSelector: managed },
    ),
    configMaps: scoped<k8s.V1ConfigMap>(
      "configmaps",
      (ns) => (ns ? `/api/v1/namespaces/${ns}/configmaps` : "/api/v1/configmaps"),
      async (ns, q) =>
        plain(
          ns
            ? await core.listNamespacedConfigMap({ namespace: ns, ...q })
            : await core.listConfigMapForAllNamespaces(q),
        ),
      { labelSelector: managed },
    ),
    jwksConfigMaps: new NamedWatches("task-token-jwks-configmaps", (namespace, name) =>
      resilientInformer<k8s.V1ConfigMap>(
        kc,
        `/api/v1/namespaces/${namespace}/configmaps`,
        async () =>
          plain(await core.listNamespacedConfigMap({ namespace, fieldSelector: `metadata.name=${name}` })),
        {
          ...base,
          resource: `configmaps/${namespace}/${name}`,
          fieldSelector: `metadata.name=${name}`,
          resyncMs: opts.resyncMs,
        },
      ),
    ),
    // Cluster-scoped: with a namespace list, one watch per namespace object, by name.
    namespaces: scope
      ? new MultiNamespaceInformer("namespaces", scope, (name) =>
          resilientInformer<k8s.V1Namespace>(
            kc,
            "/api/v1/namespaces",
            async () => plain(await core.listNamespace({ fieldSelector: `metadata.name=${name}` })),
            { ...base, resource: `namespaces/${name}`, fieldSelector: `metadata.name=${name}` },
          ),
        )
      : resilientInformer(
          kc,
          "/api/v1/namespaces",
          () => listAllPages(async (page) => plain(await core.listNamespace(page))),
          { ...base, resource: "namespaces" },
        ),
    // The field selector on the name is what lets RBAC grant list/watch with resourceNames: the
    // operator can watch its own bindings everywhere without being able to read anyone else's.
    roleBindings: scoped<k8s.V1RoleBinding>(
      "rolebindings",
      (ns) =>
        ns
          ? `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`
          : "/apis/rbac.authorization.k8s.io/v1/rolebindings",
      async (ns, q) =>
        plain(
          ns
            ? await rbac.listNamespacedRoleBinding({ namespace: ns, ...q })
            : await rbac.listRoleBindingForAllNamespaces(q),
        ),
      { labelSelector: managed, fieldSelector: `metadata.name=${ROLE_BINDING_NAME}` },
    ),
  };
  return {
    ...caches,
    all: () => Object.values(caches) as CacheLike[],
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
