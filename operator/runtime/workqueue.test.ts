import { describe, expect, it } from "vitest";
import { backoffDelay } from "./backoff.ts";
import { MAX_TIMER_MS, type QueueTimers, runWorkers, WorkQueue } from "./workqueue.ts";

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

  describe("delays longer than setTimeout can hold (2^31-1 ms)", () => {
    /** A manual clock: timers fire only when the test advances time past them. */
    function manualTimers() {
      let now = 0;
      let seq = 0;
      const pending = new Map<number, { due: number; fn: () => void; ms: number }>();
      const requested: number[] = [];
      const timers: QueueTimers = {
        now: () => now,
        setTimeout: (fn, ms) => {
          requested.push(ms);
          const id = ++seq;
          pending.set(id, { due: now + ms, fn, ms });
          return { unref() {}, id } as unknown as NodeJS.Timeout;
        },
        clearTimeout: (t) => pending.delete((t as unknown as { id: number }).id),
      };
      /** Moves the clock forward to each due timer in turn, as real time would. */
      const advance = (ms: number) => {
        const target = now + ms;
        for (let guard = 0; guard < 1000; guard++) {
          const due = [...pending.entries()]
            .filter(([, p]) => p.due <= target)
            .sort((a, b) => a[1].due - b[1].due)[0];
          if (!due) {
            now = target;
            return;
          }
          now = due[1].due;
          pending.delete(due[0]);
          due[1].fn();
        }
        throw new Error("timers kept firing: a hot loop");
      };
      return { timers, advance, requested, pending };
    }
    const DAY = 86_400_000;
    const attack: { name: string; delayMs: number }[] = [
      { name: "just past the limit", delayMs: MAX_TIMER_MS + 1 },
      { name: "2^31 ms exactly", delayMs: 2 ** 31 },
      { name: "an exemption 115 days out", delayMs: 115 * DAY },
      { name: "ten years", delayMs: 3650 * DAY },
    ];
    for (const row of attack) {
      it(`${row.name}: never arms a timer above the limit, fires once, when due`, () => {
        const t = manualTimers();
        const q = new WorkQueue({ timers: t.timers });
        q.addAfter("e", row.delayMs);
        expect(Math.max(...t.requested)).toBeLessThanOrEqual(MAX_TIMER_MS);
        t.advance(row.delayMs - 1);
        expect(q.len()).toBe(0);
        expect(q.delayed()).toBe(1);
        t.advance(1);
        expect(q.len()).toBe(1);
        expect(q.delayed()).toBe(0);
        // Re-armed a bounded number of times: one per 24.8-day step.
        expect(t.requested.length).toBe(Math.ceil(row.delayMs / MAX_TIMER_MS));
        q.shutDown();
      });
    }

    it("an earlier addAfter still wins over a re-armed long one", () => {
      const t = manualTimers();
      const q = new WorkQueue({ timers: t.timers });
      q.addAfter("e", 100 * DAY);
      q.addAfter("e", 1000);
      expect(t.pending.size).toBe(1);
      t.advance(1000);
      expect(q.len()).toBe(1);
      q.shutDown();
    });

    it("with Node's real timers, a 2^31 ms delay does not fire soon (it fired after 1 ms before)", async () => {
      const q = new WorkQueue();
      const warnings: string[] = [];
      const onWarning = (w: Error) => warnings.push(w.name);
      process.on("warning", onWarning);
      q.addAfter("e", 2 ** 31);
      await sleep(50);
      process.off("warning", onWarning);
      expect(q.len()).toBe(0);
      expect(q.delayed()).toBe(1);
      expect(warnings).not.toContain("TimeoutOverflowWarning");
      q.shutDown();
    });
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
