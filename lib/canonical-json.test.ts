import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CanonicalJSONError, canonicalJSON } from "./canonical-json.ts";

/** The plain definition, written for clarity: the reference both fast and slow paths must match. */
function reference(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value))
    return `[${value.map((v) => (v === undefined ? "null" : reference(v))).join(",")}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${reference(v)}`).join(",")}}`;
}

/** Rebuilds every object with its keys inserted in sorted order (what canonical text parses to). */
function sortedCopy(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortedCopy);
  if (value && typeof value === "object")
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, sortedCopy((value as Record<string, unknown>)[k])]),
    );
  return value;
}

// Keys that stress ordering: integer-like ones (V8 enumerates them first), unicode beyond the BMP
// (UTF-16 code-unit order differs from code-point order), empty, escapes, __proto__.
const key = fc.oneof(
  fc.string(),
  fc.constantFrom(
    "0",
    "1",
    "9",
    "10",
    "01",
    "4294967295",
    "-1",
    "",
    "__proto__",
    "toJSON",
    "a\u0000b",
    "\ud83d\ude00",
    "\uff61",
    '"',
  ),
  fc.string({ unit: "binary" }),
);
const json = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    fc.constant(null),
    fc.boolean(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.integer(),
    fc.string({ unit: "binary" }),
    fc.array(tie("value")),
    fc.dictionary(key, tie("value")),
  ),
})).value;

describe("canonicalJSON", () => {
  it("equals the reference definition on arbitrary JSON values (as parsed)", () => {
    fc.assert(
      fc.property(json, (v) => {
        const parsed = JSON.parse(JSON.stringify(v));
        expect(canonicalJSON(parsed)).toBe(reference(parsed));
      }),
      { numRuns: 500 },
    );
  });

  it("equals the reference when keys are already sorted (the native fast path)", () => {
    fc.assert(
      fc.property(json, (v) => {
        const sorted = sortedCopy(JSON.parse(JSON.stringify(v)));
        expect(canonicalJSON(sorted)).toBe(reference(sorted));
      }),
      { numRuns: 500 },
    );
  });

  it("is a fixed point: canonical text parses back to a value with the same canonical text", () => {
    fc.assert(
      fc.property(json, (v) => {
        const c = canonicalJSON(JSON.parse(JSON.stringify(v)));
        expect(canonicalJSON(JSON.parse(c))).toBe(c);
      }),
      { numRuns: 300 },
    );
  });

  it("does not depend on insertion order", () => {
    expect(canonicalJSON({ b: 1, a: { d: [1, { z: 1, y: 2 }], c: null } })).toBe(
      canonicalJSON({ a: { c: null, d: [1, { y: 2, z: 1 }] }, b: 1 }),
    );
    expect(canonicalJSON({ b: 1, a: 2 })).toBe('{"a":2,"b":1}');
  });

  const rows: { name: string; value: unknown; want?: string; throws?: RegExp }[] = [
    {
      name: "integer-like keys sort as strings, not numbers",
      value: { b: 0, 10: 1, 9: 2 },
      want: '{"10":1,"9":2,"b":0}',
    },
    { name: "undefined members are omitted", value: { a: undefined, b: 1 }, want: '{"b":1}' },
    { name: "undefined array elements become null", value: [undefined, 1], want: "[null,1]" },
    {
      name: "an astral character sorts by UTF-16 code units",
      value: { "\uff61": 1, "\ud83d\ude00": 2 },
      want: '{"\ud83d\ude00":2,"\uff61":1}',
    },
    { name: "a lone surrogate is escaped, not emitted raw", value: { s: "\ud800" }, want: '{"s":"\\ud800"}' },
    {
      name: "a __proto__ member from JSON.parse is kept as data",
      value: JSON.parse('{"__proto__":{"x":1},"a":1}'),
      want: '{"__proto__":{"x":1},"a":1}',
    },
    { name: "a toJSON member that is data is kept", value: JSON.parse('{"toJSON":1}'), want: '{"toJSON":1}' },
    { name: "-0 is written as 0, as JSON.stringify does", value: { n: -0 }, want: '{"n":0}' },
    { name: "Infinity refused", value: { n: Number.POSITIVE_INFINITY }, throws: /Infinity/ },
    { name: "NaN refused", value: [Number.NaN], throws: /NaN/ },
    {
      name: "a Date is refused (its toJSON would change the hash silently)",
      value: { t: new Date(0) },
      throws: /toJSON/,
    },
    { name: "a Buffer is refused", value: Buffer.from("x"), throws: /toJSON/ },
    { name: "a bigint is refused", value: { n: 1n }, throws: /bigint/ },
    { name: "a function is refused", value: { f: () => 1 }, throws: /function/ },
    { name: "a symbol is refused", value: [Symbol("s")], throws: /symbol/ },
    { name: "undefined at the top level is refused", value: undefined, throws: /undefined/ },
  ];
  for (const r of rows) {
    it(r.name, () => {
      if (r.throws) expect(() => canonicalJSON(r.value)).toThrow(CanonicalJSONError);
      if (r.throws) expect(() => canonicalJSON(r.value)).toThrow(r.throws);
      else expect(canonicalJSON(r.value)).toBe(r.want);
    });
  }

  it("nesting deeper than the walk budget still comes out canonical", () => {
    let deep: unknown = { b: 1, a: 2 };
    for (let i = 0; i < 2000; i++) deep = { x: deep };
    expect(canonicalJSON(deep)).toBe(reference(deep));
  });
});
