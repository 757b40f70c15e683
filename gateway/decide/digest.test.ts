import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { toolDigest as operatorToolDigest } from "../../operator/controllers/digest.ts";
import { argsHash, canonicalJson, toolDigest } from "./digest.ts";

describe("digest contract with the operator", () => {
  it("the gateway recomputes exactly the digest the operator pins", () => {
    fc.assert(
      fc.property(
        fc.record({
          name: fc.stringMatching(/^[A-Za-z0-9_.-]{1,32}$/),
          description: fc.option(fc.string(), { nil: undefined }),
          inputSchema: fc.option(fc.dictionary(fc.string(), fc.jsonValue()), { nil: undefined }),
        }),
        (def) => {
          const parsed = JSON.parse(JSON.stringify(def)) as typeof def;
          expect(toolDigest(parsed)).toBe(operatorToolDigest(parsed as never));
        },
      ),
      { numRuns: 300 },
    );
  });
  it("is independent of key order and binds approvals to exact arguments", () => {
    expect(canonicalJson({ b: { d: 1, c: 2 }, a: 0 })).toBe('{"a":0,"b":{"c":2,"d":1}}');
    expect(argsHash({ a: 1, b: 2 })).toBe(argsHash({ b: 2, a: 1 }));
    expect(argsHash({ a: 1 })).not.toBe(argsHash({ a: "1" }));
  });
});
