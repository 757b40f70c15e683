import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  decodeHeaderValue,
  HEADER_MISMATCH,
  paramDeclarations,
  paramHeadersRefusal,
} from "./param-headers.ts";

/** What a conforming client sends (MCP 2026-07-28, Value Encoding). */
function encode(v: string): string {
  const plain = /^(?:[\x21-\x7e](?:[\x20\x21-\x7e\t]*[\x21-\x7e])?)?$/.test(v);
  const looksLikeSentinel = v.startsWith("=?base64?") && v.endsWith("?=");
  return plain && !looksLikeSentinel ? v : `=?base64?${Buffer.from(v, "utf8").toString("base64")}?=`;
}

const schema = {
  type: "object",
  properties: {
    region: { type: "string", "x-mcp-header": "Region" },
    shard: { type: "integer", "x-mcp-header": "Shard" },
    dryRun: { type: "boolean", "x-mcp-header": "Dry-Run" },
    target: { type: "object", properties: { zone: { type: "string", "x-mcp-header": "Zone" } } },
    query: { type: "string" },
  },
};
const decls = paramDeclarations(schema);
const args = { region: "us-west1", shard: 42, dryRun: false, target: { zone: "b" }, query: "SELECT 1" };
const good = {
  "mcp-param-region": "us-west1",
  "mcp-param-shard": "42",
  "mcp-param-dry-run": "false",
  "mcp-param-zone": "b",
};
const check = (headers: Record<string, string>, a: Record<string, unknown> = args) =>
  paramHeadersRefusal(headers, decls, "execute_sql", a, "db");

describe("x-mcp-header declarations", () => {
  it("finds the annotated properties, nested ones by their properties chain", () => {
    expect(decls).toEqual({
      ok: [
        { name: "Region", path: ["region"], type: "string" },
        { name: "Shard", path: ["shard"], type: "integer" },
        { name: "Dry-Run", path: ["dryRun"], type: "boolean" },
        { name: "Zone", path: ["target", "zone"], type: "string" },
      ],
    });
  });
  const invalid: [string, unknown][] = [
    [
      "under items",
      { properties: { xs: { type: "array", items: { type: "string", "x-mcp-header": "X" } } } },
    ],
    ["under anyOf", { properties: { a: { anyOf: [{ type: "string", "x-mcp-header": "X" }] } } }],
    ["under $defs", { $defs: { a: { type: "string", "x-mcp-header": "X" } } }],
    [
      "under if/then",
      JSON.parse('{"properties":{"a":{"if":{},"then":{"type":"string","x-mcp-header":"X"}}}}'),
    ],
    ["on the root", { type: "object", "x-mcp-header": "X" }],
    ["on a number", { properties: { a: { type: "number", "x-mcp-header": "X" } } }],
    ["on an object", { properties: { a: { type: "object", "x-mcp-header": "X" } } }],
    ["a name with a space", { properties: { a: { type: "string", "x-mcp-header": "A B" } } }],
    ["a name with a colon", { properties: { a: { type: "string", "x-mcp-header": "A:B" } } }],
    ["a name with CRLF", { properties: { a: { type: "string", "x-mcp-header": "A\r\nX-Evil" } } }],
    ["an empty name", { properties: { a: { type: "string", "x-mcp-header": "" } } }],
    ["a non-ASCII name", { properties: { a: { type: "string", "x-mcp-header": "Régión" } } }],
    [
      "the same name twice, in another case",
      {
        properties: {
          a: { type: "string", "x-mcp-header": "Region" },
          b: { type: "string", "x-mcp-header": "REGION" },
        },
      },
    ],
  ];
  for (const [what, s] of invalid) {
    it(`makes the tool invalid: ${what}`, () => {
      expect(paramDeclarations(s)).toHaveProperty("problem");
    });
  }
});

describe("Mcp-Param-* headers against the body: attacks", () => {
  it("accepts headers that mirror the arguments", () => {
    expect(check(good)).toBeUndefined();
    // Integers compare numerically.
    expect(check({ ...good, "mcp-param-shard": "42.0" })).toBeUndefined();
    // Base64 sentinel decoded before comparing.
    expect(
      check({ ...good, "mcp-param-region": encode(" us-west1") }, { ...args, region: " us-west1" }),
    ).toBeUndefined();
    // Absent and null arguments need no header.
    const { "mcp-param-region": _r, ...noRegion } = good;
    expect(check(noRegion, { ...args, region: null })).toBeUndefined();
    expect(check(noRegion, { shard: 42, dryRun: false, target: { zone: "b" } })).toBeUndefined();
  });

  const rows: [string, Record<string, string>, Record<string, unknown>?][] = [
    ["the header routes to another region than the body", { ...good, "mcp-param-region": "eu-west1" }],
    ["the header is missing while the body has the value", (({ "mcp-param-region": _, ...r }) => r)(good)],
    [
      "a header for an argument the body leaves out",
      good,
      { shard: 42, dryRun: false, target: { zone: "b" } },
    ],
    ["a header for a null argument", good, { ...args, region: null }],
    ["a header the schema does not declare", { ...good, "mcp-param-tenant": "acme" }],
    ["a case variant of the value", { ...good, "mcp-param-region": "US-WEST1" }],
    ["a trailing space smuggled in Base64", { ...good, "mcp-param-region": encode("us-west1 ") }],
    ["a sentinel with invalid Base64", { ...good, "mcp-param-region": "=?base64?not base64!?=" }],
    ["a sentinel with Base64 of invalid UTF-8", { ...good, "mcp-param-region": "=?base64?/w==?=" }],
    [
      "a sentinel in upper case (literal, so it disagrees)",
      { ...good, "mcp-param-region": `=?BASE64?${Buffer.from("us-west1").toString("base64")}?=` },
    ],
    ["non-ASCII sent plainly", { ...good, "mcp-param-region": "us-wést1" }, { ...args, region: "us-wést1" }],
    [
      "a control character sent plainly",
      { ...good, "mcp-param-region": "us\u0001west1" },
      { ...args, region: "us\u0001west1" },
    ],
    ["an integer header with a fraction", { ...good, "mcp-param-shard": "42.5" }],
    ["an integer header in hex", { ...good, "mcp-param-shard": "0x2a" }],
    ["an integer header with exponent", { ...good, "mcp-param-shard": "4.2e1" }],
    [
      "an integer beyond the safe range",
      { ...good, "mcp-param-shard": String(2 ** 53 + 2) },
      { ...args, shard: 2 ** 53 + 2 },
    ],
    ["a string body for an integer header", good, { ...args, shard: "42" }],
    ["a boolean header in another case", { ...good, "mcp-param-dry-run": "False" }],
    ["a boolean header as 0", { ...good, "mcp-param-dry-run": "0" }],
    ["a boolean header against a string body", good, { ...args, dryRun: "false" }],
    ["a nested value disagreeing", { ...good, "mcp-param-zone": "a" }],
    ["a duplicated header (node joins them)", { ...good, "mcp-param-region": "us-west1, us-west1" }],
  ];
  for (const [what, headers, a] of rows) {
    it(`refuses: ${what}`, () => {
      const d = check(headers, a ?? args);
      expect(d).toMatchObject({ rule: "HeaderMismatch", code: HEADER_MISMATCH, manifest: "db" });
    });
  }

  it("refuses Mcp-Param-* headers for a tool whose definition it has not seen, or an invalid one", () => {
    expect(paramHeadersRefusal(good, undefined, "execute_sql", args, "db")?.constraint).toMatch(
      /call tools\/list, then retry/,
    );
    expect(paramHeadersRefusal({}, undefined, "execute_sql", args, "db")).toBeUndefined();
    const bad = paramDeclarations({ properties: { a: { type: "number", "x-mcp-header": "A" } } });
    expect(paramHeadersRefusal({ "mcp-param-a": "1" }, bad, "t", { a: 1 }, "db")?.rule).toBe(
      "HeaderMismatch",
    );
  });
});

describe("header values: properties", () => {
  it("whatever a conforming client encodes, the gateway decodes back to the same string", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", maxLength: 40 }), (v) => {
        expect(decodeHeaderValue(encode(v))).toEqual({ value: v });
      }),
      { numRuns: 3000 },
    );
  });

  it("a header that mirrors a string argument is accepted; any other string is refused", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: "grapheme-ascii", maxLength: 20 }),
        fc.string({ maxLength: 20 }),
        (body, other) => {
          const a = { ...args, region: body };
          expect(check({ ...good, "mcp-param-region": encode(body) }, a)).toBeUndefined();
          fc.pre(other !== body);
          expect(check({ ...good, "mcp-param-region": encode(other) }, a)?.rule).toBe("HeaderMismatch");
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("an integer header agrees exactly when it is the same safe integer", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -(2 ** 31), max: 2 ** 31 }),
        fc.integer({ min: -(2 ** 31), max: 2 ** 31 }),
        (b, h) => {
          const d = check({ ...good, "mcp-param-shard": String(h) }, { ...args, shard: b });
          expect(d === undefined).toBe(b === h);
        },
      ),
    );
  });
});
