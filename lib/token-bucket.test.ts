import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type Clock, KeyedTokenBuckets, TokenBucket } from "./token-bucket.ts";

function fakeClock(): Clock & { advance(ms: number): void; slept: number[] } {
  let t = 0;
  const slept: number[] = [];
  return {
    now: () => t,
    sleep: async (ms) => {
      slept.push(ms);
    },
    advance: (ms) => {
      t += ms;
    },
    slept,
  };
}

describe("TokenBucket", () => {
  it("allows a burst, then refills at qps", () => {
    const clock = fakeClock();
    const b = new TokenBucket(10, 3, clock);
    expect([b.tryTake(), b.tryTake(), b.tryTake(), b.tryTake()]).toEqual([true, true, true, false]);
    clock.advance(100); // one token at 10 qps
    expect(b.tryTake()).toBe(true);
    expect(b.tryTake()).toBe(false);
    clock.advance(10_000);
    expect(b.delayMs()).toBe(0);
  });

  it("spaces concurrent waiters 1/qps apart", async () => {
    const clock = fakeClock();
    const b = new TokenBucket(50, 2, clock);
    await Promise.all(Array.from({ length: 6 }, () => b.take()));
    // Two from the burst, four waiters at 20ms, 40ms, 60ms, 80ms.
    expect(clock.slept.map((ms) => Math.round(ms))).toEqual([20, 40, 60, 80]);
  });

  it("really limits a real clock", async () => {
    const b = new TokenBucket(200, 1);
    const start = performance.now();
    for (let i = 0; i < 11; i++) await b.take();
    // 10 waits of 5 ms after the single burst token.
    expect(performance.now() - start).toBeGreaterThanOrEqual(45);
  });

  it("rejects nonsense settings", () => {
    expect(() => new TokenBucket(0, 1)).toThrow(/qps/);
    expect(() => new TokenBucket(5, 0)).toThrow(/burst/);
  });
});

describe("KeyedTokenBuckets", () => {
  it("allows a burst, then the rate, per key", () => {
    let t = 0;
    const b = new KeyedTokenBuckets({ ratePerSecond: 1, burst: 3, now: () => t });
    expect([b.take("a"), b.take("a"), b.take("a")]).toEqual([0, 0, 0]);
    expect(b.take("a")).toBeCloseTo(1);
    expect(b.take("b")).toBe(0);
    t += 1000;
    expect(b.wait("a")).toBe(0);
    expect(b.take("a")).toBe(0);
  });

  it("takes each key's own limit when one is given per call (the gateway's per-tool limits)", () => {
    let t = 0;
    const b = new KeyedTokenBuckets({ now: () => t });
    const slow = { ratePerSecond: 1 / 60, burst: 1 };
    const fast = { ratePerSecond: 10, burst: 2 };
    expect([b.take("slow", slow), b.take("slow", slow) > 0]).toEqual([0, true]);
    expect([b.take("fast", fast), b.take("fast", fast), b.take("fast", fast) > 0]).toEqual([0, 0, true]);
    t += 100;
    expect(b.take("fast", fast)).toBe(0);
    expect(Math.ceil(b.take("slow", slow))).toBe(60);
    expect(() => b.take("no-limit")).toThrow(/no limit/);
  });

  it("drops only buckets that have refilled: a long period is not reset by a sweep", () => {
    let t = 0;
    const b = new KeyedTokenBuckets({ now: () => t, sweepEveryMs: 1000 });
    const hourly = { ratePerSecond: 1 / 3600, burst: 1 };
    const quick = { ratePerSecond: 1, burst: 1 };
    b.take("hourly", hourly);
    b.take("quick", quick);
    t += 10 * 60_000; // a sweep is due; quick has refilled, hourly has not
    expect(b.take("other", quick)).toBe(0);
    expect(b.size).toBe(2); // hourly and other
    expect(b.take("hourly", hourly)).toBeGreaterThan(0);
  });

  it("never allows more than burst + rate × time (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 20 }),
        fc.array(fc.nat(700), { minLength: 1, maxLength: 80 }),
        (burst, perSecond, gaps) => {
          let t = 0;
          const b = new KeyedTokenBuckets({ now: () => t, sweepEveryMs: 50 });
          const limit = { ratePerSecond: perSecond, burst };
          let allowed = 0;
          for (const g of gaps) {
            t += g;
            if (b.take("k", limit) === 0) allowed++;
          }
          expect(allowed).toBeLessThanOrEqual(burst + Math.floor((t / 1000) * perSecond));
        },
      ),
    );
  });

  it("refuses limits that cannot work", () => {
    expect(() => new KeyedTokenBuckets({ ratePerSecond: 0, burst: 1 })).toThrow(/ratePerSecond/);
    expect(() => new KeyedTokenBuckets({ limit: { ratePerSecond: 1, burst: 0.5 } })).toThrow(/burst/);
  });
});
