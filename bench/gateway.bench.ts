// Added latency of the gateway: an allowed tools/call through outbound gateway → mTLS → inbound
// gateway → MCP server, against the same call made directly to the same MCP server, in the same
// run. Both sides use the official SDK client over Streamable HTTP with JSON responses, one
// session each, calls in sequence and interleaved. Bounded: at most CALLS calls or CAP_MS per side.
import { performance } from "node:perf_hooks";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { startHarness } from "../test/fixtures/gateway/harness.ts";
import type { BenchOptions, BenchResult } from "./run.ts";

let CALLS = 500;
let CAP_MS = 10_000;
let WARMUP = 30;

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/**
 * Calls alternate between the two clients so that load from other processes on a shared machine
 * hits both sides alike (measuring one side after the other made the ratio swing either way).
 */
async function measure(direct: Client, gateway: Client): Promise<{ base: number[]; gw: number[] }> {
  for (let i = 0; i < WARMUP; i++) {
    await direct.callTool({ name: "search", arguments: { q: `w${i}` } });
    await gateway.callTool({ name: "search", arguments: { q: `w${i}` } });
  }
  const base: number[] = [];
  const gw: number[] = [];
  const until = performance.now() + 2 * CAP_MS;
  for (let i = 0; i < CALLS && performance.now() < until; i++) {
    let t = performance.now();
    await direct.callTool({ name: "search", arguments: { q: `q${i}` } });
    base.push(performance.now() - t);
    t = performance.now();
    await gateway.callTool({ name: "search", arguments: { q: `q${i}` } });
    gw.push(performance.now() - t);
  }
  return { base: base.sort((a, b) => a - b), gw: gw.sort((a, b) => a - b) };
}

/**
 * 16 clients (one session, one connection each) calling at once, first all direct then all through
 * the gateways, in alternating rounds; CPU time of this process is taken for each side, so the
 * gateways' CPU per call is the difference divided by the two hops.
 */
async function concurrent(
  makeDirect: () => Promise<Client>,
  makeGateway: () => Promise<Client>,
  perClient: number,
): Promise<{ base: number[]; gw: number[]; cpuBase: number; cpuGw: number; n: number }> {
  const direct = await Promise.all(Array.from({ length: 16 }, makeDirect));
  const gateway = await Promise.all(Array.from({ length: 16 }, makeGateway));
  const base: number[] = [];
  const gw: number[] = [];
  let cpuBase = 0;
  let cpuGw = 0;
  const side = async (clients: Client[], out: number[]) => {
    const c0 = process.cpuUsage();
    await Promise.all(
      clients.map(async (c, k) => {
        for (let i = 0; i < perClient; i++) {
          const t = performance.now();
          await c.callTool({ name: "search", arguments: { q: `c${k}-${i}` } });
          out.push(performance.now() - t);
        }
      }),
    );
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / 1000;
  };
  await side(direct, []);
  await side(gateway, []);
  for (let round = 0; round < 2; round++) {
    cpuBase += await side(direct, base);
    cpuGw += await side(gateway, gw);
  }
  await Promise.all([...direct, ...gateway].map((c) => c.close()));
  return {
    base: base.sort((a, b) => a - b),
    gw: gw.sort((a, b) => a - b),
    cpuBase,
    cpuGw,
    n: base.length,
  };
}

export async function run({ smoke }: BenchOptions): Promise<BenchResult[]> {
  if (smoke) {
    CALLS = 10;
    CAP_MS = 2_000;
    WARMUP = 2;
  }
  const h = await startHarness({ jsonResponse: true, auditCheckpointEvery: 1000 });
  try {
    const direct = new Client({ name: "bench-direct", version: "1" });
    await direct.connect(new StreamableHTTPClientTransport(new URL(`${h.mcp.url}/mcp`)));
    const viaGateway = await h.connect();
    const { base, gw } = await measure(direct, viaGateway);
    await direct.close();
    await viaGateway.close();
    const results: BenchResult[] = [];
    for (const p of [50, 99]) {
      const s = pct(gw, p);
      const b = pct(base, p);
      results.push({
        name: `gateway tools/call p${p}`,
        subject: "outbound+inbound gateways (mTLS, policy, audit)",
        baseline: "direct to MCP server",
        unit: "ms",
        subjectValue: s,
        baselineValue: b,
        ratio: b / s,
        notes: `added ${(s - b).toFixed(2)} ms over two hops; ${gw.length} vs ${base.length} sequential calls`,
      });
    }
    const c = await concurrent(
      async () => {
        const x = new Client({ name: "bench-direct", version: "1" });
        await x.connect(new StreamableHTTPClientTransport(new URL(`${h.mcp.url}/mcp`)));
        return x;
      },
      () => h.connect(),
      smoke ? 2 : 60,
    );
    for (const p of [50, 99]) {
      const s = pct(c.gw, p);
      const b = pct(c.base, p);
      const perHop = (s - b) / 2;
      const target = p === 50 ? 0.25 : 3;
      results.push({
        name: `gateway tools/call p${p}, 16 connections`,
        subject: "outbound+inbound gateways",
        baseline: "direct to MCP server",
        unit: "ms",
        subjectValue: s,
        baselineValue: b,
        ratio: b / s,
        target: `per hop +≤ ${target} ms`,
        met: perHop <= target,
        notes: `added ${perHop.toFixed(2)} ms per hop; ${c.n} calls each side`,
      });
    }
    // CPU per call: everything runs in this process, so (gateway run − direct run) / 2 hops.
    const gwPerCall = Math.max(1e-9, (c.cpuGw - c.cpuBase) / c.n / 2);
    const basePerCall = c.cpuBase / c.n;
    results.push({
      name: "gateway CPU per call per hop",
      subject: "gateway hop",
      baseline: "MCP client + server's own cost per call",
      unit: "calls/CPU-s",
      subjectValue: 1000 / gwPerCall,
      baselineValue: 1000 / basePerCall,
      ratio: 1000 / gwPerCall / (1000 / basePerCall),
      target: "≥ 10,000 calls per CPU-second per hop",
      met: 1000 / gwPerCall >= 10_000,
      notes: `process CPU ${c.cpuGw.toFixed(0)} vs ${c.cpuBase.toFixed(0)} ms over ${c.n} calls`,
    });
    return results;
  } finally {
    await h.close();
  }
}
