import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { JsonRejected, parseStrictJson } from "./json.ts";

const reason = (text: string, opts = {}) => {
  try {
    parseStrictJson(text, opts);
    return "ok";
  } catch (e) {
    return e instanceof JsonRejected ? e.reason : `threw ${(e as Error).name}`;
  }
};

describe("parseStrictJson", () => {
  it("agrees with JSON.parse on any JSON without duplicate or __proto__ keys", () => {
    fc.assert(
      fc.property(fc.json({ maxDepth: 6 }), (text) => {
        const v = JSON.parse(text);
        if (text.includes('"__proto__"')) return;
        expect(JSON.stringify(parseStrictJson(text))).toBe(JSON.stringify(v));
      }),
      { numRuns: 300 },
    );
  });
  it("refuses duplicate keys at any depth", () => {
    expect(reason('{"a":1,"a":2}')).toBe("DuplicateKey");
    expect(reason('{"p":{"x":[{"k":1,"k":1}]}}')).toBe("DuplicateKey");
    // Escapes that decode to the same key are duplicates too.
    expect(reason('{"name":1,"n\\u0061me":2}')).toBe("DuplicateKey");
  });
  it("refuses __proto__ keys and builds null-prototype objects", () => {
    expect(reason('{"__proto__":{"admin":true}}')).toBe("ForbiddenKey");
    expect(Object.getPrototypeOf(parseStrictJson('{"a":{}}'))).toBeNull();
  });
  it("refuses deep nesting and large bodies", () => {
    expect(reason(`${"[".repeat(40)}${"]".repeat(40)}`, { maxDepth: 32 })).toBe("TooDeep");
    expect(reason(`${"[".repeat(32)}${"]".repeat(32)}`, { maxDepth: 32 })).toBe("ok");
    expect(reason(`"${"x".repeat(2000)}"`, { maxBytes: 1000 })).toBe("TooLarge");
  });
  it("refuses malformed JSON", () => {
    for (const t of ["", "{", '{"a":}', "[1,]", "01", "1 2", "'x'", "\uFEFF{}", "NaN", '"\\x"', "1e999"]) {
      expect(reason(t), t).toBe("ParseError");
    }
  });
});
