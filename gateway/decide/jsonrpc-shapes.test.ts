// The hand-written JSON-RPC shape checks must accept exactly what the zod schemas accept: a table
// of attacks and edge cases, one named row each, then random messages near the valid shapes
// (fast-check) and random JSON from the strict parser.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { JsonRejected, parseStrictJson } from "./json.ts";
import {
  classifyClientMessage,
  isJsonRpcId,
  isNotificationShape,
  isRequestShape,
  isResponseShape,
  jsonRpcId,
  notificationSchema,
  requestSchema,
  responseSchema,
  toolsCallParams,
  toolsCallShape,
} from "./jsonrpc.ts";

const nullProto = (o: Record<string, unknown>) => Object.assign(Object.create(null), o);

/** Both checks agree on `m`, for every shape. */
function agree(m: Record<string, unknown>): void {
  expect(isRequestShape(m)).toBe(requestSchema.safeParse(m).success);
  expect(isNotificationShape(m)).toBe(notificationSchema.safeParse(m).success);
  expect(isResponseShape(m)).toBe(responseSchema.safeParse(m).success);
}

const rows: [string, Record<string, unknown>][] = [
  ["valid request", { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "x" } }],
  ["valid request without params", { jsonrpc: "2.0", id: "a", method: "ping" }],
  ["params undefined", { jsonrpc: "2.0", id: 1, method: "ping", params: undefined }],
  [
    "null-prototype message and params",
    nullProto({ jsonrpc: "2.0", id: 1, method: "m", params: nullProto({}) }),
  ],
  ["jsonrpc 1.0", { jsonrpc: "1.0", id: 1, method: "m" }],
  ["jsonrpc number", { jsonrpc: 2.0, id: 1, method: "m" }],
  ["missing jsonrpc", { id: 1, method: "m" }],
  ["extra key", { jsonrpc: "2.0", id: 1, method: "m", extra: true }],
  ["extra key __proto__-like name", { jsonrpc: "2.0", id: 1, method: "m", constructor: 1 }],
  ["empty method", { jsonrpc: "2.0", id: 1, method: "" }],
  ["method of 128", { jsonrpc: "2.0", id: 1, method: "m".repeat(128) }],
  ["method of 129", { jsonrpc: "2.0", id: 1, method: "m".repeat(129) }],
  ["method not a string", { jsonrpc: "2.0", id: 1, method: 5 }],
  ["params array", { jsonrpc: "2.0", id: 1, method: "m", params: [1] }],
  ["params null", { jsonrpc: "2.0", id: 1, method: "m", params: null }],
  ["params string", { jsonrpc: "2.0", id: 1, method: "m", params: "x" }],
  [
    "params with constructor key",
    { jsonrpc: "2.0", id: 1, method: "m", params: { constructor: { prototype: 1 } } },
  ],
  ["params Date", { jsonrpc: "2.0", id: 1, method: "m", params: new Date(0) }],
  ["params Map", { jsonrpc: "2.0", id: 1, method: "m", params: new Map() }],
  ["id null on a request", { jsonrpc: "2.0", id: null, method: "m" }],
  ["id fraction", { jsonrpc: "2.0", id: 1.5, method: "m" }],
  ["id 2^53", { jsonrpc: "2.0", id: 2 ** 53, method: "m" }],
  ["id 2^53-1", { jsonrpc: "2.0", id: 2 ** 53 - 1, method: "m" }],
  ["id -(2^53-1)", { jsonrpc: "2.0", id: -(2 ** 53 - 1), method: "m" }],
  ["id -0", { jsonrpc: "2.0", id: -0, method: "m" }],
  ["id NaN", { jsonrpc: "2.0", id: Number.NaN, method: "m" }],
  ["id Infinity", { jsonrpc: "2.0", id: Number.POSITIVE_INFINITY, method: "m" }],
  ["id empty string", { jsonrpc: "2.0", id: "", method: "m" }],
  ["id of 256", { jsonrpc: "2.0", id: "i".repeat(256), method: "m" }],
  ["id of 257", { jsonrpc: "2.0", id: "i".repeat(257), method: "m" }],
  ["id astral (2 UTF-16 units each)", { jsonrpc: "2.0", id: "😀".repeat(128), method: "m" }],
  ["id boolean", { jsonrpc: "2.0", id: true, method: "m" }],
  ["id object", { jsonrpc: "2.0", id: { a: 1 }, method: "m" }],
  ["notification", { jsonrpc: "2.0", method: "notifications/initialized" }],
  ["result response", { jsonrpc: "2.0", id: 1, result: {} }],
  ["result array", { jsonrpc: "2.0", id: 1, result: [] }],
  ["result null", { jsonrpc: "2.0", id: 1, result: null }],
  ["result with null id", { jsonrpc: "2.0", id: null, result: {} }],
  ["result and error", { jsonrpc: "2.0", id: 1, result: {}, error: { code: 1, message: "m" } }],
  ["error response", { jsonrpc: "2.0", id: 1, error: { code: -32600, message: "bad" } }],
  ["error with null id", { jsonrpc: "2.0", id: null, error: { code: -32600, message: "bad" } }],
  ["error with extra members (loose)", { jsonrpc: "2.0", id: 1, error: { code: 1, message: "m", data: {} } }],
  ["error code fraction", { jsonrpc: "2.0", id: 1, error: { code: 1.5, message: "m" } }],
  ["error code 2^53", { jsonrpc: "2.0", id: 1, error: { code: 2 ** 53, message: "m" } }],
  ["error code string", { jsonrpc: "2.0", id: 1, error: { code: "1", message: "m" } }],
  ["error message missing", { jsonrpc: "2.0", id: 1, error: { code: 1 } }],
  ["error array", { jsonrpc: "2.0", id: 1, error: [1, "m"] }],
  ["error null", { jsonrpc: "2.0", id: 1, error: null }],
  [
    "error Date with members",
    { jsonrpc: "2.0", id: 1, error: Object.assign(new Date(0), { code: 1, message: "m" }) },
  ],
  ["response missing id", { jsonrpc: "2.0", result: {} }],
  ["response extra key", { jsonrpc: "2.0", id: 1, result: {}, method: "x" }],
  ["empty object", {}],
];

describe("hand-written JSON-RPC shape checks agree with the zod schemas (table)", () => {
  for (const [name, m] of rows) it(name, () => agree(m));
});

describe("isJsonRpcId agrees with jsonRpcId", () => {
  it("on random values", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.anything(),
          fc.integer(),
          fc.double(),
          fc.string({ maxLength: 300 }),
          fc.constant(2 ** 53),
        ),
        (v) => {
          expect(isJsonRpcId(v)).toBe(jsonRpcId.safeParse(v).success);
        },
      ),
      { numRuns: 2000 },
    );
  });
});

/** Messages near the valid shapes: each member present or not, valid or one of several wrong values. */
const nearMessage = fc.record(
  {
    jsonrpc: fc.constantFrom<unknown>("2.0", "1.0", 2, null, ""),
    id: fc.oneof(
      fc.integer(),
      fc.string({ maxLength: 300 }),
      fc.constantFrom<unknown>(null, 1.5, 2 ** 53, -(2 ** 53), true, {}, []),
    ),
    method: fc.oneof(fc.string({ maxLength: 140 }), fc.constantFrom<unknown>(1, null, {})),
    params: fc.oneof(
      fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 })),
      fc.constantFrom<unknown>(null, [], "p", 1, undefined),
    ),
    result: fc.oneof(
      fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 })),
      fc.constantFrom<unknown>(null, [], 1),
    ),
    error: fc.oneof(
      fc.record(
        {
          code: fc.oneof(fc.integer(), fc.constantFrom<unknown>(1.5, "1", 2 ** 53)),
          message: fc.oneof(fc.string(), fc.constant(1)),
          data: fc.jsonValue({ maxDepth: 1 }),
        },
        { requiredKeys: [] },
      ),
      fc.constantFrom<unknown>(null, [], "e"),
    ),
    extra: fc.jsonValue({ maxDepth: 1 }),
  },
  { requiredKeys: [] },
);

describe("hand-written JSON-RPC shape checks agree with the zod schemas (random)", () => {
  it("on messages near the valid shapes", () => {
    fc.assert(
      fc.property(nearMessage, (m) => agree(m as Record<string, unknown>)),
      { numRuns: 5000 },
    );
  });
  it("on random JSON objects read by the strict parser (null-prototype objects)", () => {
    fc.assert(
      fc.property(fc.json({ maxDepth: 3 }), (text) => {
        let v: unknown;
        try {
          v = parseStrictJson(text);
        } catch (err) {
          // Texts the strict parser refuses (a "__proto__" key, which fc.json can write) never
          // reach the shape checks: there is nothing to compare.
          if (err instanceof JsonRejected) return;
          throw err;
        }
        if (typeof v === "object" && v !== null && !Array.isArray(v)) agree(v as Record<string, unknown>);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("classifyClientMessage returns what the schema parse returned", () => {
  it("a request's params are a copy with Object's prototype, as z.record made them", () => {
    const params = nullProto({ name: "search", arguments: nullProto({ q: "x" }) });
    const c = classifyClientMessage(
      nullProto({ jsonrpc: "2.0", id: 7, method: "tools/call", params }),
      "2025-06-18",
    );
    const zodData = requestSchema.parse(nullProto({ jsonrpc: "2.0", id: 7, method: "tools/call", params }));
    expect(c).toEqual({ kind: "request", id: 7, method: "tools/call", params: zodData.params });
    if (!("kind" in c) || c.kind !== "request") throw new Error("not a request");
    expect(Object.getPrototypeOf(c.params)).toBe(Object.prototype);
    expect(c.params).not.toBe(params);
    // The arguments object itself is passed through (z.unknown does not copy).
    expect(c.params?.arguments).toBe(params.arguments);
  });
  it("invalid messages are still refused with zod's issue text", () => {
    const c = classifyClientMessage({ jsonrpc: "2.0", id: 1, method: "tools/call", extra: 1 }, "2025-06-18");
    expect(c).toMatchObject({ rule: "InvalidJsonRpc" });
    expect((c as { constraint: string }).constraint).toMatch(/extra/);
  });
});

describe("toolsCallShape agrees with toolsCallParams", () => {
  const check = (p: unknown) => {
    const fast = toolsCallShape(p);
    const slow = toolsCallParams.safeParse(p);
    // The hand check never accepts what the schema refuses, and gives the schema's name and arguments.
    if (fast) {
      expect(slow.success).toBe(true);
      expect(fast.name).toBe(slow.data!.name);
      expect(fast.arguments).toEqual(slow.data!.arguments);
      if (fast.arguments) expect(Object.getPrototypeOf(fast.arguments)).toBe(Object.prototype);
    }
    // And it decides every value the schema accepts (no fallback on the hot path).
    expect(fast !== undefined).toBe(slow.success);
  };
  const rows: [string, unknown][] = [
    ["name and arguments", { name: "search", arguments: { q: "x" } }],
    ["name only", { name: "search" }],
    ["extra members (loose)", { name: "search", _meta: { progressToken: 1 }, task: {} }],
    ["null-prototype arguments", { name: "s", arguments: nullProto({ q: 1 }) }],
    ["arguments undefined", { name: "s", arguments: undefined }],
    ["arguments null", { name: "s", arguments: null }],
    ["arguments array", { name: "s", arguments: [1] }],
    ["arguments string", { name: "s", arguments: "q=1" }],
    ["arguments Date", { name: "s", arguments: new Date(0) }],
    ["name number", { name: 1 }],
    ["name missing", { arguments: {} }],
    ["params array", [{ name: "s" }]],
    ["params null", null],
    ["params string", "s"],
  ];
  for (const [name, p] of rows) it(name, () => check(p));
  it("on random params", () => {
    fc.assert(
      fc.property(
        fc.record(
          {
            name: fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom<unknown>(1, null, {})),
            arguments: fc.oneof(
              fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 })),
              fc.constantFrom<unknown>(null, [], "a", 1),
            ),
            extra: fc.jsonValue({ maxDepth: 1 }),
          },
          { requiredKeys: [] },
        ),
        check,
      ),
      { numRuns: 2000 },
    );
  });
});
