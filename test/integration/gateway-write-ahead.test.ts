// Write-ahead audit and graceful stop through real gateways (issue 14): a call's decision is on
// disk before the call reaches the tool server; a record that cannot be written refuses the call;
// SIGTERM lets the calls in flight finish (with their outcome records) before the process exits.
// The tool server here is a hand-written MCP endpoint (mTLS with the server SVID) that, when a
// tool runs, looks into the outbound gateway's audit file, and can hold a reply until released.
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import type { ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../gateway/config.ts";
import { startGateway } from "../../gateway/server.ts";
import { createLogger } from "../../lib/log.ts";
import { type Harness, SERVER_ID, startHarness, TRUST_DOMAIN } from "../fixtures/gateway/harness.ts";
import { freePort } from "../support/process.ts";

const root = join(import.meta.dirname, "..", "..");
const nodeBin = join(root, "node_modules", ".bin", "node");
let h: Harness;
let tools: Server;
/** Audit file the probe tool inspects when it runs (set per test). */
let watchedAudit = "";
/** For each probe call: whether its intent record was already in the audit file. */
const sawIntent: boolean[] = [];
const held: ServerResponse[] = [];
const ran: string[] = [];

beforeAll(async () => {
  h = await startHarness();
  tools = createServer(
    { cert: h.server.certChainPem, key: h.server.keyPem, ca: h.ca.certPem, requestCert: true },
    (req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const msg = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
          id: number;
          params: { name: string; arguments: { tag: string } };
        };
        const tag = msg.params.arguments.tag;
        ran.push(tag);
        const reply = () => {
          res.writeHead(200, { "content-type": "application/json" });
          res.end(
            JSON.stringify({
              jsonrpc: "2.0",
              id: msg.id,
              result: { content: [{ type: "text", text: `ran ${tag}` }] },
            }),
          );
        };
        if (msg.params.name === "probe") {
          const lines = readFileSync(watchedAudit, "utf8").trimEnd().split("\n");
          sawIntent.push(lines.some((l) => l.includes(`"tag":"${tag}"`) && l.includes('"phase":"intent"')));
          reply();
        } else {
          held.push(res);
          res.on("release" as never, reply);
        }
      });
    },
  );
  await new Promise<void>((r) => tools.listen(0, "127.0.0.1", r));
  const policy = structuredClone(h.policy);
  policy.version = "v-wal";
  policy.servers.push({
    manifest: "probe-tools",
    endpoint: `https://127.0.0.1:${(tools.address() as AddressInfo).port}/mcp`,
    mode: "Enforce",
    serverSpiffeID: SERVER_ID,
    tools: [
      { name: "probe", risk: "Low", arguments: [] },
      { name: "hold", risk: "Low", arguments: [] },
    ],
  });
  h.setPolicy(policy);
  for (let t = Date.now(); Date.now() - t < 10_000; await new Promise((r) => setTimeout(r, 50))) {
    if ((await (await request(`${h.outbound.adminURL}/metrics`)).body.text()).includes('version="v-wal"'))
      break;
  }
});

afterAll(async () => {
  for (const r of held) if (!r.headersSent) r.emit("release");
  await h?.close();
  await new Promise<void>((r) => (tools ? tools.close(() => r()) : r()));
});

const call = (base: string, name: string, tag: string) =>
  request(`${base}/servers/probe-tools/mcp`, {
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
      params: { name, arguments: { tag } },
    }),
  });

function records(file: string): Record<string, unknown>[] {
  return readFileSync(file, "utf8")
    .trimEnd()
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe("write-ahead audit", () => {
  it("has the decision on disk before the tool runs, and the outcome after", async () => {
    watchedAudit = h.outboundAudit;
    for (const tag of ["wal-1", "wal-2", "wal-3"]) {
      const r = await call(h.outbound.url, "probe", tag);
      expect(await r.body.text()).toContain(`ran ${tag}`);
    }
    expect(sawIntent).toEqual([true, true, true]);
    await expect
      .poll(() =>
        records(h.outboundAudit)
          .filter((r) => (r.args as { tag?: string } | null)?.tag === "wal-3")
          .map((r) => (r.detail as { phase: string }).phase),
      )
      .toEqual(["intent", "outcome"]);
  });

  it("refuses the call when its record cannot be written, and the tool never runs", async () => {
    // /dev/full opens for append and fails every write with ENOSPC: the disk is full.
    const gw = await startGateway(
      parseConfig({
        mode: "outbound",
        listen: "127.0.0.1:0",
        adminListen: "127.0.0.1:0",
        policyFile: join(h.policyDir, "policy.json"),
        bundleFile: h.bundleFile,
        auditFile: "/dev/full",
        svidCertFile: join(h.dir, "agent-svid", "tls.crt"),
        svidKeyFile: join(h.dir, "agent-svid", "tls.key"),
        credentialsDir: join(h.dir, "credentials"),
        trustDomain: TRUST_DOMAIN,
      }),
      { log: createLogger("full-disk-gateway", { level: "error" }) },
    );
    try {
      const r = await call(gw.url, "probe", "never-recorded");
      const body = (await r.body.json()) as { error: { data: { rule: string } } };
      expect(body.error.data.rule).toBe("AuditUnavailable");
      expect(ran).not.toContain("never-recorded");
    } finally {
      await gw.close();
    }
  });
});

describe("SIGTERM drains calls in flight (gateway process)", () => {
  let child: ChildProcess | undefined;
  afterAll(() => {
    if (child && child.exitCode === null) child.kill("SIGKILL");
  });

  it("finishes a call that is in flight, records its outcome, refuses new calls, then exits 0", async () => {
    const [port, adminPort] = [await freePort(), await freePort()];
    const audit = join(h.dir, "child-audit.jsonl");
    let stderr = "";
    child = spawn(nodeBin, [join(root, "gateway", "main.ts")], {
      env: {
        ...process.env,
        WARDEN_GATEWAY_MODE: "outbound",
        WARDEN_GATEWAY_LISTEN: `127.0.0.1:${port}`,
        WARDEN_GATEWAY_ADMIN_LISTEN: `127.0.0.1:${adminPort}`,
        WARDEN_POLICY_FILE: join(h.policyDir, "policy.json"),
        WARDEN_BUNDLE_FILE: h.bundleFile,
        WARDEN_AUDIT_FILE: audit,
        WARDEN_SVID_CERT_FILE: join(h.dir, "agent-svid", "tls.crt"),
        WARDEN_SVID_KEY_FILE: join(h.dir, "agent-svid", "tls.key"),
        WARDEN_CREDENTIALS_DIR: join(h.dir, "credentials"),
        WARDEN_TRUST_DOMAIN: TRUST_DOMAIN,
        WARDEN_DRAIN_TIMEOUT_MS: "60000",
      },
      stdio: ["ignore", "ignore", "pipe"],
    });
    child.stderr?.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<number | null>((r) => child!.once("exit", (code) => r(code)));
    const base = `http://127.0.0.1:${port}`;
    await expect
      .poll(
        async () =>
          (await request(`http://127.0.0.1:${adminPort}/readyz`).then(
            async (r) => {
              await r.body.dump();
              return r.statusCode;
            },
            () => 0,
          )) === 200,
        { timeout: 30_000, interval: 100 },
      )
      .toBe(true);
    const heldBefore = held.length;
    const inFlight = call(base, "hold", "in-flight").then(async (r) => ({
      status: r.statusCode,
      text: await r.body.text(),
    }));
    // The tool server has the call (and so the gateway has forwarded it) before the signal.
    await expect.poll(() => held.length, { timeout: 30_000, interval: 20 }).toBe(heldBefore + 1);
    child.kill("SIGTERM");
    await expect
      .poll(() => stderr.includes("draining calls in flight"), { timeout: 30_000, interval: 20 })
      .toBe(true);
    // New work is not taken while draining.
    const late = await call(base, "probe", "late").then(
      async (r) => (await r.body.json()) as { error?: { data?: { rule: string } } },
      (e: unknown) => ({ refusedConnection: String((e as Error).message) }),
    );
    expect(JSON.stringify(late)).toMatch(/ShuttingDown|ECONNREFUSED|other side closed|SocketError/);
    expect(ran).not.toContain("late");
    expect(child.exitCode).toBeNull(); // still waiting for the call in flight
    held.at(-1)!.emit("release");
    const answered = await inFlight;
    expect(answered.status).toBe(200);
    expect(answered.text).toContain("ran in-flight");
    expect(await exited).toBe(0);
    const recs = records(audit);
    const phases = recs
      .filter((r) => (r.args as { tag?: string } | null)?.tag === "in-flight")
      .map((r) => (r.detail as { phase: string }).phase);
    expect(phases).toEqual(["intent", "outcome"]);
    expect(recs.at(-1)?.type).toBe("checkpoint"); // sealed after the drain
  });
});
