import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { TtlCache, TtlLoader } from "./ttl-cache.ts";

describe("TtlCache", () => {
  it("evicts the least recently used entry and never returns an expired one", () => {
    let now = 0;
    const c = new TtlCache<number>({ maxEntries: 2, ttlMs: 100, now: () => now });
    c.set("a", 1);
    c.set("b", 2);
    expect(c.get("a")).toBe(1); // a is now the most recently used
    c.set("c", 3);
    expect(c.get("b")).toBeUndefined();
    expect(c.get("a")).toBe(1);
    expect(c.size).toBe(2);
    c.set("d", 4, 10); // evicts c (a was used after it); a shorter TTL is honoured
    expect(c.get("c")).toBeUndefined();
    now = 11;
    expect(c.get("d")).toBeUndefined();
    expect(c.get("a")).toBe(1);
    now = 101;
    expect(c.get("a")).toBeUndefined();
    expect(c.size).toBe(0);
  });

  it("never keeps an entry longer than its TTL, nor one already expired", () => {
    let now = 0;
    const c = new TtlCache<string>({ maxEntries: 10, ttlMs: 100, now: () => now });
    c.set("long", "x", 10_000); // capped at the cache's TTL
    c.set("gone", "y", 0);
    c.set("past", "z", -5);
    expect(c.get("gone")).toBeUndefined();
    expect(c.get("past")).toBeUndefined();
    now = 100;
    expect(c.get("long")).toBeUndefined();
  });

  it("refuses settings that cannot work", () => {
    expect(() => new TtlCache({ maxEntries: 0, ttlMs: 1 })).toThrow(/maxEntries/);
    expect(() => new TtlCache({ maxEntries: 1, ttlMs: -1 })).toThrow(/ttlMs/);
    // 0 is "do not cache": every get misses.
    const none = new TtlCache<number>({ maxEntries: 1, ttlMs: 0 });
    none.set("a", 1);
    expect(none.get("a")).toBeUndefined();
  });

  it("stays within maxEntries and returns only live, last-set values (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.array(
          fc.tuple(
            fc.constantFrom("set", "get", "tick"),
            fc.constantFrom("a", "b", "c", "d", "e"),
            fc.nat(50),
          ),
          { maxLength: 60 },
        ),
        (max, ops) => {
          let now = 0;
          const c = new TtlCache<number>({ maxEntries: max, ttlMs: 30, now: () => now });
          const truth = new Map<string, { v: number; until: number }>();
          ops.forEach(([op, k, n], i) => {
            if (op === "tick") now += n;
            else if (op === "set") {
              c.set(k, i, n);
              truth.set(k, { v: i, until: now + Math.min(n, 30) });
            } else {
              const got = c.get(k);
              const t = truth.get(k);
              // A value returned is the last one set for the key, and not expired.
              if (got !== undefined) expect(t && got === t.v && t.until > now).toBe(true);
            }
            expect(c.size).toBeLessThanOrEqual(max);
          });
        },
      ),
    );
  });
});

describe("TtlLoader", () => {
  it("shares one load between concurrent callers and caches it for the TTL", async () => {
    let now = 0;
    let loads = 0;
    const l = new TtlLoader<number>({ maxEntries: 10, ttlMs: 100, now: () => now });
    const load = async () => ++loads;
    expect(await Promise.all([l.get("k", load), l.get("k", load)])).toEqual([1, 1]);
    now = 99;
    expect(await l.get("k", load)).toBe(1);
    now = 100;
    expect(await l.get("k", load)).toBe(2);
  });

  it("never caches a failed load", async () => {
    const l = new TtlLoader<string>({ maxEntries: 10, ttlMs: 1000 });
    await expect(l.get("k", () => Promise.reject(new Error("API down")))).rejects.toThrow(/API down/);
    await new Promise((r) => setTimeout(r, 0));
    expect(await l.get("k", async () => "fresh")).toBe("fresh");
  });
});
