// Resident memory of the gateway sidecar, run exactly as its image runs it: the image's bundle
// (scripts/images/definitions.ts → bundleComponent) started by Node 24 with the NODE_OPTIONS the
// webhook injects for the chart's memory limit (v8FlagsFor(gateway.resources.limits.memory)).
// (and MALLOC_ARENA_MAX, gatewayRuntimeEnv). Two gateway processes, outbound (the agent pod's sidecar) and inbound (the tool server's), with
// SVIDs from files, an MCP server behind them in this process, and 16 MCP clients driving
// tools/call through outbound → mTLS → inbound for a period bounded by time AND by a call count.
//
// Beside them, in the same run, the floor: a bare Node 24 HTTP server (no flags, no code) idle, and
// under 16 keep-alive connections posting the same request body. Reported per gateway: idle RSS
// after start, peak RSS (the kernel's VmHWM, start-up included), the steady state under load (median
// of the samples taken in the second half of the load period) and idle RSS again after the load.
// Also the start-up of each (spawn to its listening line: wall and CPU time) beside the bare server's.
// Nothing here asserts on time or memory; `npm run bench:smoke` only proves it runs.
import { type ChildProcess, spawn } from "node:child_process";
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { Agent as HttpAgent, request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { parse as parseYaml } from "yaml";
import type { GatewayPolicy, InboundPolicy } from "../api/v1alpha1/policy.ts";
import { issueFor, testCA } from "../lib/identity/testing.ts";
import { bundleComponent } from "../scripts/images/build.ts";
import { compileCacheEnv } from "../scripts/images/compile-cache.ts";
import { COMPONENT_IMAGES, type ComponentImage } from "../scripts/images/definitions.ts";
import { pinnedDigests, startMcpServer } from "../test/fixtures/gateway/mcp-server.ts";
import { gatewayRuntimeEnv, memoryBytes } from "../webhook/sidecar-config.ts";
import type { BenchOptions, BenchResult } from "./run.ts";

const ROOT = resolve(import.meta.dirname, "..");
const NODE = join(ROOT, "node_modules", ".bin", "node");
const TRUST_DOMAIN = "example.org";
const AGENT_ID = `spiffe://${TRUST_DOMAIN}/ns/agents/sa/researcher`;
const SERVER_ID = `spiffe://${TRUST_DOMAIN}/ns/tools/sa/web-tools`;
const CONNECTIONS = 16;

interface Sizes {
  /** Idle time after ready (and after the load) before sampling. */
  settleMs: number;
  /** The load stops at whichever comes first. */
  loadMs: number;
  maxCalls: number;
}
const FULL: Sizes = { settleMs: 10_000, loadMs: 60_000, maxCalls: 200_000 };
const SMOKE: Sizes = { settleMs: 500, loadMs: 2_000, maxCalls: 200 };

interface Rss {
  rssMiB: number;
  hwmMiB: number;
}

function rssOf(pid: number): Rss {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB$`, "m").exec(status)?.[1]);
  return { rssMiB: kb("VmRSS") / 1024, hwmMiB: kb("VmHWM") / 1024 };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
};

/** Five samples 200 ms apart, the median. */
async function idleRss(pid: number): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < 5; i++) {
    xs.push(rssOf(pid).rssMiB);
    await sleep(200);
  }
  return median(xs);
}

export interface Proc {
  child: ChildProcess;
  pid: number;
  log(): string;
  /** Wall and CPU time from spawn to the first output line containing `listeningMark`. */
  started(): Promise<{ ms: number; cpuMs: number }>;
  stop(): Promise<void>;
}

/** User + system CPU time of a process so far, from /proc (clock ticks of 10 ms). */
function cpuMsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

export function startProcess(
  args: string[],
  env: Record<string, string>,
  listeningMark = "gateway listening",
): Proc {
  const spawnedAt = performance.now();
  const child = spawn(NODE, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let markStart: (v: { ms: number; cpuMs: number }) => void = () => {};
  const started = new Promise<{ ms: number; cpuMs: number }>((r) => {
    markStart = r;
  });
  let seen = false;
  // Bounded: keep the last 64 kB of output for error messages.
  const keep = (d: Buffer) => {
    out = (out + d.toString()).slice(-65_536);
    if (!seen && out.includes(listeningMark)) {
      seen = true;
      markStart({ ms: performance.now() - spawnedAt, cpuMs: cpuMsOf(child.pid!) });
    }
  };
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  const exited = new Promise<void>((r) => child.once("close", () => r()));
  return {
    child,
    pid: child.pid!,
    log: () => out,
    started: () => started,
    stop: async () => {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

/** The ports from the gateway's "gateway listening" log line. Bounded: 600 polls of 100 ms. */
export async function gatewayPorts(p: Proc, what: string): Promise<{ listen: number; admin: number }> {
  for (let i = 0; i < 600; i++) {
    for (const line of p.log().split("\n")) {
      if (!line.startsWith("{")) continue;
      const rec = JSON.parse(line) as { msg?: string; listen?: number; admin?: number };
      if (rec.msg === "gateway listening" && rec.listen && rec.admin) {
        const r = await fetch(`http://127.0.0.1:${rec.admin}/readyz`).catch(() => undefined);
        if (r?.status === 200) return { listen: rec.listen, admin: rec.admin };
      }
    }
    if (p.child.exitCode !== null) break;
    await sleep(100);
  }
  throw new Error(`${what} gateway did not become ready; its output:\n${p.log()}`);
}

/** The image's compile-cache environment for a bundle in `appDir`, its directory renamed for our uid. */
function cacheForThisUid(image: ComponentImage, appDir: string): Record<string, string> {
  if (!image.compileCache) return {};
  const dir = join(appDir, image.compileCache);
  for (const sub of readdirSync(dir)) {
    const ours = sub.replace(/-\d+$/, `-${process.getuid?.() ?? 0}`);
    if (ours !== sub) renameSync(join(dir, sub), join(dir, ours));
  }
  return compileCacheEnv(dir);
}

/** The chart's sidecar memory limit, as the webhook injects it by default. */
export function chartGatewayLimit(): string {
  const values = parseYaml(readFileSync(join(ROOT, "charts", "agent-warden", "values.yaml"), "utf8")) as {
    gateway: { resources: { limits: { memory: string } } };
  };
  return values.gateway.resources.limits.memory;
}

/** The files both gateways read (CA bundle, SVIDs, policies) and their environments. */
export async function gatewayFiles(dir: string, mcpURL: string) {
  const ca = await testCA(TRUST_DOMAIN);
  const [agent, server] = await Promise.all([issueFor(ca, AGENT_ID), issueFor(ca, SERVER_ID)]);
  const put = (name: string, text: string, mode = 0o644) => {
    writeFileSync(join(dir, name), text, { mode });
    return join(dir, name);
  };
  const bundle = put("bundle.pem", ca.certPem);
  const inboundPolicy: InboundPolicy = {
    apiVersion: "warden.dev/v1alpha1",
    kind: "InboundPolicy",
    version: "in-1",
    manifest: "web-tools",
    namespace: "tools",
    allowedCallers: [AGENT_ID],
  };
  const common = {
    WARDEN_GATEWAY_LISTEN: "127.0.0.1:0",
    WARDEN_GATEWAY_ADMIN_LISTEN: "127.0.0.1:0",
    WARDEN_BUNDLE_FILE: bundle,
    WARDEN_TRUST_DOMAIN: TRUST_DOMAIN,
  };
  const inbound = {
    ...common,
    WARDEN_GATEWAY_MODE: "inbound",
    WARDEN_POLICY_FILE: put("inbound-policy.json", JSON.stringify(inboundPolicy)),
    WARDEN_SVID_CERT_FILE: put("server.crt", server.chainPem),
    WARDEN_SVID_KEY_FILE: put("server.key", server.keyPem, 0o600),
    WARDEN_AUDIT_FILE: join(dir, "inbound-audit.jsonl"),
    WARDEN_UPSTREAM: mcpURL,
  };
  const digests = await pinnedDigests(mcpURL);
  const outboundPolicy = (inboundURL: string): GatewayPolicy => ({
    apiVersion: "warden.dev/v1alpha1",
    kind: "GatewayPolicy",
    version: "v1",
    agent: { name: "researcher", namespace: "agents", spiffeID: AGENT_ID, suspended: false },
    taskTokens: { required: false, issuers: [] },
    servers: [
      {
        manifest: "web-tools",
        endpoint: `${inboundURL}/mcp`,
        mode: "Enforce",
        serverSpiffeID: SERVER_ID,
        tools: [
          {
            name: "search",
            digest: digests.search!,
            risk: "Low",
            arguments: [{ argument: "q", type: "string", maxLength: 64 }],
          },
        ],
      },
    ],
  });
  const outbound = (inboundURL: string) => ({
    ...common,
    WARDEN_GATEWAY_MODE: "outbound",
    WARDEN_POLICY_FILE: put("outbound-policy.json", JSON.stringify(outboundPolicy(inboundURL))),
    WARDEN_SVID_CERT_FILE: put("agent.crt", agent.chainPem),
    WARDEN_SVID_KEY_FILE: put("agent.key", agent.keyPem, 0o600),
    WARDEN_AUDIT_FILE: join(dir, "outbound-audit.jsonl"),
  });
  return { inbound, outbound };
}

/** The floor: node:http answering every request with a fixed JSON-RPC result, nothing else loaded. */
const BARE_SERVER = [
  "const http = require('node:http');",
  'const body = JSON.stringify({ jsonrpc: "2.0", id: 1, result: { content: [{ type: "text", text: "ok" }] } });',
  "http.createServer((req, res) => { req.resume(); req.on('end', () => {",
  "  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });",
  "  res.end(body); }); })",
  "  .listen(0, '127.0.0.1', function () { console.log('gateway listening', this.address().port); });",
].join("\n");

/**
 * Samples RSS of the pids every 250 ms, and once more when stopped (right as the load ends), so a
 * load shorter than the interval still has a sample in its second half.
 */
function sampler(pids: number[]) {
  const samples: { t: number; rss: number[] }[] = [];
  const sample = () => samples.push({ t: performance.now(), rss: pids.map((p) => rssOf(p).rssMiB) });
  const timer = setInterval(sample, 250);
  return {
    stop(): { t: number; rss: number[] }[] {
      clearInterval(timer);
      sample();
      return samples;
    },
  };
}

/** Median RSS per pid over the second half of the load period (the sampler stops as it ends). */
function steady(samples: { t: number; rss: number[] }[], from: number, to: number, i: number): number {
  const mid = from + (to - from) / 2;
  return median(samples.filter((s) => s.t >= mid).map((s) => s.rss[i]!));
}

/** 16 connections posting the request body to the bare server, bounded by time and count. */
async function loadBare(port: number, sizes: Sizes): Promise<{ calls: number; ms: number }> {
  const agent = new HttpAgent({ keepAlive: true, maxSockets: CONNECTIONS });
  const body = JSON.stringify({
    jsonrpc: "2.0",
    id: 1,
    method: "tools/call",
    params: { name: "search", arguments: { q: "q" } },
  });
  const t0 = performance.now();
  let calls = 0;
  const one = () =>
    new Promise<void>((res, rej) => {
      const r = httpRequest(
        {
          host: "127.0.0.1",
          port,
          method: "POST",
          path: "/mcp",
          agent,
          headers: { "content-type": "application/json" },
        },
        (resp) => {
          resp.resume();
          resp.on("end", () => res());
        },
      );
      r.on("error", rej);
      r.end(body);
    });
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (performance.now() - t0 < sizes.loadMs && calls < sizes.maxCalls) {
        calls++;
        await one();
      }
    }),
  );
  agent.destroy();
  return { calls, ms: performance.now() - t0 };
}

/** 16 MCP clients (one session and connection each) calling through the outbound gateway. */
async function loadGateways(
  outboundURL: string,
  sizes: Sizes,
): Promise<{ calls: number; failed: number; ms: number }> {
  const clients = await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      const c = new Client({ name: "bench-rss", version: "1" });
      await c.connect(new StreamableHTTPClientTransport(new URL(`${outboundURL}/servers/web-tools/mcp`)));
      return c;
    }),
  );
  const t0 = performance.now();
  let calls = 0;
  let failed = 0;
  await Promise.all(
    clients.map(async (c, k) => {
      while (performance.now() - t0 < sizes.loadMs && calls < sizes.maxCalls) {
        calls++;
        const r = await c
          .callTool({ name: "search", arguments: { q: `c${k}-${calls}` } })
          .catch(() => undefined);
        if (!r || r.isError) failed++;
      }
    }),
  );
  const ms = performance.now() - t0;
  await Promise.all(clients.map((c) => c.close().catch(() => {})));
  return { calls, failed, ms };
}

export async function run({ smoke }: BenchOptions): Promise<BenchResult[]> {
  // BENCH_RSS_LOAD_MS shortens (or lengthens) the load for experiments with other V8 flags
  // (BENCH_GATEWAY_NODE_OPTIONS); the recorded run uses neither.
  const sizes = { ...(smoke ? SMOKE : FULL) };
  if (process.env.BENCH_RSS_LOAD_MS) sizes.loadMs = Number(process.env.BENCH_RSS_LOAD_MS);
  const limit = chartGatewayLimit();
  const limitMiB = memoryBytes(limit) / 2 ** 20;
  // The memory environment the webhook injects for that limit (NODE_OPTIONS, MALLOC_ARENA_MAX).
  const injected = Object.fromEntries(gatewayRuntimeEnv(limit).map((e) => [e.name, e.value]));
  const nodeOptions = process.env.BENCH_GATEWAY_NODE_OPTIONS ?? injected.NODE_OPTIONS!;
  const work = mkdtempSync(join(tmpdir(), "warden-bench-rss-"));
  const procs: Proc[] = [];
  const mcp = await startMcpServer({ jsonResponse: true });
  try {
    const gw = COMPONENT_IMAGES.find((i) => i.name === "gateway")!;
    const built = await bundleComponent(
      gw,
      join(work, "app"),
      ROOT,
      Number(process.versions.node.split(".")[0]),
    );
    mkdirSync(join(work, "files"));
    const files = await gatewayFiles(join(work, "files"), mcp.url);
    const extraEnv = Object.fromEntries(
      (process.env.BENCH_GATEWAY_EXTRA_ENV ?? "")
        .split(",")
        .filter(Boolean)
        .map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]),
    );
    // The image's own environment too: its V8 compile cache (off with BENCH_GATEWAY_COMPILE_CACHE=0).
    // Node names the cache's directory after the uid; the image runs as 65532, this process maybe not.
    const imageEnv =
      process.env.BENCH_GATEWAY_COMPILE_CACHE === "0" ? {} : cacheForThisUid(gw, join(work, "app"));
    const gatewayEnv = {
      NODE_ENV: "production",
      ...imageEnv,
      ...injected,
      NODE_OPTIONS: nodeOptions,
      ...extraEnv,
    };

    // The floor first, alone: idle, then under load.
    const bareFile = join(work, "bare.cjs");
    writeFileSync(bareFile, BARE_SERVER);
    const bare = startProcess([bareFile], {});
    procs.push(bare);
    let barePort = 0;
    for (let i = 0; i < 600 && !barePort; i++) {
      barePort = Number(/gateway listening (\d+)/.exec(bare.log())?.[1] ?? 0);
      if (!barePort) await sleep(100);
    }
    if (!barePort) throw new Error(`bare server did not start: ${bare.log()}`);
    const bareStart = await bare.started();
    await sleep(sizes.settleMs);
    const bareIdle = await idleRss(bare.pid);
    let s = sampler([bare.pid]);
    let t0 = performance.now();
    const bareLoad = await loadBare(barePort, sizes);
    let samples = s.stop();
    const bareSteady = steady(samples, t0, t0 + bareLoad.ms, 0);
    const bareHwm = rssOf(bare.pid).hwmMiB;
    await bare.stop();

    // The two gateways.
    const inbound = startProcess([built.outfile], { ...gatewayEnv, ...files.inbound });
    procs.push(inbound);
    const inPorts = await gatewayPorts(inbound, "inbound");
    const outbound = startProcess([built.outfile], {
      ...gatewayEnv,
      ...files.outbound(`https://127.0.0.1:${inPorts.listen}`),
    });
    procs.push(outbound);
    const outPorts = await gatewayPorts(outbound, "outbound");
    const starts = [await outbound.started(), await inbound.started()];
    // The gateway's own figure: process start to its first log line, after its code has loaded.
    const loadedMs = [outbound, inbound].map((p) => {
      for (const line of p.log().split("\n")) {
        if (!line.startsWith("{")) continue;
        const rec = JSON.parse(line) as { msg?: string; loadedMs?: number };
        if (rec.msg === "gateway starting") return rec.loadedMs;
      }
      return undefined;
    });
    await sleep(sizes.settleMs);
    const idle = [await idleRss(outbound.pid), await idleRss(inbound.pid)];
    s = sampler([outbound.pid, inbound.pid]);
    const cpuBefore = [cpuMsOf(outbound.pid), cpuMsOf(inbound.pid)];
    t0 = performance.now();
    const load = await loadGateways(`http://127.0.0.1:${outPorts.listen}`, sizes);
    samples = s.stop();
    // CPU time per call of each gateway process (µs): what the malloc settings may cost.
    const cpuPerCall = [cpuMsOf(outbound.pid), cpuMsOf(inbound.pid)].map(
      (ms, i) => ((ms - cpuBefore[i]!) * 1000) / Math.max(1, load.calls),
    );
    const steadyRss = [0, 1].map((i) => steady(samples, t0, t0 + load.ms, i));
    const hwm = [rssOf(outbound.pid).hwmMiB, rssOf(inbound.pid).hwmMiB];
    await sleep(sizes.settleMs);
    const after = [await idleRss(outbound.pid), await idleRss(inbound.pid)];

    const perSecond = (n: number, ms: number) => Math.round((n / ms) * 1000);
    const envNote = Object.entries({ ...injected, NODE_OPTIONS: nodeOptions, ...extraEnv })
      .map(([k, v]) => `${k}="${v}"`)
      .join(" ");
    const common = `${envNote} (limit ${limit}); bundle ${(built.bytes / 2 ** 20).toFixed(2)} MiB; compile cache ${imageEnv.NODE_COMPILE_CACHE ? "on" : "off"}`;
    const loadNote = `${load.calls} calls (${load.failed} failed) in ${(load.ms / 1000).toFixed(1)} s, ${perSecond(load.calls, load.ms)}/s; floor ${bareLoad.calls} requests, ${perSecond(bareLoad.calls, bareLoad.ms)}/s`;
    const results: BenchResult[] = [];
    (["outbound", "inbound"] as const).forEach((mode, i) => {
      const who = `${mode} gateway (image bundle + injected NODE_OPTIONS)`;
      results.push(
        {
          name: `sidecar RSS idle (${mode})`,
          subject: who,
          baseline: "bare Node 24 HTTP server, idle",
          unit: "MiB",
          subjectValue: idle[i]!,
          baselineValue: bareIdle,
          ratio: bareIdle / idle[i]!,
          target: "≤ 56 MiB, within 10 MiB of the floor",
          met: idle[i]! - bareIdle <= 10,
          notes: `+${(idle[i]! - bareIdle).toFixed(1)} MiB over the floor; after the load ${after[i]!.toFixed(1)} MiB; ${common}`,
        },
        {
          name: `sidecar RSS peak, ${CONNECTIONS} connections (${mode})`,
          subject: `${who}, VmHWM`,
          baseline: `bare Node 24 HTTP server under ${CONNECTIONS} connections, VmHWM`,
          unit: "MiB",
          subjectValue: hwm[i]!,
          baselineValue: bareHwm,
          ratio: bareHwm / hwm[i]!,
          target: `≤ 96 MiB, below the ${limit} limit`,
          met: hwm[i]! <= 96 && hwm[i]! < limitMiB,
          notes: `${loadNote}; this gateway's CPU ${Math.round(cpuPerCall[i]!)} µs per call`,
        },
        {
          name: `sidecar start-up (${mode})`,
          subject: `${who}: spawn to "gateway listening" (SVID and policy files read, TLS context made)`,
          baseline: "bare Node 24 HTTP server: spawn to listening",
          unit: "ms",
          subjectValue: Math.round(starts[i]!.ms),
          baselineValue: Math.round(bareStart.ms),
          ratio: bareStart.ms / starts[i]!.ms,
          notes: `code loaded after ${loadedMs[i] ?? "?"} ms ("gateway starting"); CPU ${starts[i]!.cpuMs} ms (floor ${bareStart.cpuMs} ms), one start each; under the chart's 500m CPU limit the CPU time is at least half the wall time`,
        },
        {
          name: `sidecar RSS steady state, ${CONNECTIONS} connections (${mode})`,
          subject: `${who}, median of the second half`,
          baseline: `bare Node 24 HTTP server under ${CONNECTIONS} connections`,
          unit: "MiB",
          subjectValue: steadyRss[i]!,
          baselineValue: bareSteady,
          ratio: bareSteady / steadyRss[i]!,
          target: "≤ 96 MiB",
          met: steadyRss[i]! <= 96,
          notes: `${samples.length} samples every 250 ms`,
        },
      );
    });
    return results;
  } finally {
    for (const p of procs) await p.stop().catch(() => {});
    await mcp.close();
    rmSync(work, { recursive: true, force: true });
  }
}
