// Four concurrent 20 MiB SSE events through a real outbound gateway process (issue 14): each
// agent stream arrives complete and in order, /healthz keeps answering while the events are being
// inspected and relayed (large events are decided off the event loop), and the process's resident
// memory stays bounded. The measured RSS and /healthz latency are printed for the record.
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { loadavg } from "node:os";
import { join } from "node:path";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, SERVER_ID, startHarness, TRUST_DOMAIN } from "../fixtures/gateway/harness.ts";
import { freePort } from "../support/process.ts";

const root = join(import.meta.dirname, "..", "..");
const nodeBin = join(root, "node_modules", ".bin", "node");
const MIB = 1024 * 1024;
const EVENT_BYTES = 20 * MIB;
const STREAMS = 4;

let h: Harness;
let big: Server;
let child: ChildProcess | undefined;
let base = "";
let admin = "";

beforeAll(async () => {
  h = await startHarness();
  // A tool server whose every reply is an SSE stream: one 20 MiB notification, then the response.
  big = createServer(
    { cert: h.server.certChainPem, key: h.server.keyPem, ca: h.ca.certPem, requestCert: true },
    (req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", async () => {
        const { id } = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { id: number };
        res.writeHead(200, { "content-type": "text/event-stream" });
        const head = `data: {"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"`;
        const tail = `"}}\n\n`;
        res.write(head);
        const piece = Buffer.alloc(64 * 1024, 0x61);
        for (let sent = 0; sent < EVENT_BYTES; sent += piece.length) {
          if (!res.write(piece)) await new Promise((r) => res.once("drain", r));
        }
        res.write(tail);
        res.end(`data: {"jsonrpc":"2.0","id":${id},"result":{}}\n\n`);
      });
    },
  );
  await new Promise<void>((r) => big.listen(0, "127.0.0.1", r));
  const policy = structuredClone(h.policy);
  policy.version = "v-big";
  policy.servers.push({
    manifest: "big-tools",
    endpoint: `https://127.0.0.1:${(big.address() as AddressInfo).port}/mcp`,
    mode: "Enforce",
    serverSpiffeID: SERVER_ID,
    tools: [],
  });
  h.setPolicy(policy);
  const [port, adminPort] = [await freePort(), await freePort()];
  base = `http://127.0.0.1:${port}`;
  admin = `http://127.0.0.1:${adminPort}`;
  child = spawn(nodeBin, [join(root, "gateway", "main.ts")], {
    env: {
      ...process.env,
      WARDEN_GATEWAY_MODE: "outbound",
      WARDEN_GATEWAY_LISTEN: `127.0.0.1:${port}`,
      WARDEN_GATEWAY_ADMIN_LISTEN: `127.0.0.1:${adminPort}`,
      WARDEN_POLICY_FILE: join(h.policyDir, "policy.json"),
      WARDEN_BUNDLE_FILE: h.bundleFile,
      WARDEN_AUDIT_FILE: join(h.dir, "big-audit.jsonl"),
      WARDEN_SVID_CERT_FILE: join(h.dir, "agent-svid", "tls.crt"),
      WARDEN_SVID_KEY_FILE: join(h.dir, "agent-svid", "tls.key"),
      WARDEN_CREDENTIALS_DIR: join(h.dir, "credentials"),
      WARDEN_TRUST_DOMAIN: TRUST_DOMAIN,
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
  for (let t = Date.now(); Date.now() - t < 60_000; await new Promise((r) => setTimeout(r, 100))) {
    const ok = await request(`${admin}/metrics`).then(
      async (r) => (await r.body.text()).includes('version="v-big",loaded="true"'),
      () => false,
    );
    if (ok) break;
  }
});

afterAll(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((r) => child!.once("exit", r));
    child.kill("SIGTERM");
    await exited;
  }
  await h?.close();
  await new Promise<void>((r) => (big ? big.close(() => r()) : r()));
});

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

describe("SSE: four concurrent 20 MiB events", () => {
  it("relays every stream complete while /healthz keeps answering, with bounded memory", async () => {
    const pid = child!.pid!;
    const rssBefore = rssMiB(pid);
    // A scrape resets the gateway's own event-loop delay maximum: the one read after the transfer
    // covers the transfer.
    const loopDelayMax = async () => {
      const text = await (await request(`${admin}/metrics`)).body.text();
      return Number(/^warden_gateway_event_loop_delay_max_seconds (\S+)$/m.exec(text)?.[1]);
    };
    await loopDelayMax();
    let rssPeak = rssBefore;
    // /healthz is probed from a process of its own, so the latency measured is the gateway's, not
    // this (busy) test process's. Each line: start time (ms, epoch) and latency (ms).
    // A third field: how late the probe's own 20 ms sleep before this probe woke (its process's
    // share of the machine's scheduling, which the gateway cannot cause).
    const health: { at: number; ms: number; late: number }[] = [];
    const probe = spawn(
      nodeBin,
      [
        "-e",
        `const u=process.argv[1];(async()=>{let late=0;for(;;){const t=Date.now(),p=performance.now();` +
          `try{const r=await fetch(u);await r.arrayBuffer();}catch{}` +
          `console.log(t+" "+(performance.now()-p).toFixed(2)+" "+late.toFixed(2));const s=performance.now();` +
          `await new Promise(r=>setTimeout(r,20));late=performance.now()-s-20;}})()`,
        `${admin}/healthz`,
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    let pending = "";
    probe.stdout!.on("data", (d: Buffer) => {
      pending += d.toString();
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const l of lines) {
        const [at, ms, late] = l.split(" ").map(Number);
        health.push({ at: at!, ms: ms!, late: late! });
      }
    });
    const rssTimer = setInterval(() => {
      rssPeak = Math.max(rssPeak, rssMiB(pid));
    }, 20);
    const spans: { first: number; last: number }[] = [];
    const sentAt = Date.now();
    const streams = Array.from({ length: STREAMS }, async (_, i) => {
      const r = await request(`${base}/servers/big-tools/mcp`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
          "mcp-protocol-version": "2025-11-25",
        },
        body: JSON.stringify({ jsonrpc: "2.0", id: 100 + i, method: "ping" }),
      });
      let first = 0;
      let bytes = 0;
      const parts: Buffer[] = [];
      for await (const c of r.body) {
        first ||= Date.now();
        bytes += (c as Buffer).length;
        parts.push(c as Buffer);
      }
      spans.push({ first, last: Date.now() });
      const text = Buffer.concat(parts).toString("utf8");
      return { status: r.statusCode, bytes, text };
    });
    const results = await Promise.all(streams);
    const gatewayLoopDelayMs = (await loopDelayMax()) * 1000;
    clearInterval(rssTimer);
    probe.kill("SIGKILL");
    results.forEach((res, i) => {
      expect(res.status).toBe(200);
      const events = res.text.split("\n\n").filter(Boolean);
      expect(events).toHaveLength(2);
      expect(events[0]!.length).toBeGreaterThan(EVENT_BYTES);
      expect(events[0]).toMatch(/"method":"notifications\/message"/);
      expect(events[1]).toBe(`data: {"jsonrpc":"2.0","id":${100 + i},"result":{}}`);
    });
    // /healthz answered while the big events were in flight (the event loop was not held).
    const from = sentAt;
    const to = Math.max(...spans.map((s) => s.last));
    const during = health.filter((s) => s.at >= from && s.at + s.ms <= to);
    expect(during.length).toBeGreaterThan(0);
    // The gateway measured its own event loop (the gauge operators read) during the transfer.
    expect(Number.isFinite(gatewayLoopDelayMs)).toBe(true);
    const maxMs = Math.max(...during.map((s) => s.ms));
    const sorted = during.map((s) => s.ms).sort((a, b) => a - b);
    const p50 = sorted[Math.floor(sorted.length / 2)]!;
    if (process.env.DEBUG_SSE)
      console.error(
        `[sse-large] requests sent at ${from} (epoch ms); slowest probes (ms after that, latency):`,
        [...health]
          .sort((a, b) => b.ms - a.ms)
          .slice(0, 6)
          .map((x) => [x.at - from, Math.round(x.ms)]),
        "streams:",
        spans.map((x) => [x.first - from, x.last - from]),
      );
    console.error(
      `[sse-large] ${STREAMS}×${EVENT_BYTES / MIB} MiB: RSS ${rssBefore.toFixed(0)} → peak ${rssPeak.toFixed(0)} MiB; ` +
        `/healthz during the transfer (${((to - from) / 1000).toFixed(1)} s): ${during.length} probes, p50 ${p50.toFixed(1)} ms, ` +
        `p99 ${sorted[Math.floor(sorted.length * 0.99)]!.toFixed(1)} ms, max ${maxMs.toFixed(1)} ms; ` +
        `the gateway's own event-loop delay max ${gatewayLoopDelayMs.toFixed(1)} ms; ` +
        `the probe process's own timer lateness max ${Math.max(...during.map((x) => x.late)).toFixed(1)} ms; load average ${loadavg()
          .map((l) => l.toFixed(1))
          .join(" ")}`,
    );
    // Memory: each stream holds at most one event (plus the socket buffers), never the stream.
    expect(rssPeak - rssBefore).toBeLessThan(STREAMS * 20 * 8);
  });
});
