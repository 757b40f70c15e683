// Lease-based leader election (coordination.k8s.io/v1), after client-go's leaderelection: the
// holder renews every retry period; a candidate takes the Lease only when it has not seen it
// change for a whole lease duration (measured on its own clock, so clocks need not agree); a leader
// that cannot renew within the renew deadline stops leading. Releasing on shutdown clears the
// holder so that a standby takes over at its next retry instead of waiting out the lease.
import * as k8s from "@kubernetes/client-node";
import type { Logger } from "../../lib/log.ts";
import { statusOf } from "./client.ts";

export interface LeaseRecord {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: Date;
  renewTime?: Date;
  leaseTransitions?: number;
  resourceVersion?: string;
}

/** The Lease as the elector needs it; replace() must fail with a 409 on a stale resourceVersion. */
export interface LeaseStore {
  get(): Promise<LeaseRecord | undefined>;
  create(record: LeaseRecord): Promise<LeaseRecord>;
  replace(record: LeaseRecord): Promise<LeaseRecord>;
}

export interface LeaderElectorOptions {
  identity: string;
  store: LeaseStore;
  log: Logger;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  now?: () => number;
}

export class LeaderElector {
  readonly identity: string;
  private readonly store: LeaseStore;
  private readonly log: Logger;
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
  private readonly now: () => number;
  private leading = false;
  private stopped = false;
  private observed: { key: string; at: number } | undefined;
  private lastRenew = 0;
  private timer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private readonly listeners: ((leader: boolean) => void)[] = [];
  private loop: Promise<void> | undefined;

  constructor(opts: LeaderElectorOptions) {
    this.identity = opts.identity;
    this.store = opts.store;
    this.log = opts.log;
    this.leaseDurationMs = opts.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = opts.retryPeriodMs ?? 2_000;
    this.now = opts.now ?? Date.now;
    if (this.renewDeadlineMs >= this.leaseDurationMs)
      throw new Error("renew deadline must be shorter than the lease");
    if (this.retryPeriodMs >= this.renewDeadlineMs)
      throw new Error("retry period must be shorter than the renew deadline");
  }

  isLeader(): boolean {
    return this.leading;
  }

  onChange(cb: (leader: boolean) => void): void {
    this.listeners.push(cb);
  }

  /** Starts campaigning; runs until stop(). */
  start(): void {
    if (this.loop) return;
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const ok = await this.tryAcquireOrRenew().catch((err: unknown) => {
        this.log.warn("leader election: lease request failed", { err: asError(err) });
        return false;
      });
      if (this.stopped) break;
      if (ok) {
        this.lastRenew = this.now();
        if (!this.leading) this.setLeading(true);
      } else if (this.leading && this.now() - this.lastRenew >= this.renewDeadlineMs) {
        this.log.error("leader election: could not renew the lease within the renew deadline; stepping down");
        this.setLeading(false);
      }
      await new Promise<void>((r) => {
        this.wake = r;
        this.timer = setTimeout(r, this.retryPeriodMs);
      });
    }
  }

  /** One round: take or renew the lease; true when we hold it afterwards. Exposed for tests. */
  async tryAcquireOrRenew(): Promise<boolean> {
    const now = this.now();
    const current = await this.store.get();
    const leaseSeconds = Math.ceil(this.leaseDurationMs / 1000);
    if (!current) {
      try {
        await this.store.create({
          holderIdentity: this.identity,
          leaseDurationSeconds: leaseSeconds,
          acquireTime: new Date(now),
          renewTime: new Date(now),
          leaseTransitions: 0,
        });
        return true;
      } catch (err) {
        if (statusOf(err) === 409) return false;
        throw err;
      }
    }
    const key = `${current.holderIdentity ?? ""}|${current.renewTime?.getTime() ?? ""}|${current.resourceVersion ?? ""}`;
    if (!this.observed || this.observed.key !== key) this.observed = { key, at: now };
    const holder = current.holderIdentity ?? "";
    const heldByOther = holder !== "" && holder !== this.identity;
    const duration = (current.leaseDurationSeconds ?? leaseSeconds) * 1000;
    if (heldByOther && this.observed.at + duration > now) return false;
    const taking = holder !== this.identity;
    try {
      await this.store.replace({
        ...current,
        holderIdentity: this.identity,
        leaseDurationSeconds: leaseSeconds,
        acquireTime: taking ? new Date(now) : current.acquireTime,
        renewTime: new Date(now),
        leaseTransitions: (current.leaseTransitions ?? 0) + (taking && holder !== "" ? 1 : 0),
      });
      if (taking)
        this.log.info("leader election: acquired the lease", { previousHolder: holder || undefined });
      return true;
    } catch (err) {
      if (statusOf(err) === 409) return false;
      throw err;
    }
  }

  /** Stops campaigning and, when leading, clears the holder so a standby takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.wake?.();
    await this.loop?.catch(() => undefined);
    if (!this.leading) return;
    this.setLeading(false);
    try {
      const current = await this.store.get();
      if (current?.holderIdentity === this.identity) {
        await this.store.replace({
          ...current,
          holderIdentity: undefined,
          leaseDurationSeconds: 1,
          renewTime: new Date(this.now()),
        });
        this.log.info("leader election: released the lease");
      }
    } catch (err) {
      this.log.warn("leader election: could not release the lease; a standby takes over when it expires", {
        err: asError(err),
      });
    }
  }

  private setLeading(leading: boolean): void {
    this.leading = leading;
    for (const cb of this.listeners) cb(leading);
  }
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/** A LeaseStore over coordination.k8s.io/v1. */
/**
 * `owner` (the operator's ServiceAccount) makes the Lease a dependent of something the installation
 * deletes: `helm uninstall` then leaves no Lease behind (the garbage collector removes it).
 */
export function kubeLeaseStore(
  api: k8s.CoordinationV1Api,
  namespace: string,
  name: string,
  owner?: k8s.V1OwnerReference,
): LeaseStore {
  const toRecord = (l: k8s.V1Lease): LeaseRecord => ({
    holderIdentity: l.spec?.holderIdentity || undefined,
    leaseDurationSeconds: l.spec?.leaseDurationSeconds,
    acquireTime: l.spec?.acquireTime ? new Date(l.spec.acquireTime) : undefined,
    renewTime: l.spec?.renewTime ? new Date(l.spec.renewTime) : undefined,
    leaseTransitions: l.spec?.leaseTransitions,
    resourceVersion: l.metadata?.resourceVersion,
  });
  const micro = (d: Date | undefined) => (d ? new k8s.V1MicroTime(d.getTime()) : undefined);
  const toLease = (r: LeaseRecord): k8s.V1Lease => ({
    apiVersion: "coordination.k8s.io/v1",
    kind: "Lease",
    metadata: {
      name,
      namespace,
      resourceVersion: r.resourceVersion,
      ...(owner ? { ownerReferences: [owner] } : {}),
    },
    spec: {
      holderIdentity: r.holderIdentity,
      leaseDurationSeconds: r.leaseDurationSeconds,
      acquireTime: micro(r.acquireTime),
      renewTime: micro(r.renewTime),
      leaseTransitions: r.leaseTransitions,
    },
  });
  return {
    async get() {
      try {
        return toRecord(await api.readNamespacedLease({ name, namespace }));
      } catch (err) {
        if (statusOf(err) === 404) return undefined;
        throw err;
      }
    },
    async create(r) {
      return toRecord(await api.createNamespacedLease({ namespace, body: toLease(r) }));
    },
    async replace(r) {
      return toRecord(await api.replaceNamespacedLease({ name, namespace, body: toLease(r) }));
    },
  };
}
