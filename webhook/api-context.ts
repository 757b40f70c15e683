// Context read from the API server: the Namespace (its enclave label), AgentEnclaves,
// AgentIdentities and ToolManifests of one namespace, cached briefly. Admission of a burst of pods
// (a Deployment scaling up) then costs one round of LISTs, and a just-created AgentIdentity is
// visible within `ttlMs`. Errors are not cached and propagate: /validate then fails closed.
import * as k8s from "@kubernetes/client-node";
import { API_VERSION, GROUP, KINDS, VERSION } from "../api/v1alpha1/index.ts";
import { TtlLoader } from "../lib/ttl-cache.ts";
import { addToSnapshot, type ContextSource, emptySnapshot, type NamespaceSnapshot } from "./context.ts";

export class ApiContextSource implements ContextSource {
  readonly #core: k8s.CoreV1Api;
  readonly #custom: k8s.CustomObjectsApi;
  readonly #cache: TtlLoader<NamespaceSnapshot>;

  constructor(kc: k8s.KubeConfig, opts: { ttlMs?: number } = {}) {
    this.#core = kc.makeApiClient(k8s.CoreV1Api);
    this.#custom = kc.makeApiClient(k8s.CustomObjectsApi);
    this.#cache = new TtlLoader({ maxEntries: 1000, ttlMs: opts.ttlMs ?? 2_000 });
  }

  snapshot(namespace: string): Promise<NamespaceSnapshot> {
    return this.#cache.get(namespace, () => this.#load(namespace));
  }

  async #load(namespace: string): Promise<NamespaceSnapshot> {
    const s = emptySnapshot(namespace);
    const list = async (plural: string, kind: string) => {
      const r = (await this.#custom.listNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace,
        plural,
      })) as {
        items?: unknown[];
      };
      // LIST items carry no apiVersion/kind; the snapshot parses them with the kind's schema.
      return (r.items ?? []).map((i) => ({ ...(i as object), apiVersion: API_VERSION, kind }));
    };
    const [ns, enclaves, identities, manifests] = await Promise.all([
      this.#core.readNamespace({ name: namespace }),
      list(KINDS.AgentEnclave.plural, "AgentEnclave"),
      list(KINDS.AgentIdentity.plural, "AgentIdentity"),
      list(KINDS.ToolManifest.plural, "ToolManifest"),
    ]);
    addToSnapshot(s, { kind: "Namespace", metadata: { name: namespace, labels: ns.metadata?.labels ?? {} } });
    for (const o of [...enclaves, ...identities, ...manifests]) addToSnapshot(s, o);
    return s;
  }
}
