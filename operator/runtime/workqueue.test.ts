import { describe, expect, it } from "vitest";
import { backoffDelay } from "./backoff.ts";
import { runWorkers, WorkQueue } from "./workqueue.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("backoffDelay", () => {
  it("doubles from the base and stops at the cap", () => {
    const o = { baseMs: 100, maxMs: 1000 };
    expect([0, 1, 2, 3, 4, 60].map((n) => backoffDelay(n, o))).toEqual([100, 200, 400, 800, 1000, 1000]);
  });
  it("jitters within the band", () => {
    expect(backoffDelay(0, { baseMs: 1000, maxMs: 1000, jitter: 0.1 }, () => 0)).toBe(900);
    expect(backoffDelay(0, { baseMs: 1000, maxMs: 1000, jitter: 0.1 }, () => 1)).toBe(1100);
  });
});

describe("WorkQueue", () => {
  it("de-duplicates keys that are waiting", async () => {
    const q = new WorkQueue();
    q.add("a");
    q.add("b");
    q.add("a");
    expect(q.len()).toBe(2);
    expect(await q.get()).toBe("a");
    expect(await q.get()).toBe("b");
  });

  it("never hands a key to two workers; a change while processing queues it once more", async () => {
    const q = new WorkQueue();
    q.add("a");
    const k = await q.get();
    q.add("a");
    q.add("a");
    expect(q.len()).toBe(0); // dirty, not queued, while processing
    q.done(k!);
    expect(q.len()).toBe(1);
  });

  it("addAfter keeps the earliest schedule", async () => {
    const q = new WorkQueue();
    q.addAfter("a", 5_000);
    q.addAfter("a", 20);
    q.addAfter("a", 10_000);
    expect(q.delayed()).toBe(1);
    await sleep(60);
    expect(q.len()).toBe(1);
    q.shutDown();
  });

  it("backs off per key and forgets on success", () => {
    const q = new WorkQueue({ backoff: { baseMs: 10, maxMs: 1000 } });
    expect(q.addRateLimited("a")).toBe(10);
    expect(q.addRateLimited("a")).toBe(20);
    expect(q.addRateLimited("b")).toBe(10);
    q.forget("a");
    expect(q.addRateLimited("a")).toBe(10);
    q.shutDown();
  });

  it("the global retry rate bounds a storm of failures", () => {
    const q = new WorkQueue({ backoff: { baseMs: 1, maxMs: 1 }, retryQPS: 10, retryBurst: 2 });
    const delays = ["a", "b", "c", "d"].map((k) => q.addRateLimited(k));
    expect(delays[0]).toBe(1);
    expect(delays[1]).toBe(1);
    expect(delays[2]).toBeGreaterThanOrEqual(90);
    q.shutDown();
  });

  it("get() waits for work and returns undefined after shutDown", async () => {
    const q = new WorkQueue();
    const p = q.get();
    q.add("x");
    expect(await p).toBe("x");
    const p2 = q.get();
    q.shutDown();
    expect(await p2).toBeUndefined();
  });

  it("runWorkers retries errors with backoff and honours requeueAfter", async () => {
    const q = new WorkQueue({ backoff: { baseMs: 5, maxMs: 5 } });
    const seen: string[] = [];
    let failures = 0;
    const errors: string[] = [];
    const run = runWorkers(
      q,
      2,
      async (key) => {
        seen.push(key);
        if (key === "fail" && failures++ < 2) throw new Error("boom");
        if (key === "again" && seen.filter((k) => k === "again").length < 3) return { requeueAfterMs: 10 };
        return undefined;
      },
      (key) => errors.push(key),
    );
    q.add("fail");
    q.add("again");
    await sleep(150);
    q.shutDown();
    await run;
    expect(seen.filter((k) => k === "fail")).toHaveLength(3);
    expect(seen.filter((k) => k === "again")).toHaveLength(3);
    expect(errors).toEqual(["fail", "fail"]);
  });
});
