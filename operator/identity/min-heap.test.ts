import * as fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DueHeap } from "./min-heap.ts";

describe("DueHeap", () => {
  it("pops keys in due order after arbitrary sets and deletes (property)", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.constantFrom("a", "b", "c", "d", "e", "f", "g"),
            fc.integer({ min: 0, max: 1000 }),
            fc.boolean(),
          ),
        ),
        (ops) => {
          const heap = new DueHeap();
          const model = new Map<string, number>();
          for (const [k, due, del] of ops) {
            if (del) {
              heap.delete(k);
              model.delete(k);
            } else {
              heap.set(k, due);
              model.set(k, due);
            }
          }
          expect(heap.size).toBe(model.size);
          const popped = heap.popDue(Number.POSITIVE_INFINITY);
          const dues = popped.map((k) => model.get(k)!);
          expect(dues).toEqual([...dues].sort((x, y) => x - y));
          expect(new Set(popped)).toEqual(new Set(model.keys()));
        },
      ),
    );
  });
  it("pops only what is due", () => {
    const h = new DueHeap();
    h.set("x", 10);
    h.set("y", 5);
    h.set("z", 20);
    expect(h.popDue(10)).toEqual(["y", "x"]);
    expect(h.peek()).toEqual({ key: "z", due: 20 });
  });
});
