import { describe, expect, it } from "vitest";
import { applyPatch, pointer } from "./jsonpatch.ts";

describe("JSON Patch (RFC 6902)", () => {
  it("escapes ~ and / in pointers (RFC 6901)", () => {
    expect(pointer(["metadata", "annotations", "warden.dev/gateway-status"])).toBe(
      "/metadata/annotations/warden.dev~1gateway-status",
    );
    expect(pointer(["a~b"])).toBe("/a~0b");
    expect(applyPatch({ a: {} }, [{ op: "add", path: "/a/x~1y~0z", value: 1 }])).toEqual({
      a: { "x/y~z": 1 },
    });
  });

  it("add into arrays by index and with -, replace, remove, test, move, copy", () => {
    const doc = { l: [1, 2], o: { k: "v" } };
    const out = applyPatch(doc, [
      { op: "add", path: "/l/0", value: 0 },
      { op: "add", path: "/l/-", value: 3 },
      { op: "replace", path: "/o/k", value: "w" },
      { op: "test", path: "/o/k", value: "w" },
      { op: "copy", from: "/o", path: "/p" },
      { op: "move", from: "/p/k", path: "/q" },
      { op: "remove", path: "/l/1" },
    ]);
    expect(out).toEqual({ l: [0, 2, 3], o: { k: "w" }, p: {}, q: "w" });
    expect(doc).toEqual({ l: [1, 2], o: { k: "v" } }); // the input is not modified
  });

  it("refuses ops that do not apply", () => {
    expect(() => applyPatch({}, [{ op: "add", path: "/a/b", value: 1 }])).toThrow(/does not exist/);
    expect(() => applyPatch({ l: [] }, [{ op: "add", path: "/l/1", value: 1 }])).toThrow(/out of bounds/);
    expect(() => applyPatch({ a: 1 }, [{ op: "test", path: "/a", value: 2 }])).toThrow(/test failed/);
    expect(() => applyPatch({}, [{ op: "remove", path: "/x" }])).toThrow(/does not exist/);
  });
});
