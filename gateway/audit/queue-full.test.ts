// The audit queue-full path, end to end through a running outbound gateway: the audit file is a
// FIFO whose reader stops reading, so the writer really blocks on the disk side, the bounded queue
// fills, calls are refused with the reason and the metrics say so; once the reader drains the
// pipe the gateway recovers on its own.
import { execFileSync } from "node:child_process";
import { constants, mkdtempSync, writeFileSync } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { GatewayPolicy } from "../../api/v1alpha1/policy.ts";
import { issueFor, testCA } from "../../lib/identity/testing.ts";
import { createLogger } from "../../lib/log.ts";
import { parseConfig } from "../config.ts";
import { type RunningGateway, startGateway } from "../server.ts";

const AGENT = "spiffe://example.org/ns/agents/sa/researcher";
let dir: string;
let reader: FileHandle;
let gw: RunningGateway;
let draining = false;
let drainLoop: Promise<void> | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "warden-audit-fifo-"));
  const ca = await testCA("example.org");
  const svid = await issueFor(ca, AGENT);
  writeFileSync(join(dir, "tls.crt"), svid.chainPem);
  writeFileSync(join(dir, "tls.key"), svid.keyPem);
  writeFileSync(join(dir, "bundle.pem"), ca.certPem);
  const policy: GatewayPolicy = {
    apiVersion: "warden.dev/v1alpha1",
    kind: "GatewayPolicy",
    version: "v1",
    agent: { name: "researcher", namespace: "agents", spiffeID: AGENT, suspended: false },
    taskTokens: { required: false, issuers: [] },
    servers: [],
  };
  writeFileSync(join(dir, "policy.json"), JSON.stringify(policy));
  const fifo = join(dir, "audit.fifo");
  execFileSync("mkfifo", [fifo]);
  // A non-blocking reader first, so the writer's open succeeds; it reads nothing until told to.
  reader = await open(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  gw = await startGateway(
    parseConfig({
      mode: "outbound",
      listen: "127.0.0.1:0",
      adminListen: "127.0.0.1:0",
      policyFile: join(dir, "policy.json"),
      bundleFile: join(dir, "bundle.pem"),
      auditFile: fifo,
      auditMaxQueue: 3,
      svidCertFile: join(dir, "tls.crt"),
      svidKeyFile: join(dir, "tls.key"),
      trustDomain: "example.org",
    }),
    { log: createLogger("gateway-test", { level: "error", write: () => {} }) },
  );
});

afterAll(async () => {
  startDraining();
  await gw?.close();
  draining = false;
  await drainLoop;
  await reader?.close();
});

function startDraining(): void {
  if (draining) return;
  draining = true;
  drainLoop = (async () => {
    const buf = Buffer.alloc(64 * 1024);
    while (draining) {
      try {
        const { bytesRead } = await reader.read(buf, 0, buf.length, null);
        if (bytesRead === 0) await new Promise((r) => setTimeout(r, 5));
      } catch {
        await new Promise((r) => setTimeout(r, 5)); // EAGAIN: nothing written yet
      }
    }
  })();
}

const call = async () => {
  const r = await request(`${gw.url}/servers/web-tools/mcp`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": "2025-11-25",
    },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "tools/call",
      params: { name: "search", arguments: {} },
    }),
  });
  return (await r.body.json()) as { error: { message: string; data: { rule: string } } };
};
const metrics = async () => (await request(`${gw.adminURL}/metrics`)).body.text();

describe("audit queue full", () => {
  it("refuses new calls with the reason while the writer is blocked, and recovers when it drains", async () => {
    // Records far larger than the 64 KiB pipe buffer: the first write blocks, the rest queue up.
    let accepted = 0;
    for (let i = 0; i < 50 && gw.audit.accepting(); i++) {
      if (
        gw.audit.append({
          time: new Date().toISOString(),
          agent: AGENT,
          taskId: null,
          manifest: "web-tools",
          method: "tools/call",
          tool: "search",
          argsHash: null,
          args: { blob: "x".repeat(40_000) },
          decision: "allow",
          rule: "Granted",
          latencyMs: 0,
          upstreamStatus: null,
          traceId: null,
        })
      )
        accepted++;
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(gw.audit.accepting()).toBe(false);
    expect(accepted).toBeGreaterThanOrEqual(3);

    const refused = await call();
    expect(refused.error.data.rule).toBe("AuditUnavailable");
    expect(refused.error.message).toMatch(/the audit write queue is full \(3 records waiting for the disk\)/);
    const m = await metrics();
    expect(m).toMatch(/warden_gateway_audit_writable 0/);
    expect(m).toMatch(/warden_gateway_audit_refusals_total\{reason="queue_full"\} 1/);
    const ready = await request(`${gw.adminURL}/readyz`);
    expect(ready.statusCode).toBe(503);
    expect(JSON.stringify(await ready.body.json())).toMatch(/audit write queue is full/);

    startDraining();
    await expect.poll(() => gw.audit.accepting(), { timeout: 5000, interval: 10 }).toBe(true);
    // Past the audit gate again: the next refusal is the policy's (no such server), not the audit's.
    expect((await call()).error.data.rule).toBe("UnknownServer");
    expect(await metrics()).toMatch(/warden_gateway_audit_writable 1/);
    expect((await request(`${gw.adminURL}/readyz`)).statusCode).toBe(200);
  });
});
