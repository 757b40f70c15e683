import { describe, expect, it } from "vitest";
import { createLogger } from "../../lib/log.ts";
import { LeaderElector, type LeaseRecord, type LeaseStore } from "./leader.ts";

/** An in-memory Lease with the API server's optimistic concurrency (409 on a stale version). */
function memoryStore(): LeaseStore & { record: LeaseRecord | undefined } {
  let version = 0;
  const conflict = () => Object.assign(new Error("Conflict"), { code: 409 });
  const store = {
    record: undefined as LeaseRecord | undefined,
    async get() {
      return store.record ? { ...store.record } : undefined;
    },
    async create(r: LeaseRecord) {
      if (store.record) throw conflict();
      store.record = { ...r, resourceVersion: String(++version) };
      return store.record;
    },
    async replace(r: LeaseRecord) {
      if (!store.record || store.record.resourceVersion !== r.resourceVersion) throw conflict();
      store.record = { ...r, resourceVersion: String(++version) };
      return store.record;
    },
  };
  return store;
}

const quiet = createLogger("test", { write: () => {} });

describe("LeaderElector", () => {
  it("one of two candidates wins; the other waits a full lease duration of silence", async () => {
    const store = memoryStore();
    let t = 1_000_000;
    const now = () => t;
    const a = new LeaderElector({ identity: "a", store, log: quiet, now });
    const b = new LeaderElector({ identity: "b", store, log: quiet, now });
    expect(await a.tryAcquireOrRenew()).toBe(true);
    expect(await b.tryAcquireOrRenew()).toBe(false);
    t += 10_000;
    expect(await a.tryAcquireOrRenew()).toBe(true); // renew
    expect(await b.tryAcquireOrRenew()).toBe(false); // b saw it change: its clock restarts
    t += 14_000;
    expect(await b.tryAcquireOrRenew()).toBe(false);
    t += 1_001; // a is silent (killed) for more than 15 s as b observes it
    expect(await b.tryAcquireOrRenew()).toBe(true);
    expect(store.record?.holderIdentity).toBe("b");
    expect(store.record?.leaseTransitions).toBe(1);
    expect(await a.tryAcquireOrRenew()).toBe(false);
  });

  it("a concurrent write loses on the resource version instead of splitting the brain", async () => {
    const store = memoryStore();
    const a = new LeaderElector({ identity: "a", store, log: quiet });
    const b = new LeaderElector({ identity: "b", store, log: quiet });
    const results = await Promise.all([a.tryAcquireOrRenew(), b.tryAcquireOrRenew()]);
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  it("stop() releases the lease so a standby takes it at its next try", async () => {
    const store = memoryStore();
    const a = new LeaderElector({
      identity: "a",
      store,
      log: quiet,
      retryPeriodMs: 20,
      renewDeadlineMs: 50,
      leaseDurationMs: 15_000,
    });
    const changes: boolean[] = [];
    a.onChange((l) => changes.push(l));
    a.start();
    await new Promise((r) => setTimeout(r, 30));
    expect(a.isLeader()).toBe(true);
    await a.stop();
    expect(changes).toEqual([true, false]);
    expect(store.record?.holderIdentity).toBeUndefined();
    const b = new LeaderElector({ identity: "b", store, log: quiet });
    expect(await b.tryAcquireOrRenew()).toBe(true);
  });

  it("steps down when it cannot renew within the renew deadline", async () => {
    const store = memoryStore();
    const a = new LeaderElector({
      identity: "a",
      store,
      log: quiet,
      retryPeriodMs: 10,
      renewDeadlineMs: 40,
      leaseDurationMs: 100,
    });
    a.start();
    await new Promise((r) => setTimeout(r, 25));
    expect(a.isLeader()).toBe(true);
    store.get = async () => {
      throw new Error("API server unreachable");
    };
    await new Promise((r) => setTimeout(r, 80));
    expect(a.isLeader()).toBe(false);
    await a.stop();
  });

  it("refuses inconsistent timings", () => {
    const store = memoryStore();
    expect(
      () =>
        new LeaderElector({
          identity: "a",
          store,
          log: quiet,
          leaseDurationMs: 10_000,
          renewDeadlineMs: 10_000,
        }),
    ).toThrow(/renew deadline/);
  });
});
