import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalJSON } from "./canonical-json.ts";
import { toolDigest } from "./tool-digest.ts";

describe("canonicalJSON", () => {
  it("sorts keys at every level and drops whitespace and undefined", () => {
    expect(canonicalJSON({ b: 1, a: { d: [1, { z: 1, y: 2 }], c: "x" }, u: undefined })).toBe(
      '{"a":{"c":"x","d":[1,{"y":2,"z":1}]},"b":1}',
    );
  });
  it("is independent of key order (property)", () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (obj) => {
        const reversed = Object.fromEntries(Object.entries(obj).reverse());
        expect(canonicalJSON(reversed)).toBe(canonicalJSON(obj));
        expect(JSON.parse(canonicalJSON(obj))).toEqual(JSON.parse(JSON.stringify(obj)));
      }),
    );
  });
});

describe("toolDigest", () => {
  it("is sha256 over the canonical {name, description, inputSchema}", () => {
    const tool = {
      name: "search",
      description: "Web search",
      inputSchema: { type: "object", properties: { q: { type: "string" } } },
    };
    const expected = createHash("sha256")
      .update(
        '{"description":"Web search","inputSchema":{"properties":{"q":{"type":"string"}},"type":"object"},"name":"search"}',
      )
      .digest("hex");
    expect(toolDigest(tool)).toBe(`sha256:${expected}`);
    expect(toolDigest({ ...tool, description: "Web search!" })).not.toBe(toolDigest(tool));
  });
});
