// Wires informer events to the per-kind work queues and runs the reconcilers while this replica
// leads. Event mapping is where "a ToolManifest used by N agents enqueues N identities" happens;
// status-only changes (our own status writes, counters) never fan out, only spec changes do.
import type * as k8s from "@kubernetes/client-node";
import { LABEL_AGENT, LABEL_ENCLAVE, LABEL_TOOL_SERVER } from "../../api/v1alpha1/index.ts";
import type { Logger } from "../../lib/log.ts";
import type { InformerEvent } from "../runtime/informer.ts";
import type { OperatorMetrics } from "../runtime/metrics.ts";
import { type ReconcileResult, runWorkers, WorkQueue } from "../runtime/workqueue.ts";
import { type Caches, type Identity, keyOf } from "./caches.ts";
import type { ControllerContext } from "./context.ts";
import { reconcileEnclave } from "./enclave.ts";
import { reconcileIdentity } from "./identity.ts";
import { serviceAccountNameOf } from "./identity-eval.ts";
import { JwksIndex } from "./jwks-index.ts";
import { reconcileToolManifest } from "./toolmanifest.ts";

type Kind = "AgentEnclave" | "ToolManifest" | "AgentIdentity";
/** Delay for count-only follow-ups (agents, boundAgents): coalesces bursts into one status write. */
const COALESCE_MS = 1000;

export interface ManagerOptions {
  workers?: Partial<Record<Kind, number>>;
}

export class ControllerManager {
  queues: Record<Kind, WorkQueue>;
  private readonly ctx: ControllerContext;
  private readonly log: Logger;
  private readonly metrics: OperatorMetrics;
  private readonly workers: Record<Kind, number>;
  private running: Promise<void>[] = [];
  private active = false;
  private depthTimer: NodeJS.Timeout | undefined;
  /** Last seen spec generation and grants per identity, to fan out only on real changes. */
  private readonly seenIdentity = new Map<
    string,
    { generation?: number; enclave?: string; manifests: string[]; sa: string }
  >();
  private readonly generations = new GenerationTracker();
  /** Which enclaves name which task-token JWKS ConfigMaps. */
  private readonly jwksIndex = new JwksIndex();

  constructor(ctx: ControllerContext, opts: ManagerOptions = {}) {
    this.ctx = ctx;
    this.log = ctx.log;
    this.metrics = ctx.metrics;
    this.workers = { AgentEnclave: 2, ToolManifest: 2, AgentIdentity: 8, ...opts.workers };
    this.queues = {
      AgentEnclave: new WorkQueue(),
      ToolManifest: new WorkQueue(),
      AgentIdentity: new WorkQueue(),
    };
    this.wire(ctx.caches);
  }

  private inScope(namespace: string | undefined): boolean {
    const set = this.ctx.settings.namespaces;
    return set.size === 0 || (namespace !== undefined && set.has(namespace));
  }

  private enqueue(kind: Kind, key: string, afterMs = 0): void {
    if (!this.active) return;
    if (!this.inScope(key.slice(0, key.indexOf("/")))) return;
    if (afterMs > 0) this.queues[kind].addAfter(key, afterMs);
    else this.queues[kind].add(key);
  }

  private wire(c: Caches): void {
    c.enclaves.on((event, e) => {
      const key = keyOf(e);
      const ns = e.metadata.namespace ?? "";
      if (event === "delete") this.jwksIndex.remove(e);
      else this.jwksIndex.set(e);
      c.jwksConfigMaps.want(this.jwksIndex.keys());
      this.enqueue("AgentEnclave", key);
      if (!this.generations.changed("AgentEnclave", key, event, e.metadata.generation)) return;
      // Another enclave of the namespace may win or lose; its identities and manifests follow.
      for (const other of c.enclaves.list(ns)) this.enqueue("AgentEnclave", keyOf(other));
      for (const i of c.identities.list(ns))
        if (i.spec?.enclave === e.metadata.name) this.enqueue("AgentIdentity", keyOf(i));
      for (const m of c.manifests.list(ns)) this.enqueue("ToolManifest", keyOf(m));
    });
    c.manifests.on((event, m) => {
      const key = keyOf(m);
      const ns = m.metadata.namespace ?? "";
      this.enqueue("ToolManifest", key);
      if (!this.generations.changed("ToolManifest", key, event, m.metadata.generation)) return;
      for (const i of c.identities.list(ns)) {
        if (i.spec?.grants?.some((g) => g.manifest.name === m.metadata.name))
          this.enqueue("AgentIdentity", keyOf(i));
      }
      for (const e of c.enclaves.list(ns)) this.enqueue("AgentEnclave", keyOf(e));
    });
    c.identities.on((event, i) => this.onIdentity(c, event, i));
    const byLabel = (kind: Kind, label: string) => (_event: InformerEvent, o: k8s.KubernetesObject) => {
      const value = o.metadata?.labels?.[label];
      if (value) this.enqueue(kind, `${o.metadata?.namespace}/${value}`);
    };
    c.networkPolicies.on(byLabel("AgentEnclave", LABEL_ENCLAVE));
    c.serviceAccounts.on(byLabel("AgentIdentity", LABEL_AGENT));
    c.configMaps.on((event, cm) => {
      if (cm.metadata?.labels?.[LABEL_TOOL_SERVER]) byLabel("ToolManifest", LABEL_TOOL_SERVER)(event, cm);
      else byLabel("AgentIdentity", LABEL_AGENT)(event, cm);
    });
    // A task-token JWKS ConfigMap: every identity of the enclaves naming it recompiles its policy
    // now (a rotated key must reach the gateways without waiting for a resync).
    c.jwksConfigMaps.on((event, cm) => {
      if (event === "resync") return;
      const ns = cm.metadata?.namespace ?? "";
      for (const enclave of this.jwksIndex.enclavesOf(ns, cm.metadata?.name ?? "")) {
        for (const i of c.identities.list(ns))
          if (i.spec?.enclave === enclave) this.enqueue("AgentIdentity", keyOf(i));
      }
    });
    // Our RoleBinding deleted or edited by hand: its enclave re-applies it.
    c.roleBindings.on((event, rb) => {
      if (event !== "resync") byLabel("AgentEnclave", LABEL_ENCLAVE)(event, rb);
    });
    c.namespaces.on((_event, ns) => {
      for (const e of c.enclaves.list(ns.metadata?.name)) this.enqueue("AgentEnclave", keyOf(e));
    });
  }

  private onIdentity(c: Caches, event: InformerEvent, i: Identity): void {
    const key = keyOf(i);
    const ns = i.metadata.namespace ?? "";
    this.enqueue("AgentIdentity", key);
    if (event === "resync") return;
    const manifests = (i.spec?.grants ?? []).map((g) => g.manifest.name);
    const sa = serviceAccountNameOf(i);
    const enclave = i.spec?.enclave;
    const before = this.seenIdentity.get(key);
    if (event === "delete") this.seenIdentity.delete(key);
    else this.seenIdentity.set(key, { generation: i.metadata.generation, enclave, manifests, sa });
    if (event !== "delete" && before?.generation === i.metadata.generation) return;
    // The enclave holds only a count of its identities (status.agents): it looks again (after a
    // short delay that coalesces a burst into one status write) only when this identity joins,
    // leaves or moves, never for an edit that keeps its enclave.
    for (const e of enclavesToRecount(event, before?.enclave, enclave, before !== undefined))
      this.enqueue("AgentEnclave", `${ns}/${e}`, COALESCE_MS);
    // A manifest's inbound callers depend on the identity's grants and suspension: follow spec changes.
    for (const m of new Set([...(before?.manifests ?? []), ...manifests]))
      this.enqueue("ToolManifest", `${ns}/${m}`, COALESCE_MS);
    // A contested ServiceAccount may change hands when a claimant comes or goes.
    for (const other of c.identities.list(ns)) {
      if (
        other.metadata.uid !== i.metadata.uid &&
        (serviceAccountNameOf(other) === sa || serviceAccountNameOf(other) === before?.sa)
      ) {
        this.enqueue("AgentIdentity", keyOf(other));
      }
    }
  }

  /** Starts the workers and enqueues everything in scope (a new leader starts from the full state). */
  start(): void {
    if (this.active) return;
    // Fresh queues for every term of leadership: a shut-down queue is never reused.
    this.queues = {
      AgentEnclave: new WorkQueue(),
      ToolManifest: new WorkQueue(),
      AgentIdentity: new WorkQueue(),
    };
    this.running = [];
    this.active = true;
    const c = this.ctx.caches;
    for (const e of c.enclaves.list()) this.enqueue("AgentEnclave", keyOf(e));
    for (const m of c.manifests.list()) this.enqueue("ToolManifest", keyOf(m));
    for (const i of c.identities.list()) this.enqueue("AgentIdentity", keyOf(i));
    const reconcilers: Record<Kind, (key: string) => Promise<ReconcileResult | undefined>> = {
      AgentEnclave: (k) => reconcileEnclave(this.ctx, k),
      ToolManifest: (k) => reconcileToolManifest(this.ctx, k),
      AgentIdentity: (k) => reconcileIdentity(this.ctx, k),
    };
    for (const kind of Object.keys(reconcilers) as Kind[]) {
      const reconcile = reconcilers[kind];
      this.running.push(
        runWorkers(
          this.queues[kind],
          this.workers[kind],
          async (key) => {
            const end = this.metrics.reconcileDuration.startTimer({ kind });
            try {
              const result = await reconcile(key);
              this.metrics.reconcileTotal.inc({
                kind,
                result: result?.requeueAfterMs !== undefined ? "requeue" : "success",
              });
              return result;
            } finally {
              end();
            }
          },
          (key, err, retryInMs) => {
            this.metrics.reconcileTotal.inc({ kind, result: "error" });
            this.metrics.reconcileErrors.inc({ kind });
            this.log.warn("reconcile failed; retrying", { kind, key, retryInMs, err: asError(err) });
          },
        ),
      );
    }
    this.depthTimer = setInterval(() => {
      for (const kind of Object.keys(this.queues) as Kind[])
        this.metrics.queueDepth.set({ kind }, this.queues[kind].len());
    }, 1000);
    this.depthTimer.unref?.();
  }

  /** Stops handing out keys and waits for the reconciles in flight. */
  async stop(): Promise<void> {
    this.active = false;
    clearInterval(this.depthTimer);
    for (const q of Object.values(this.queues)) q.shutDown();
    await Promise.all(this.running);
    this.running = [];
  }
}

/**
 * Last seen spec generation per object, one key space per kind: an enclave and a ToolManifest
 * with the same namespace/name are different objects and must not shadow each other.
 */
export class GenerationTracker {
  private readonly seen = new Map<Kind, Map<string, number | undefined>>();

  /** Did the spec change since last seen? First sight and deletion count as changes; resyncs never do. */
  changed(kind: Kind, key: string, event: InformerEvent, generation: number | undefined): boolean {
    let seen = this.seen.get(kind);
    if (!seen) {
      seen = new Map();
      this.seen.set(kind, seen);
    }
    if (event === "resync") return false;
    if (event === "delete") {
      seen.delete(key);
      return true;
    }
    const changed = !seen.has(key) || seen.get(key) !== generation;
    seen.set(key, generation);
    return changed;
  }
}

/** The enclaves whose identity count an identity event can change. */
export function enclavesToRecount(
  event: InformerEvent,
  before: string | undefined,
  now: string | undefined,
  seenBefore: boolean,
): string[] {
  if (event === "delete") return [before ?? now].filter((e): e is string => !!e);
  if (!seenBefore) return now ? [now] : [];
  if (before === now) return [];
  return [before, now].filter((e): e is string => !!e);
}

function asError(err: unknown): Error {
  if (err instanceof Error) {
    const body = (err as { body?: unknown }).body;
    if (typeof body === "string" && body.length > 0)
      return new Error(`${err.message}: ${body.slice(0, 500)}`);
    return err;
  }
  return new Error(String(err));
}
