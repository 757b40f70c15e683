import { describe, expect, it } from "vitest";
import { isSubset } from "./apply.ts";

describe("isSubset", () => {
  it("ignores fields the server or other managers added", () => {
    expect(
      isSubset(
        { metadata: { labels: { a: "1" } }, spec: { ports: [{ port: 53 }] } },
        {
          metadata: { labels: { a: "1", b: "2" }, uid: "x" },
          spec: { ports: [{ port: 53, protocol: "TCP" }] },
        },
      ),
    ).toBe(true);
  });
  it("sees a changed value, a missing field and an extra list element", () => {
    expect(isSubset({ a: { b: 1 } }, { a: { b: 2 } })).toBe(false);
    expect(isSubset({ a: { b: 1 } }, { a: {} })).toBe(false);
    expect(isSubset({ l: [{ x: 1 }] }, { l: [{ x: 1 }, { x: 2 }] })).toBe(false);
    expect(isSubset({ l: [] }, {})).toBe(false);
  });
  it("treats an empty desired object as matching an empty actual one", () => {
    expect(isSubset({ podSelector: {} }, { podSelector: {} })).toBe(true);
    expect(isSubset({ podSelector: {} }, {})).toBe(false);
  });
});
