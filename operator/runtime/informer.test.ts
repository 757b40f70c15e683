import type * as k8s from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { createLogger } from "../../lib/log.ts";
import {
  type BaseInformer,
  type InformerEvent,
  LIST_PAGE_SIZE,
  listAllPages,
  ResilientInformer,
} from "./informer.ts";
import { createMetrics } from "./metrics.ts";

type Obj = k8s.KubernetesObject;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A stand-in for client-node's ListWatch with its real failure mode: after an error it calls the
 * error callbacks and stays stopped until start() is called again.
 */
class FakeListWatch {
  starts = 0;
  failNextStarts = 0;
  objects = new Map<string, Obj>();
  cbs: Record<string, ((x: never) => void)[]> = { add: [], update: [], delete: [], error: [], connect: [] };
  onListed: () => void = () => {};
  on(verb: string, cb: (x: never) => void) {
    this.cbs[verb]?.push(cb);
  }
  off() {}
  async start() {
    this.starts++;
    if (this.failNextStarts > 0) {
      this.failNextStarts--;
      for (const cb of this.cbs.error!) cb(new Error("connection refused") as never);
      return;
    }
    this.onListed();
  }
  async stop() {}
  get(name: string) {
    return this.objects.get(name);
  }
  list() {
    return [...this.objects.values()];
  }
  emit(verb: string, obj: Obj) {
    if (verb === "add") this.objects.set(obj.metadata!.name!, obj);
    for (const cb of this.cbs[verb]!) cb(obj as never);
  }
  /** What ListWatch does on a watch error other than 410: report and stop. */
  fail() {
    for (const cb of this.cbs.error!) cb(new Error("watch closed: ECONNRESET") as never);
  }
}

function make(fake: FakeListWatch, resyncMs = 0) {
  const metrics = createMetrics();
  const inf = new ResilientInformer<Obj>(
    (onListed) => {
      fake.onListed = onListed;
      return fake as unknown as BaseInformer<Obj>;
    },
    {
      resource: "things",
      log: createLogger("test", { write: () => {} }),
      metrics,
      backoff: { baseMs: 10, maxMs: 40 },
      resyncMs,
    },
  );
  return { inf, metrics };
}

describe("ResilientInformer", () => {
  it("resolves start() once the first LIST filled the cache", async () => {
    const fake = new FakeListWatch();
    const { inf } = make(fake);
    await inf.start();
    expect(inf.synced()).toBe(true);
    await inf.stop();
  });

  it("restarts after any error, with growing backoff, and syncs once the API answers", async () => {
    const fake = new FakeListWatch();
    fake.failNextStarts = 3;
    const { inf, metrics } = make(fake);
    const started = Date.now();
    await inf.start();
    expect(fake.starts).toBe(4);
    // 10 + 20 + 40 ms of backoff.
    expect(Date.now() - started).toBeGreaterThanOrEqual(65);
    fake.fail();
    await sleep(30);
    expect(fake.starts).toBe(5);
    expect(
      await metrics.registry.getSingleMetricAsString("warden_operator_informer_restarts_total"),
    ).toContain('resource="things"} 4');
    await inf.stop();
  });

  it("does not restart after stop()", async () => {
    const fake = new FakeListWatch();
    const { inf } = make(fake);
    await inf.start();
    await inf.stop();
    fake.fail();
    await sleep(30);
    expect(fake.starts).toBe(1);
  });

  it("passes events through and re-delivers the cache on resync", async () => {
    const fake = new FakeListWatch();
    const { inf } = make(fake, 20);
    const seen: [InformerEvent, string][] = [];
    inf.on((e, o) => seen.push([e, o.metadata!.name!]));
    await inf.start();
    fake.emit("add", { metadata: { name: "a" } });
    fake.emit("delete", { metadata: { name: "b" } });
    await sleep(50);
    await inf.stop();
    expect(seen.slice(0, 2)).toEqual([
      ["add", "a"],
      ["delete", "b"],
    ]);
    expect(seen.filter(([e]) => e === "resync").length).toBeGreaterThanOrEqual(1);
  });

  it("is unhealthy from a broken watch until the next LIST succeeds (readiness follows)", async () => {
    const fake = new FakeListWatch();
    const { inf } = make(fake);
    await inf.start();
    expect(inf.healthy()).toBe(true);
    fake.failNextStarts = 1_000_000; // the API server stays away
    fake.fail();
    expect(inf.healthy()).toBe(false);
    expect(inf.brokenAt()).toBeTypeOf("number");
    expect(inf.synced()).toBe(true); // still has a (stale) cache
    fake.failNextStarts = 0; // it comes back: the next restart re-lists
    for (let i = 0; i < 200 && !inf.healthy(); i++) await sleep(10);
    expect(inf.healthy()).toBe(true);
    expect(inf.brokenAt()).toBeUndefined();
    await inf.stop();
    expect(inf.healthy()).toBe(false);
  });
});

describe("listAllPages", () => {
  type L = k8s.KubernetesListObject<Obj>;
  const pages = (n: number, spelling: "_continue" | "continue") => {
    const calls: { limit: number; _continue?: string }[] = [];
    const page = async (o: { limit: number; _continue?: string }): Promise<L> => {
      calls.push(o);
      const i = o._continue ? Number(o._continue) : 0;
      const meta: Record<string, string> = { resourceVersion: "42" };
      if (i + 1 < n) meta[spelling] = String(i + 1);
      return {
        apiVersion: "v1",
        kind: "List",
        items: [{ metadata: { name: `o${i}` } }],
        metadata: meta,
      } as L;
    };
    return { page, calls };
  };
  for (const spelling of ["_continue", "continue"] as const) {
    it(`follows ${spelling} tokens to the last page, with the page size, keeping the snapshot version`, async () => {
      const { page, calls } = pages(4, spelling);
      const all = await listAllPages(page);
      expect(all.items.map((o) => o.metadata?.name)).toEqual(["o0", "o1", "o2", "o3"]);
      expect(all.metadata?.resourceVersion).toBe("42");
      expect(all.metadata?._continue).toBeUndefined();
      expect(calls.every((c) => c.limit === LIST_PAGE_SIZE)).toBe(true);
    });
  }
  it("stops a server that never stops paginating", async () => {
    const endless = async (): Promise<L> => ({ items: [], metadata: { _continue: "again" } }) as unknown as L;
    await expect(listAllPages(endless, 5)).rejects.toThrow(/5 pages/);
  });
});
