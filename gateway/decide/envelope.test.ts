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
      rule({ jsonrpc: "2.0", id: 1, method: "server/discover" }, { protocolVersion: "2026-07-28" }),
    ).toBe("ok:request");
    expect(
      rule({ jsonrpc: "2.0", id: 1, method: "server/discover" }, { protocolVersion: "2025-11-25" }),
    ).toBe("UnknownMethod");
    expect(rule({ jsonrpc: "2.0", id: 1, method: "admin/exec" })).toBe("UnknownMethod");
    expect(rule({ jsonrpc: "2.0", method: "notifications/whatever" })).toBe("UnknownMethod");
  });
  it("checks protocol versions and headers against the body", () => {
    expect(rule(call("x"), {})).toBe("MissingProtocolVersion");
    expect(rule(call("x"), { protocolVersion: "2025-03-26" })).toBe("UnsupportedProtocolVersion");
    expect(rule(call("x"), { protocolVersion: V }, { ...opts, negotiated: "2025-06-18" } as never)).toBe(
      "ProtocolVersionMismatch",
    );
    expect(
      rule(
        { jsonrpc: "2.0", id: 0, method: "initialize", params: { protocolVersion: V } },
        { protocolVersion: "2025-06-18" },
      ),
    ).toBe("HeaderMismatch");
    expect(rule(call("search"), { protocolVersion: V, mcpMethod: "tools/list" })).toBe("HeaderMismatch");
    expect(rule(call("search"), { protocolVersion: V, mcpName: "delete" })).toBe("HeaderMismatch");
    expect(rule(call("search"), { protocolVersion: V, mcpMethod: "tools/call", mcpName: "search" })).toBe(
      "ok:request",
    );
  });
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
