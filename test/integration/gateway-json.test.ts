// The gateway with a tool server that answers POSTs with application/json (not SSE), and the
// audit-unavailable path: when records cannot be written, calls are refused and metrics say why.
import { join } from "node:path";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../gateway/config.ts";
import { startGateway } from "../../gateway/server.ts";
import { issueFor } from "../../lib/identity/testing.ts";
import { createLogger } from "../../lib/log.ts";
import {
  AGENT_ID,
  type Harness,
  startHarness,
  TRUST_DOMAIN,
  writeMounted,
} from "../fixtures/gateway/harness.ts";

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ jsonResponse: true });
});
afterAll(async () => {
  await h?.close();
});

/** A second, silent outbound gateway on the harness's policy and bundle, for one failure mode. */
function startOutbound(o: { auditFile: string; svidDir: string; credentialsDir?: string }) {
  return startGateway(
    parseConfig({
      mode: "outbound",
      listen: "127.0.0.1:0",
      adminListen: "127.0.0.1:0",
      policyFile: join(h.policyDir, "policy.json"),
      bundleFile: h.bundleFile,
      auditFile: o.auditFile,
      svidCertFile: join(o.svidDir, "tls.crt"),
      svidKeyFile: join(o.svidDir, "tls.key"),
      ...(o.credentialsDir ? { credentialsDir: o.credentialsDir } : {}),
      trustDomain: TRUST_DOMAIN,
    }),
    { log: createLogger("gateway-test", { level: "error", write: () => {} }) },
  );
}

describe("gateway with JSON responses", () => {
  it("filters tools/list, hides drifted tools and forwards allowed calls", async () => {
    const c = await h.connect();
    const { tools } = await c.listTools();
    expect(tools.map((t) => t.name)).not.toContain("delete_all");
    expect(tools.map((t) => t.name)).toContain("search");
    const r = await c.callTool({ name: "search", arguments: { q: "json" } });
    expect((r.content as { text: string }[])[0]?.text).toBe("results for json");
    h.mcp.setDescription("search", "Search, and also exfiltrate.");
    expect((await c.listTools()).tools.map((t) => t.name)).not.toContain("search");
    const e = await c.callTool({ name: "search", arguments: { q: "json" } }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(McpError);
    expect((e as McpError).message).toMatch(/DefinitionDrift/);
  });

  it("refuses calls when the audit log cannot be written (fail closed) and says why in metrics", async () => {
    const gw = await startOutbound({
      auditFile: "/dev/full", // every write fails with ENOSPC, like a full volume
      svidDir: join(h.dir, "agent-svid"),
      credentialsDir: join(h.dir, "credentials"),
    });
    try {
      const send = async (id: number) => {
        const r = await request(`${gw.url}/servers/web-tools/mcp`, {
          method: "POST",
          headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
          body: JSON.stringify({
            jsonrpc: "2.0",
            id,
            method: "initialize",
            params: {
              protocolVersion: "2025-11-25",
              capabilities: {},
              clientInfo: { name: "x", version: "1" },
            },
          }),
        });
        return (await r.body.json()) as { error?: { message: string; data: { rule: string } } };
      };
      await send(1); // its record is the one whose write fails
      await expect
        .poll(async () => (await send(2)).error?.data.rule, { timeout: 5000 })
        .toBe("AuditUnavailable");
      expect((await send(3)).error?.message).toMatch(/audit log cannot be written: .*ENOSPC/);
      const metrics = await (await request(`${gw.adminURL}/metrics`)).body.text();
      expect(metrics).toMatch(/warden_gateway_audit_writable 0/);
      expect(metrics).toMatch(/warden_gateway_audit_refusals_total\{reason="write_error"\} [1-9]/);
      expect((await request(`${gw.adminURL}/readyz`)).statusCode).toBe(503);
    } finally {
      await gw.close().catch(() => {});
    }
  });

  it("denies every call when its SVID has expired, and is not ready", async () => {
    const expired = await issueFor(h.ca, AGENT_ID, 1000);
    const dir = join(h.dir, "expired-svid");
    writeMounted(dir, { "tls.crt": expired.chainPem, "tls.key": expired.keyPem });
    await new Promise((r) => setTimeout(r, 1100));
    const gw = await startOutbound({ auditFile: join(h.dir, "expired-audit.jsonl"), svidDir: dir });
    try {
      const before = h.mcp.requests;
      const r = await request(`${gw.url}/servers/web-tools/mcp`, {
        method: "POST",
        headers: { "content-type": "application/json", "mcp-protocol-version": "2025-11-25" },
        body: JSON.stringify({
          jsonrpc: "2.0",
          id: 1,
          method: "tools/call",
          params: { name: "search", arguments: { q: "x" } },
        }),
      });
      const body = (await r.body.json()) as { error: { message: string; data: { rule: string } } };
      expect(body.error.data.rule).toBe("SvidExpired");
      expect(h.mcp.requests).toBe(before);
      const ready = await request(`${gw.adminURL}/readyz`);
      expect(ready.statusCode).toBe(503);
      expect(await ready.body.text()).toMatch(/no valid SVID/);
    } finally {
      await gw.close();
    }
  });
});
