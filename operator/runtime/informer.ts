// An informer that keeps going. client-node's ListWatch re-lists by itself only after a 410 and a
// client-side timeout; any other error (API server restart, connection reset, 5xx, 403) calls the
// error callbacks and stops it for good, silently. This wrapper restarts it with exponential
// backoff after every error, marks itself synced once a LIST has filled the cache, and re-delivers
// every cached object on a periodic resync so that a level-triggered controller catches up even if
// it lost a key (the work queue de-duplicates, so a resync never drops or doubles an event).
import * as k8s from "@kubernetes/client-node";
import type { Logger } from "../../lib/log.ts";
import { type BackoffOptions, backoffDelay } from "./backoff.ts";
import type { OperatorMetrics } from "./metrics.ts";

export type InformerEvent = "add" | "update" | "delete" | "resync";
export type InformerHandler<T> = (event: InformerEvent, obj: T) => void;

/** What we need of a client-node informer (makeInformer's return value). */
export type BaseInformer<T extends k8s.KubernetesObject> = k8s.Informer<T> & k8s.ObjectCache<T>;

export interface ResilientInformerOptions {
  resource: string;
  log: Logger;
  metrics?: OperatorMetrics;
  backoff?: BackoffOptions;
  /** Re-deliver every cached object this often; 0 disables. */
  resyncMs?: number;
  /** A watch that ran this long before failing counts as healthy: backoff starts over. */
  healthyAfterMs?: number;
}

export class ResilientInformer<T extends k8s.KubernetesObject> {
  readonly resource: string;
  private readonly inner: BaseInformer<T>;
  private readonly opts: ResilientInformerOptions;
  private readonly handlers: InformerHandler<T>[] = [];
  private attempt = 0;
  private startedAt = 0;
  private stopped = true;
  private restartTimer: NodeJS.Timeout | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private isSynced = false;
  /** Set by a failed list or watch, cleared by the next successful LIST. */
  private brokenSince: number | undefined;
  private syncWaiters: (() => void)[] = [];

  /**
   * `makeBase` receives a wrapped list function: the wrapper learns from it when a LIST succeeded,
   * which ListWatch does not report by itself.
   */
  constructor(makeBase: (onListed: () => void) => BaseInformer<T>, opts: ResilientInformerOptions) {
    this.resource = opts.resource;
    this.opts = opts;
    this.inner = makeBase(() => {
      // ListWatch fills its cache synchronously right after the list promise resolves; by the next
      // macrotask the cache holds the listed objects.
      setImmediate(() => this.markSynced());
    });
    this.inner.on(k8s.ADD, (o) => this.emit("add", o));
    this.inner.on(k8s.UPDATE, (o) => this.emit("update", o));
    this.inner.on(k8s.DELETE, (o) => this.emit("delete", o));
    this.inner.on(k8s.ERROR, (err) => this.onError(err));
  }

  on(handler: InformerHandler<T>): void {
    this.handlers.push(handler);
  }

  get(name: string, namespace?: string): T | undefined {
    return this.inner.get(name, namespace);
  }

  list(namespace?: string): ReadonlyArray<T> {
    return this.inner.list(namespace);
  }

  synced(): boolean {
    return this.isSynced;
  }

  /**
   * Synced and watching: false from a failed list or watch until the next LIST succeeds. While it
   * is false the cache may be stale, and readiness says so.
   */
  healthy(): boolean {
    return this.isSynced && this.brokenSince === undefined && !this.stopped;
  }

  /** Since when the watch has been broken (epoch ms), if it is. */
  brokenAt(): number | undefined {
    return this.brokenSince;
  }

  /** Starts list+watch; resolves once the first LIST has filled the cache. */
  async start(): Promise<void> {
    if (!this.stopped) return this.waitForSync();
    this.stopped = false;
    this.run();
    const resyncMs = this.opts.resyncMs ?? 0;
    if (resyncMs > 0) {
      this.resyncTimer = setInterval(() => this.resync(), resyncMs);
      this.resyncTimer.unref?.();
    }
    return this.waitForSync();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    clearInterval(this.resyncTimer);
    await this.inner.stop();
  }

  /** Re-delivers every cached object as a "resync" event. */
  resync(): void {
    if (!this.isSynced) return;
    for (const o of this.inner.list()) this.emit("resync", o);
  }

  private waitForSync(): Promise<void> {
    if (this.isSynced) return Promise.resolve();
    return new Promise((r) => this.syncWaiters.push(r));
  }

  private markSynced(): void {
    this.attempt = 0;
    this.brokenSince = undefined;
    if (this.isSynced) return;
    this.isSynced = true;
    for (const w of this.syncWaiters.splice(0)) w();
  }

  private run(): void {
    this.startedAt = Date.now();
    // ListWatch.start() reports failures through the error callback, never by rejecting; the catch
    // is for a throw before it gets that far (e.g. no current cluster).
    this.inner.start().catch((err: unknown) => this.onError(err));
  }

  private onError(err: unknown): void {
    if (this.stopped) return;
    this.brokenSince ??= Date.now();
    if (Date.now() - this.startedAt > (this.opts.healthyAfterMs ?? 30_000)) this.attempt = 0;
    const delay = backoffDelay(
      this.attempt++,
      this.opts.backoff ?? { baseMs: 500, maxMs: 15_000, jitter: 0.2 },
    );
    this.opts.metrics?.informerRestarts.inc({ resource: this.resource });
    this.opts.log.warn("informer failed; restarting", {
      resource: this.resource,
      retryInMs: delay,
      err: err instanceof Error ? err : new Error(String((err as { message?: unknown })?.message ?? err)),
    });
    clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => {
      if (!this.stopped) this.run();
    }, delay);
  }

  private emit(event: InformerEvent, obj: T): void {
    for (const h of this.handlers) h(event, obj);
  }
}

/** Page size of every LIST: a cluster with 50,000 objects is listed in pages, never in one response. */
export const LIST_PAGE_SIZE = 500;

/**
 * Lists every page (limit/continue) and returns one list. Pages of one paginated LIST come from
 * the same snapshot, so the first page's resourceVersion is where the watch starts. Bounded: a
 * server that keeps returning a continue token stops the loop after `maxPages`.
 */
export async function listAllPages<T extends k8s.KubernetesObject>(
  page: (opts: { limit: number; _continue?: string }) => Promise<k8s.KubernetesListObject<T>>,
  maxPages = 10_000,
): Promise<k8s.KubernetesListObject<T>> {
  // Typed clients name it `_continue`; the custom-objects client returns the wire JSON (`continue`).
  const continueOf = (l: k8s.KubernetesListObject<T>) =>
    l.metadata?._continue || (l.metadata as { continue?: string } | undefined)?.continue || undefined;
  const first = await page({ limit: LIST_PAGE_SIZE });
  const items = [...first.items];
  let next = continueOf(first);
  for (let n = 1; next && n < maxPages; n++) {
    const more = await page({ limit: LIST_PAGE_SIZE, _continue: next });
    items.push(...more.items);
    next = continueOf(more);
  }
  if (next) throw new Error(`LIST did not finish within ${maxPages} pages of ${LIST_PAGE_SIZE}`);
  const { _continue: _a, continue: _b, ...meta } = (first.metadata ?? {}) as Record<string, unknown>;
  return { ...first, items, metadata: meta as k8s.V1ListMeta };
}

/**
 * An informer over `path` whose LIST goes through `list` (a rate-limited client call), optionally
 * restricted by a label selector.
 */
export function resilientInformer<T extends k8s.KubernetesObject>(
  kc: k8s.KubeConfig,
  path: string,
  list: () => Promise<k8s.KubernetesListObject<T>>,
  opts: ResilientInformerOptions & { labelSelector?: string; fieldSelector?: string },
): ResilientInformer<T> {
  return new ResilientInformer<T>(
    // ListWatch directly rather than makeInformer: only it passes a field selector to the watch,
    // which RBAC needs to authorize a list/watch limited by resourceNames.
    (onListed) =>
      new k8s.ListWatch<T>(
        path,
        new k8s.Watch(kc),
        async () => {
          const result = await list();
          onListed();
          return result;
        },
        false,
        opts.labelSelector,
        opts.fieldSelector,
      ),
    opts,
  );
}
