import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { argsHash, canonicalJson, toolDigest } from "./digest.ts";

describe("digest contract with the operator", () => {
  it("the gateway recomputes exactly the digest the operator pins (one function, lib/tool-digest.ts)", () => {
    fc.assert(
      fc.property(
        fc.record({
          name: fc.stringMatching(/^[A-Za-z0-9_.-]{1,32}$/),
          description: fc.option(fc.string(), { nil: undefined }),
          inputSchema: fc.option(fc.dictionary(fc.string(), fc.jsonValue()), { nil: undefined }),
        }),
        (def) => {
          const parsed = JSON.parse(JSON.stringify(def)) as typeof def;
          // The operator imports the same function; this pins it to the documented bytes.
          const text = `{${[
            parsed.description === undefined
              ? undefined
              : `"description":${JSON.stringify(parsed.description)}`,
            parsed.inputSchema === undefined
              ? undefined
              : `"inputSchema":${canonicalJson(parsed.inputSchema)}`,
            `"name":${JSON.stringify(parsed.name)}`,
          ]
            .filter(Boolean)
            .join(",")}}`;
          expect(toolDigest(parsed)).toBe(`sha256:${createHash("sha256").update(text).digest("hex")}`);
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
