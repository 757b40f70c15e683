// Added latency of the gateway: an allowed tools/call through outbound gateway → mTLS → inbound
// gateway → MCP server, against the same call made directly to the same MCP server, in the same
// run. Both sides use the official SDK client over Streamable HTTP with JSON responses, one
// session each, calls in sequence and interleaved. Bounded: at most CALLS calls or CAP_MS per side.
import { performance } from "node:perf_hooks";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { startHarness } from "../test/fixtures/gateway/harness.ts";
import type { BenchResult } from "./run.ts";

const CALLS = 500;
const CAP_MS = 10_000;
const WARMUP = 30;

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

export async function run(): Promise<BenchResult[]> {
  const h = await startHarness({ jsonResponse: true, auditCheckpointEvery: 1000 });
  try {
    const direct = new Client({ name: "bench-direct", version: "1" });
    await direct.connect(new StreamableHTTPClientTransport(new URL(`${h.mcp.url}/mcp`)));
    const viaGateway = await h.connect();
    const { base, gw } = await measure(direct, viaGateway);
    await direct.close();
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
        notes: `added ${(s - b).toFixed(2)} ms; ${gw.length} vs ${base.length} sequential calls`,
      });
    }
    return results;
  } finally {
    await h.close();
  }
}
