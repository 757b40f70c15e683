// Watches of single named objects that the operator learns about at run time (the task-token JWKS
// ConfigMaps enclaves name). Each is a list+watch limited by `metadata.name` in one namespace, so
// the operator caches exactly the ConfigMaps it reads instead of every ConfigMap of the cluster.
// `want(keys)` starts the missing watches and stops those no longer named.
import type * as k8s from "@kubernetes/client-node";
import type { InformerHandler, ResilientInformer } from "./informer.ts";

export class NamedWatches<T extends k8s.KubernetesObject> {
  readonly resource: string;
  private readonly watches = new Map<string, ResilientInformer<T>>();
  private readonly handlers: InformerHandler<T>[] = [];
  private readonly make: (namespace: string, name: string) => ResilientInformer<T>;
  private running = false;

  constructor(resource: string, make: (namespace: string, name: string) => ResilientInformer<T>) {
    this.resource = resource;
    this.make = make;
  }

  on(handler: InformerHandler<T>): void {
    this.handlers.push(handler);
  }

  get(name: string, namespace?: string): T | undefined {
    return this.watches.get(`${namespace ?? ""}/${name}`)?.get(name, namespace);
  }

  /** Watches exactly these "namespace/name" keys from now on. */
  want(keys: Iterable<string>): void {
    const wanted = new Set(keys);
    for (const [key, w] of this.watches) {
      if (wanted.has(key)) continue;
      this.watches.delete(key);
      void w.stop();
    }
    for (const key of wanted) {
      if (this.watches.has(key)) continue;
      const i = key.indexOf("/");
      const w = this.make(key.slice(0, i), key.slice(i + 1));
      for (const h of this.handlers) w.on(h);
      this.watches.set(key, w);
      if (this.running) void w.start();
    }
  }

  keys(): string[] {
    return [...this.watches.keys()].sort();
  }

  async start(): Promise<void> {
    this.running = true;
    await Promise.all([...this.watches.values()].map((w) => w.start()));
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all([...this.watches.values()].map((w) => w.stop()));
  }

  /** Every watch synced (a missing ConfigMap counts: its LIST came back empty). */
  synced(): boolean {
    return [...this.watches.values()].every((w) => w.synced());
  }

  healthy(): boolean {
    return [...this.watches.values()].every((w) => w.healthy());
  }

  resync(): void {
    for (const w of this.watches.values()) w.resync();
  }
}
