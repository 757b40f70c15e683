import { describe, expect, it } from "vitest";
import { checkEnvelope, type Envelope } from "./envelope.ts";
import { isDeny } from "./jsonrpc.ts";

const opts = { maxBytes: 1 << 20, maxDepth: 32 };
const V = "2025-11-25";
const rule = (body: unknown, h: Record<string, string> = { protocolVersion: V }, o = opts) => {
  const r = checkEnvelope(typeof body === "string" ? body : JSON.stringify(body), h, o);
  return isDeny(r) ? r.rule : `ok:${(r as Envelope).message.kind}`;
};
const call = (name: string, args: unknown = {}) => ({
  jsonrpc: "2.0",
  id: 1,
  method: "tools/call",
  params: { name, arguments: args },
});

describe("checkEnvelope", () => {
  it("accepts well-formed requests, notifications and responses", () => {
    expect(rule(call("search"))).toBe("ok:request");
    expect(rule({ jsonrpc: "2.0", method: "notifications/initialized" })).toBe("ok:notification");
    expect(rule({ jsonrpc: "2.0", id: "s-1", result: {} })).toBe("ok:response");
    expect(rule({ jsonrpc: "2.0", id: 0, method: "initialize", params: { protocolVersion: V } }, {})).toBe(
      "ok:request",
    );
  });
  it("refuses batches, id-less requests and unusable ids", () => {
    expect(rule([call("search")])).toBe("BatchRejected");
    expect(rule({ jsonrpc: "2.0", method: "tools/call", params: { name: "x" } })).toBe("MissingId");
    expect(rule({ ...call("x"), id: null })).toBe("MissingId");
    expect(rule({ ...call("x"), id: 1.5 })).toBe("MissingId");
    expect(rule({ ...call("x"), id: {} })).toBe("MissingId");
    expect(rule({ ...call("x"), extra: 1 })).toBe("InvalidJsonRpc");
    expect(rule({ ...call("x"), jsonrpc: "1.0" })).toBe("InvalidJsonRpc");
  });
  it("refuses unknown methods per protocol version", () => {
    expect(
      rule({ jsonrpc: "2.0", id: 1, method: "tasks/get", params: {} }, { protocolVersion: "2025-06-18" }),
    ).toBe("UnknownMethod");
    expect(
      rule({ jsonrpc: "2.0", id: 1, method: "tasks/get", params: {} }, { protocolVersion: "2025-11-25" }),
    ).toBe("ok:request");
    expect(
      rule(
        { jsonrpc: "2.0", id: 1, method: "server/discover" },
        { protocolVersion: "2026-07-28", mcpMethod: "server/discover" },
      ),
    ).toBe("ok:request");
    expect(
      rule({ jsonrpc: "2.0", id: 1, method: "server/discover" }, { protocolVersion: "2025-11-25" }),
    ).toBe("UnknownMethod");
    expect(rule({ jsonrpc: "2.0", id: 1, method: "admin/exec" })).toBe("UnknownMethod");
    expect(rule({ jsonrpc: "2.0", method: "notifications/whatever" })).toBe("UnknownMethod");
  });
  // Header/body agreement per protocol version: one named row per attack (or accepted form).
  const meta = (v: string) => ({ _meta: { "io.modelcontextprotocol/protocolVersion": v } });
  const rows: [string, unknown, Record<string, string>, { negotiated?: string }, string][] = [
    [
      "no version header on a 2025-11-25 session (the negotiated one applies)",
      call("x"),
      {},
      { negotiated: V },
      "ok:request",
    ],
    [
      "no version header on a 2026-07-28 request (declared in _meta)",
      {
        ...call("x"),
        params: { name: "x", _meta: { "io.modelcontextprotocol/protocolVersion": "2026-07-28" } },
      },
      {},
      {},
      "MissingProtocolVersion",
    ],
    ["no version header, session unknown (server assumes 2025-03-26)", call("x"), {}, {}, "ok:request"],
    ["no version header on a 2025-03-26 session", call("x"), {}, { negotiated: "2025-03-26" }, "ok:request"],
    [
      "2025-03-26 header (the SDK still negotiates it)",
      call("x"),
      { protocolVersion: "2025-03-26" },
      {},
      "ok:request",
    ],
    ["2024-11-05 header", call("x"), { protocolVersion: "2024-11-05" }, {}, "ok:request"],
    [
      "a version nobody speaks",
      call("x"),
      { protocolVersion: "2023-01-01" },
      {},
      "UnsupportedProtocolVersion",
    ],
    [
      "an older supported header on a newer session (SHOULD, not MUST)",
      call("x"),
      { protocolVersion: "2025-03-26" },
      { negotiated: V },
      "ok:request",
    ],
    [
      "a newer header unlocking tasks on a 2025-06-18 session",
      { jsonrpc: "2.0", id: 1, method: "tasks/get", params: { taskId: "t" } },
      { protocolVersion: V },
      { negotiated: "2025-06-18" },
      "UnknownMethod",
    ],
    [
      "initialize header disagrees with params.protocolVersion",
      { jsonrpc: "2.0", id: 0, method: "initialize", params: { protocolVersion: V } },
      { protocolVersion: "2025-06-18" },
      {},
      "HeaderMismatch",
    ],
    [
      "_meta protocolVersion disagrees with the header",
      { ...call("x"), params: { name: "x", ...meta("2025-06-18") } },
      { protocolVersion: V },
      {},
      "HeaderMismatch",
    ],
    [
      "_meta protocolVersion agrees",
      { ...call("x"), params: { name: "x", ...meta(V) } },
      { protocolVersion: V },
      {},
      "ok:request",
    ],
    [
      "Mcp-Method names another method",
      call("search"),
      { protocolVersion: V, mcpMethod: "tools/list" },
      {},
      "HeaderMismatch",
    ],
    [
      "Mcp-Name names another tool",
      call("search"),
      { protocolVersion: V, mcpName: "delete" },
      {},
      "HeaderMismatch",
    ],
    [
      "Mcp-Name on tools/call carries a URI instead of the name",
      { ...call("search"), params: { name: "search", uri: "file:///x" } },
      { protocolVersion: V, mcpName: "file:///x" },
      {},
      "HeaderMismatch",
    ],
    [
      "Mcp-Name carries the resource URI Base64-encoded (sentinel), decoded before comparing",
      { jsonrpc: "2.0", id: 1, method: "resources/read", params: { uri: "file:///données/a b" } },
      {
        protocolVersion: "2026-07-28",
        mcpMethod: "resources/read",
        mcpName: "=?base64?ZmlsZTovLy9kb25uw6llcy9hIGI=?=",
      },
      {},
      "ok:request",
    ],
    [
      "Mcp-Name sentinel that decodes to another tool",
      call("search"),
      { protocolVersion: V, mcpName: "=?base64?ZGVsZXRl?=" },
      {},
      "HeaderMismatch",
    ],
    [
      "Mcp-Name sentinel with invalid Base64",
      call("search"),
      { protocolVersion: V, mcpName: "=?base64?c2VhcmNo!?=" },
      {},
      "HeaderMismatch",
    ],
    [
      "Mcp-Name with non-ASCII sent plainly",
      { ...call("search"), params: { name: "séarch" } },
      { protocolVersion: V, mcpName: "séarch" },
      {},
      "HeaderMismatch",
    ],
    [
      "both routing headers agree",
      call("search"),
      { protocolVersion: V, mcpMethod: "tools/call", mcpName: "search" },
      {},
      "ok:request",
    ],
    [
      "2026-07-28 without Mcp-Method",
      call("search"),
      { protocolVersion: "2026-07-28", mcpName: "search" },
      {},
      "MissingHeader",
    ],
    [
      "2026-07-28 tools/call without Mcp-Name",
      call("search"),
      { protocolVersion: "2026-07-28", mcpMethod: "tools/call" },
      {},
      "MissingHeader",
    ],
    [
      "2026-07-28 resources/read without Mcp-Name",
      { jsonrpc: "2.0", id: 1, method: "resources/read", params: { uri: "file:///a" } },
      { protocolVersion: "2026-07-28", mcpMethod: "resources/read" },
      {},
      "MissingHeader",
    ],
    [
      "2026-07-28 resources/read with the URI mirrored",
      { jsonrpc: "2.0", id: 1, method: "resources/read", params: { uri: "file:///a" } },
      { protocolVersion: "2026-07-28", mcpMethod: "resources/read", mcpName: "file:///a" },
      {},
      "ok:request",
    ],
    [
      "2026-07-28 tools/call with both headers",
      call("search"),
      { protocolVersion: "2026-07-28", mcpMethod: "tools/call", mcpName: "search" },
      {},
      "ok:request",
    ],
    [
      "2025-11-25 tools/call without routing headers (not required yet)",
      call("search"),
      { protocolVersion: V },
      {},
      "ok:request",
    ],
  ];
  for (const [name, body, headers, o, expected] of rows) {
    it(`header/body agreement: ${name}`, () => {
      expect(rule(body, headers, { ...opts, ...o } as never)).toBe(expected);
    });
  }
  it("maps parser refusals to rules", () => {
    expect(rule('{"jsonrpc":"2.0","id":1,"id":2,"method":"ping"}')).toBe("DuplicateKey");
    expect(
      rule(
        `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{"__proto__":{}}}}`,
      ),
    ).toBe("ForbiddenKey");
    expect(rule("{nope")).toBe("ParseError");
  });
});
