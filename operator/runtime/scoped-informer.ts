// The informer the controllers read from, cluster-wide or limited to the namespaces the operator
// was told to watch (--namespaces). With a namespace list, each namespace gets its own list+watch
// and the union is presented as one cache: an operator scoped to two namespaces lists and watches
// exactly those two, never the whole cluster.
import type * as k8s from "@kubernetes/client-node";
import type { InformerHandler, ResilientInformer } from "./informer.ts";

/** What controllers, readiness, start and stop use of a cache. */
export interface Cache<T extends k8s.KubernetesObject> {
  readonly resource: string;
  on(handler: InformerHandler<T>): void;
  get(name: string, namespace?: string): T | undefined;
  list(namespace?: string): ReadonlyArray<T>;
  start(): Promise<void>;
  stop(): Promise<void>;
  synced(): boolean;
  healthy(): boolean;
  resync(): void;
}

export class MultiNamespaceInformer<T extends k8s.KubernetesObject> implements Cache<T> {
  readonly resource: string;
  private readonly byNamespace: Map<string, ResilientInformer<T>>;

  constructor(
    resource: string,
    namespaces: Iterable<string>,
    make: (namespace: string) => ResilientInformer<T>,
  ) {
    this.resource = resource;
    this.byNamespace = new Map([...new Set(namespaces)].map((ns) => [ns, make(ns)]));
  }

  on(handler: InformerHandler<T>): void {
    for (const i of this.byNamespace.values()) i.on(handler);
  }

  /** For a cluster-scoped kind (Namespace) the object's name is its namespace key. */
  get(name: string, namespace?: string): T | undefined {
    const i = this.byNamespace.get(namespace ?? name);
    return i?.get(name, namespace);
  }

  list(namespace?: string): ReadonlyArray<T> {
    if (namespace !== undefined) return this.byNamespace.get(namespace)?.list(namespace) ?? [];
    return [...this.byNamespace.values()].flatMap((i) => i.list());
  }

  async start(): Promise<void> {
    await Promise.all([...this.byNamespace.values()].map((i) => i.start()));
  }

  async stop(): Promise<void> {
    await Promise.all([...this.byNamespace.values()].map((i) => i.stop()));
  }

  synced(): boolean {
    return [...this.byNamespace.values()].every((i) => i.synced());
  }

  healthy(): boolean {
    return [...this.byNamespace.values()].every((i) => i.healthy());
  }

  resync(): void {
    for (const i of this.byNamespace.values()) i.resync();
  }
}
