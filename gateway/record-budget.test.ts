import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Clock } from "../lib/token-bucket.ts";
import { RecordBudget } from "./record-budget.ts";

function fakeClock(): Clock & { advance(ms: number): void } {
  let t = 0;
  return {
    now: () => t,
    sleep: async () => undefined,
    advance: (ms) => {
      t += ms;
    },
  };
}

describe("RecordBudget", () => {
  it("records a burst, then counts, and the next record accounts for what was only counted", () => {
    const clock = fakeClock();
    const b = new RecordBudget({ ratePerSecond: 2, burst: 3 }, clock);
    expect([b.admit(), b.admit(), b.admit()]).toEqual([0, 0, 0]);
    expect([b.admit(), b.admit()]).toEqual([undefined, undefined]);
    expect(b.pending).toBe(2);
    clock.advance(500); // one token at 2/s
    expect(b.admit()).toBe(2);
    expect(b.pending).toBe(0);
  });

  it("property: every event is recorded or accounted for, and records stay within the budget", () => {
    fc.assert(
      fc.property(
        fc.record({
          ratePerSecond: fc.integer({ min: 1, max: 50 }),
          burst: fc.integer({ min: 1, max: 100 }),
        }),
        fc.array(fc.integer({ min: 0, max: 2_000 }), { maxLength: 500 }),
        (limit, gaps) => {
          const clock = fakeClock();
          const b = new RecordBudget(limit, clock);
          let recorded = 0;
          let accounted = 0;
          for (const gap of gaps) {
            clock.advance(gap);
            const before = b.admit();
            if (before !== undefined) {
              recorded++;
              accounted += 1 + before;
            }
          }
          // Nothing lost: each event is in a record, in a record's count, or still pending.
          expect(accounted + b.pending).toBe(gaps.length);
          // Bounded: never more records than the burst plus what the rate refilled.
          const elapsedS = gaps.reduce((a, g) => a + g, 0) / 1000;
          expect(recorded).toBeLessThanOrEqual(limit.burst + Math.floor(elapsedS * limit.ratePerSecond));
        },
      ),
    );
  });
});
