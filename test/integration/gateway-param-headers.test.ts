// Mcp-Param-* headers through a real outbound gateway (MCP 2026-07-28, SEP-2243): headers that
// mirror tool arguments must agree with the body before the call leaves, because something past
// the gateway (a load balancer, a WAF, the tool server's router) may act on the header while the
// tool acts on the body. Agreeing headers are forwarded; every disagreement is refused with 400 and
// HeaderMismatch (-32020) and never reaches the tool server; on revisions that do not define them,
// the headers are not forwarded at all.
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, startHarness } from "../fixtures/gateway/harness.ts";

let h: Harness;

beforeAll(async () => {
  h = await startHarness({
    policy: (p) => {
      // Unpinned: the pinned-definition check would list tools with the 2026-07-28 header, which
      // the SDK test server does not speak; the declarations come from the agent's own tools/list.
      p.servers[0]!.tools.push({ name: "query_region", risk: "Low", arguments: [] });
      return p;
    },
  });
});

afterAll(async () => {
  await h?.close();
});

const body = (args: Record<string, unknown>) =>
  JSON.stringify({
    jsonrpc: "2.0",
    id: 9,
    method: "tools/call",
    params: { name: "query_region", arguments: args },
  });

async function post(args: Record<string, unknown>, headers: Record<string, string>, version = "2026-07-28") {
  const r = await request(h.route(), {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": version,
      "mcp-method": "tools/call",
      "mcp-name": "query_region",
      ...headers,
    },
    body: body(args),
  });
  const text = await r.body.text();
  let error: { code?: number; data?: { rule?: string }; message?: string } | undefined;
  try {
    error = (JSON.parse(text) as { error?: typeof error }).error;
  } catch {
    // an SSE or empty answer from the tool server
  }
  return { status: r.statusCode, error };
}

const args = { region: "us-west1", shard: 7, query: "SELECT 1" };
const good = { "mcp-param-region": "us-west1", "mcp-param-shard": "7" };

describe("Mcp-Param-* headers through the outbound gateway", () => {
  it("refuses them for a tool whose definition it has not seen, asking for tools/list", async () => {
    const before = h.mcp.requests;
    const r = await post(args, good);
    expect([r.status, r.error?.code, r.error?.data?.rule]).toEqual([400, -32020, "HeaderMismatch"]);
    expect(r.error?.message).toMatch(/call tools\/list, then retry/);
    expect(h.mcp.requests).toBe(before);
  });

  it("forwards headers that agree once the tool was listed", async () => {
    // The agent lists its tools (any revision): the gateway learns query_region's declarations.
    const agent = await h.connect();
    const listed = await agent.listTools();
    expect(listed.tools.map((t) => t.name)).toContain("query_region");
    const before = h.mcp.requests;
    const r = await post(args, good);
    expect(r.error?.data?.rule).toBeUndefined();
    expect(h.mcp.requests).toBe(before + 1);
    expect(h.mcp.lastHeaders?.["mcp-param-region"]).toBe("us-west1");
    expect(h.mcp.lastHeaders?.["mcp-param-shard"]).toBe("7");
    // Base64-sentinel values are forwarded as sent, after they were decoded and compared.
    const encoded = `=?base64?${Buffer.from("région-1", "utf8").toString("base64")}?=`;
    const e = await post({ ...args, region: "région-1" }, { ...good, "mcp-param-region": encoded });
    expect(e.error?.data?.rule).toBeUndefined();
    expect(h.mcp.lastHeaders?.["mcp-param-region"]).toBe(encoded);
  });

  const attacks: [string, Record<string, unknown>, Record<string, string>][] = [
    [
      "the header routes to another region than the body runs in",
      args,
      { ...good, "mcp-param-region": "eu-west1" },
    ],
    ["the header is left out while the body has the value", args, { "mcp-param-shard": "7" }],
    ["a header for an argument the body does not have", { region: "us-west1", query: "q" }, good],
    ["a header the tool does not declare", args, { ...good, "mcp-param-tenant": "acme" }],
    ["an integer header that is not the body's integer", args, { ...good, "mcp-param-shard": "7.5" }],
    ["a sentinel that does not decode", args, { ...good, "mcp-param-region": "=?base64?%%%?=" }],
    [
      "a sentinel that decodes to another region",
      args,
      { ...good, "mcp-param-region": `=?base64?${Buffer.from("eu-west1").toString("base64")}?=` },
    ],
  ];
  for (const [what, a, headers] of attacks) {
    it(`refuses: ${what}`, async () => {
      const before = h.mcp.requests;
      const r = await post(a, headers);
      expect([r.status, r.error?.code, r.error?.data?.rule]).toEqual([400, -32020, "HeaderMismatch"]);
      expect(h.mcp.requests).toBe(before);
    });
  }

  it("does not forward them on a revision that does not define them (2025-11-25)", async () => {
    const agent = await h.connect();
    await agent.listTools();
    const r = await agent.callTool({ name: "query_region", arguments: args });
    expect(r.isError ?? false).toBe(false);
    // Same call raw, with a stray header the 2025-11-25 revision does not define.
    await post(args, { ...good, "mcp-param-region": "eu-west1" }, "2025-11-25");
    expect(h.mcp.lastHeaders?.["mcp-param-region"]).toBeUndefined();
  });
});
