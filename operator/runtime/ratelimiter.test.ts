import { describe, expect, it } from "vitest";
import { type Clock, TokenBucket } from "./ratelimiter.ts";

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
