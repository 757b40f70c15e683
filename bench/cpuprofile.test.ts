import { describe, expect, it } from "vitest";
import {
  type CallFrame,
  type CpuProfile,
  categoryOf,
  frameFile,
  frameKey,
  gatewayCategories,
  summarize,
} from "./cpuprofile.ts";

const ROOT = "/repo";
const f = (functionName: string, url = "", lineNumber = 0): CallFrame => ({
  functionName,
  url,
  lineNumber,
  columnNumber: 0,
});
const rules = gatewayCategories(ROOT);

describe("frameFile / frameKey", () => {
  const rows: [string, string, string][] = [
    ["a project file", "file:///repo/gateway/outbound.ts", "gateway/outbound.ts"],
    [
      "a package",
      "file:///repo/node_modules/undici/lib/core/request.js",
      "node_modules/undici/lib/core/request.js",
    ],
    ["a nested package", "file:///x/node_modules/a/node_modules/b/i.js", "node_modules/b/i.js"],
    ["a node: module", "node:_http_server", "node:_http_server"],
    ["native code", "", ""],
    ["an escaped path", "file:///repo/a%20b.ts", "a b.ts"],
  ];
  for (const [name, url, file] of rows) it(name, () => expect(frameFile(url, ROOT)).toBe(file));
  it("names a frame with its 1-based line", () => {
    expect(frameKey(f("sealRecord", "file:///repo/gateway/audit/chain.ts", 68), ROOT)).toBe(
      "sealRecord (gateway/audit/chain.ts:69)",
    );
    expect(frameKey(f("", ""), ROOT)).toBe("(anonymous)");
  });
});

describe("categoryOf (stacks leaf first)", () => {
  const rows: [string, CallFrame[], string][] = [
    ["V8's garbage collector", [f("(garbage collector)")], "(garbage collector)"],
    ["native code outside JavaScript", [f("(program)")], "(program)"],
    [
      "sha256 under the audit writer is audit, not crypto",
      [
        f("digest"),
        f("Hash", "node:internal/crypto/hash"),
        f("sealRecord", "file:///repo/gateway/audit/chain.ts"),
      ],
      "audit (record, canonical JSON, sha256, write, fdatasync)",
    ],
    [
      "a socket write under undici is forwarding",
      [
        f("writev"),
        f("writevGeneric", "node:internal/stream_base_commons"),
        f("writeH1", "file:///repo/node_modules/undici/lib/dispatcher/client-h1.js"),
        f("#forwardPost", "file:///repo/gateway/outbound.ts"),
      ],
      "undici forwarding",
    ],
    [
      "a socket write from the gateway's own response is sockets, not the handler",
      [
        f("writev"),
        f("writevGeneric", "node:internal/stream_base_commons"),
        f("end", "node:_http_outgoing"),
        f("#forwardPost", "file:///repo/gateway/outbound.ts"),
      ],
      "sockets and streams",
    ],
    [
      "zod under the envelope check is zod",
      [
        f("parse", "file:///repo/node_modules/zod/v4/core/schemas.js"),
        f("classifyClientMessage", "file:///repo/gateway/decide/jsonrpc.ts"),
      ],
      "JSON-RPC validation (zod)",
    ],
    [
      "the handler's own code",
      [f("#post", "file:///repo/gateway/outbound.ts")],
      "gateway request handling (routing, headers, body read)",
    ],
    ["anything else", [f("x", "file:///elsewhere/a.js")], "other JavaScript"],
  ];
  for (const [name, stack, cat] of rows) it(name, () => expect(categoryOf(stack, rules)).toBe(cat));
});

describe("summarize", () => {
  // root(1) → a(2) → b(3); root → (idle)(4); root → (garbage collector)(5)
  const profile: CpuProfile = {
    nodes: [
      { id: 1, callFrame: f("(root)"), children: [2, 4, 5] },
      { id: 2, callFrame: f("a", "file:///repo/gateway/outbound.ts", 9), children: [3] },
      { id: 3, callFrame: f("b", "file:///repo/gateway/audit/writer.ts", 19) },
      { id: 4, callFrame: f("(idle)") },
      { id: 5, callFrame: f("(garbage collector)") },
    ],
    startTime: 1000,
    endTime: 2000,
    // Sample times 1100, 1200, 1300, 1400, 1500; each lasts until the next sample.
    samples: [3, 2, 4, 5, 3],
    timeDeltas: [100, 100, 100, 100, 100],
  };

  it("counts self, inclusive and category time; idle is in the window but not busy", () => {
    const s = summarize(profile, { root: ROOT, rules });
    expect(s.windowUs).toBe(400);
    expect(s.busyUs).toBe(300);
    expect(s.self).toEqual([
      { key: "b (gateway/audit/writer.ts:20)", us: 100 },
      { key: "a (gateway/outbound.ts:10)", us: 100 },
      { key: "(garbage collector)", us: 100 },
    ]);
    expect(s.inclusive.find((x) => x.key.startsWith("a "))?.us).toBe(200);
    expect(Object.fromEntries(s.categories.map((c) => [c.key, c.us]))).toEqual({
      "audit (record, canonical JSON, sha256, write, fdatasync)": 100,
      "gateway request handling (routing, headers, body read)": 100,
      "(garbage collector)": 100,
    });
  });

  it("keeps only the samples inside the window", () => {
    const s = summarize(profile, { root: ROOT, rules, fromUs: 1150, toUs: 1350 });
    // Samples at 1200 (a) and 1300 (idle).
    expect(s.windowUs).toBe(200);
    expect(s.busyUs).toBe(100);
    expect(s.self).toEqual([{ key: "a (gateway/outbound.ts:10)", us: 100 }]);
  });
});
