// CPU profile of the gateway processes themselves, per call: an outbound and an inbound gateway,
// each its own Node 24 process started with `--cpu-prof` and the memory environment the webhook
// injects (as the image runs them, from source so frames name their files), an MCP server behind
// them and MCP clients calling tools/call through outbound → mTLS → inbound, all in this process
// and all on 127.0.0.1. After a warm-up, the load runs until CALLS calls or MAX_MS, whichever comes
// first; each gateway's process CPU (/proc/<pid>/stat, every thread) is read at both ends of the
// load, and its main thread's profile is summarised over the same window (bench/cpuprofile.ts):
// µs per call by category of work, and the top functions by self and inclusive time.
//
//   npm run bench:profile                          16 connections, 4,000 calls or 60 s
//   npm run bench:profile -- --calls 2000 --connections 4 --interval 250 --keep /tmp/prof
//   npm run bench:profile -- --bundle              the image's esbuild bundle instead of the source
//   npm run bench:profile -- --json out.json       also write the summary as JSON
//   npm run bench:profile -- --no-profile          CPU per call only, without the profiler's overhead
//   npm run bench:profile -- --gateway-root DIR    the gateway of another checkout (A/B in one sitting)
//   npm run bench:profile -- --compare DIR         CPU per call of DIR's gateways and this tree's,
//                                                  loaded at the same time (same machine load), by rounds
//
// It measures; it asserts nothing. The driver shares the machine with the gateways, so calls per
// second depend on the machine: compare CPU per call, which does not.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { bundleComponent } from "../scripts/images/build.ts";
import { COMPONENT_IMAGES } from "../scripts/images/definitions.ts";
import { startMcpServer } from "../test/fixtures/gateway/mcp-server.ts";
import { gatewayRuntimeEnv } from "../webhook/sidecar-config.ts";
import { type CpuProfile, gatewayCategories, type ProfileSummary, summarize } from "./cpuprofile.ts";
import { chartGatewayLimit, gatewayFiles, gatewayPorts, type Proc, startProcess } from "./rss.bench.ts";

const ROOT = resolve(import.meta.dirname, "..");
/** Hard bounds whatever the flags say. */
const MAX_CALLS = 200_000;
const MAX_LOAD_MS = 300_000;

const { values: flags } = parseArgs({
  options: {
    calls: { type: "string", default: "4000" },
    "max-ms": { type: "string", default: "60000" },
    connections: { type: "string", default: "16" },
    warmup: { type: "string", default: "20" },
    interval: { type: "string", default: "500" },
    "no-profile": { type: "boolean", default: false },
    top: { type: "string", default: "25" },
    bundle: { type: "boolean", default: false },
    keep: { type: "string" },
    "gateway-root": { type: "string" },
    compare: { type: "string" },
    rounds: { type: "string", default: "3" },
    json: { type: "string" },
  },
});
const num = (v: string | undefined, name: string, lo: number, hi: number): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < lo || n > hi)
    throw new Error(`--${name} must be an integer in [${lo}, ${hi}]`);
  return n;
};
const CALLS = num(flags.calls, "calls", 1, MAX_CALLS);
const LOAD_MS = num(flags["max-ms"], "max-ms", 100, MAX_LOAD_MS);
const CONNECTIONS = num(flags.connections, "connections", 1, 64);
const WARMUP = num(flags.warmup, "warmup", 0, 1000);
const INTERVAL_US = num(flags.interval, "interval", 50, 10_000);
const TOP = num(flags.top, "top", 1, 200);
const ROUNDS = num(flags.rounds, "rounds", 1, 20);

/** utime + stime in ms of a process (every thread), or of one of its threads. */
function cpuMs(pid: number, tid?: number): number {
  const stat = readFileSync(
    tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`,
    "utf8",
  );
  // Fields after the command name (which may hold spaces) start after the last ')'.
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(f[11]) + Number(f[12]);
  return (ticks * 1000) / 100; // USER_HZ is 100 on Linux
}

/** The V8 profiler's own thread: its CPU is the measurement's, not the gateway's. */
const PROFILER_THREAD = "v8:ProfEvntProc";

/** CPU ms per thread name (V8 workers, libuv pool, …) of a process, summed over same-named threads. */
function threadCpuMs(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim();
      const key = Number(tid) === pid ? "main" : name;
      out.set(key, (out.get(key) ?? 0) + cpuMs(pid, Number(tid)));
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

/** The monotonic clock V8 stamps profiles with, in µs. */
const monoUs = () => Number(process.hrtime.bigint() / 1000n);

interface Side {
  mode: "outbound" | "inbound";
  proc: Proc;
  profDir: string;
  /** Process CPU (all threads) and main-thread CPU, ms, at both ends of the load. */
  cpu0: number;
  cpu1: number;
  main0: number;
  main1: number;
  threads0: Map<string, number>;
  threads1: Map<string, number>;
}

async function drive(outboundURL: string) {
  const clients = await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      const c = new Client({ name: "bench-profile", version: "1" });
      await c.connect(new StreamableHTTPClientTransport(new URL(`${outboundURL}/servers/web-tools/mcp`)));
      return c;
    }),
  );
  const call = async (c: Client, q: string) => {
    const r = await c.callTool({ name: "search", arguments: { q } });
    if (r.isError) throw new Error(`tools/call failed through the gateways: ${JSON.stringify(r.content)}`);
  };
  return {
    warmup: () =>
      Promise.all(
        clients.map(async (c, k) => {
          for (let i = 0; i < WARMUP; i++) await call(c, `w${k}-${i}`);
        }),
      ),
    load: async () => {
      const t0 = performance.now();
      let calls = 0;
      await Promise.all(
        clients.map(async (c, k) => {
          while (calls < CALLS && performance.now() - t0 < LOAD_MS) {
            calls++;
            await call(c, `c${k}-${calls}`);
          }
        }),
      );
      return { calls, ms: performance.now() - t0 };
    },
    close: () => Promise.all(clients.map((c) => c.close().catch(() => {}))),
  };
}

function readProfile(dir: string): CpuProfile {
  const files = readdirSync(dir).filter((f) => f.endsWith(".cpuprofile"));
  if (files.length !== 1) throw new Error(`expected one .cpuprofile in ${dir}, found ${files.length}`);
  return JSON.parse(readFileSync(join(dir, files[0]!), "utf8")) as CpuProfile;
}

const us = (x: number) => x.toFixed(1).padStart(8);

/**
 * The profile's samples say where the main thread was; on a loaded machine a sample also lands
 * while the thread waits for a core, so time per category is its share of the busy samples times
 * the main thread's measured CPU, not the samples' wall time.
 */
function printSide(mode: string, calls: number, cpu: { process: number; main: number }, s: ProfileSummary) {
  const mainUs = (cpu.main * 1000) / calls;
  const perCall = (v: number) => (v / Math.max(1, s.busyUs)) * mainUs;
  const pct = (v: number) => `${((100 * v) / Math.max(1, s.busyUs)).toFixed(1).padStart(5)}%`;
  console.log(`\n=== ${mode} gateway: ${calls} calls ===`);
  console.log(
    `process CPU (all threads but the profiler's): ${((cpu.process * 1000) / calls).toFixed(1)} µs/call → ${Math.round(
      calls / (cpu.process / 1000),
    )} calls per CPU-second; main thread ${mainUs.toFixed(1)} µs/call, other threads (GC helpers, libuv pool: file writes, fdatasync) ${(((cpu.process - cpu.main) * 1000) / calls).toFixed(1)} µs/call`,
  );
  console.log(
    `main thread sampled busy ${((100 * s.busyUs) / Math.max(1, s.windowUs)).toFixed(0)}% of the load window`,
  );
  console.log("\n  µs/call  share  category (main thread)");
  for (const c of s.categories) console.log(`${us(perCall(c.us))}  ${pct(c.us)}  ${c.key}`);
  console.log(`\n  µs/call  share  top ${TOP} by self time`);
  for (const f of s.self.slice(0, TOP)) console.log(`${us(perCall(f.us))}  ${pct(f.us)}  ${f.key}`);
  console.log(`\n  µs/call  share  top ${TOP} project functions by inclusive time`);
  for (const f of s.inclusive.filter((x) => /\((gateway|lib|api)\//.test(x.key)).slice(0, TOP))
    console.log(`${us(perCall(f.us))}  ${pct(f.us)}  ${f.key}`);
  return perCall;
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), "warden-gateway-profile-"));
  const procs: Proc[] = [];
  const mcp = await startMcpServer({ jsonResponse: true });
  try {
    const limit = chartGatewayLimit();
    const injected = Object.fromEntries(gatewayRuntimeEnv(limit).map((e) => [e.name, e.value]));
    // Another checkout's gateway (A/B against a baseline commit in the same conditions).
    const gatewayRoot = resolve(flags["gateway-root"] ?? ROOT);
    let entry = join(gatewayRoot, "gateway", "main.ts");
    if (flags.bundle) {
      const gw = COMPONENT_IMAGES.find((i) => i.name === "gateway")!;
      const built = await bundleComponent(
        gw,
        join(work, "app"),
        ROOT,
        Number(process.versions.node.split(".")[0]),
      );
      entry = built.outfile;
    }
    mkdirSync(join(work, "files"));
    const files = await gatewayFiles(join(work, "files"), mcp.url);
    // The audit log on a volume of its own, as the injected sidecar has it (writes beside the
    // policy and SVID files would wake their directory watchers on every batch).
    mkdirSync(join(work, "audit"));
    files.inbound.WARDEN_AUDIT_FILE = join(work, "audit", "inbound-audit.jsonl");
    const auditOf = (env: Record<string, string>) => ({
      ...env,
      WARDEN_AUDIT_FILE: join(work, "audit", "outbound-audit.jsonl"),
    });
    const start = (mode: "outbound" | "inbound", env: Record<string, string>): Side => {
      const profDir = join(work, `prof-${mode}`);
      mkdirSync(profDir);
      const prof = flags["no-profile"]
        ? []
        : ["--cpu-prof", `--cpu-prof-dir=${profDir}`, `--cpu-prof-interval=${INTERVAL_US}`];
      const proc = startProcess([...prof, entry], { NODE_ENV: "production", ...injected, ...env });
      procs.push(proc);
      return {
        mode,
        proc,
        profDir,
        cpu0: 0,
        cpu1: 0,
        main0: 0,
        main1: 0,
        threads0: new Map(),
        threads1: new Map(),
      };
    };
    const inbound = start("inbound", files.inbound);
    const inPorts = await gatewayPorts(inbound.proc, "inbound");
    const outbound = start("outbound", auditOf(files.outbound(`https://127.0.0.1:${inPorts.listen}`)));
    const outPorts = await gatewayPorts(outbound.proc, "outbound");
    const sides = [outbound, inbound];

    const d = await drive(`http://127.0.0.1:${outPorts.listen}`);
    await d.warmup();
    const load0 = loadavg();
    const fromUs = monoUs();
    for (const s of sides) {
      s.cpu0 = cpuMs(s.proc.pid);
      s.main0 = cpuMs(s.proc.pid, s.proc.pid);
      s.threads0 = threadCpuMs(s.proc.pid);
    }
    const { calls, ms } = await d.load();
    for (const s of sides) {
      s.cpu1 = cpuMs(s.proc.pid);
      s.main1 = cpuMs(s.proc.pid, s.proc.pid);
      s.threads1 = threadCpuMs(s.proc.pid);
    }
    const toUs = monoUs();
    const load1 = loadavg();
    await d.close();
    // SIGTERM: the gateway drains and exits, and Node writes the profile on exit.
    for (const s of sides) await s.proc.stop();

    console.log(
      `gateway profile: ${calls} tools/call in ${(ms / 1000).toFixed(1)} s (${Math.round((calls / ms) * 1000)}/s) over ${CONNECTIONS} connections, ` +
        `${flags.bundle ? "image bundle" : "source"}, sampling every ${INTERVAL_US} µs; ` +
        `load average ${load0.map((l) => l.toFixed(2)).join(" ")} before, ${load1.map((l) => l.toFixed(2)).join(" ")} after`,
    );
    const out: Record<string, unknown> = {
      calls,
      ms,
      connections: CONNECTIONS,
      loadavg: { before: load0, after: load1 },
      sides: {},
    };
    const rules = gatewayCategories(gatewayRoot);
    for (const s of sides) {
      if (flags["no-profile"]) {
        const cpu = s.cpu1 - s.cpu0;
        console.log(
          `${s.mode}: process CPU ${((cpu * 1000) / calls).toFixed(1)} µs/call → ${Math.round(calls / (cpu / 1000))} calls per CPU-second (main thread ${(((s.main1 - s.main0) * 1000) / calls).toFixed(1)} µs/call)`,
        );
        (out.sides as Record<string, unknown>)[s.mode] = {
          processCpuMs: cpu,
          mainThreadCpuMs: s.main1 - s.main0,
          callsPerCpuSecond: calls / (cpu / 1000),
        };
        continue;
      }
      const profile = readProfile(s.profDir);
      // The profile and this process read the same monotonic clock: check that before trusting it.
      if (profile.startTime > fromUs || profile.endTime < toUs)
        throw new Error(
          `the ${s.mode} profile (${profile.startTime}–${profile.endTime} µs) does not cover the load window (${fromUs}–${toUs} µs)`,
        );
      const summary = summarize(profile, { root: gatewayRoot, rules, fromUs, toUs });
      const profiler = (s.threads1.get(PROFILER_THREAD) ?? 0) - (s.threads0.get(PROFILER_THREAD) ?? 0);
      const cpu = { process: s.cpu1 - s.cpu0 - profiler, main: s.main1 - s.main0 };
      const perCall = printSide(s.mode, calls, cpu, summary);
      const threads = [...s.threads1.entries()]
        .map(([name, ms]) => ({ name, usPerCall: ((ms - (s.threads0.get(name) ?? 0)) * 1000) / calls }))
        .filter((t) => t.usPerCall > 0)
        .sort((a, b) => b.usPerCall - a.usPerCall);
      console.log("\n  µs/call  thread (process CPU by thread name)");
      for (const t of threads) console.log(`${us(t.usPerCall)}  ${t.name}`);
      (out.sides as Record<string, unknown>)[s.mode] = {
        processCpuMs: cpu.process,
        mainThreadCpuMs: cpu.main,
        processCpuUsPerCall: (cpu.process * 1000) / calls,
        threads,
        callsPerCpuSecond: calls / (cpu.process / 1000),
        categories: summary.categories.map((c) => ({ category: c.key, usPerCall: perCall(c.us) })),
        self: summary.self.slice(0, TOP).map((f) => ({ fn: f.key, usPerCall: perCall(f.us) })),
        inclusive: summary.inclusive.slice(0, TOP * 2).map((f) => ({ fn: f.key, usPerCall: perCall(f.us) })),
      };
    }
    if (flags.json) writeFileSync(flags.json, `${JSON.stringify(out, null, 2)}\n`);
    if (flags.keep) {
      mkdirSync(flags.keep, { recursive: true });
      for (const s of sides)
        for (const f of readdirSync(s.profDir))
          writeFileSync(join(flags.keep, `${s.mode}.cpuprofile`), readFileSync(join(s.profDir, f)));
      console.log(`\nprofiles kept in ${flags.keep} (open in Chrome DevTools or speedscope)`);
    }
  } finally {
    for (const p of procs) await p.stop().catch(() => {});
    await mcp.close();
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * A/B under the same load: a baseline checkout's outbound + inbound gateways and this tree's, each
 * pair driven by its own 16 clients, both loads running at once, round after round. The machine's
 * other load then weighs on both alike; CPU per call is compared within each round.
 */
async function compare(baseRoot: string): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), "warden-gateway-compare-"));
  const procs: Proc[] = [];
  const mcp = await startMcpServer({ jsonResponse: true });
  try {
    const injected = Object.fromEntries(gatewayRuntimeEnv(chartGatewayLimit()).map((e) => [e.name, e.value]));
    const pairs: {
      label: string;
      sides: { mode: string; pid: number }[];
      d: Awaited<ReturnType<typeof drive>>;
    }[] = [];
    for (const [i, [label, root]] of (
      [
        ["baseline", resolve(baseRoot)],
        ["this tree", ROOT],
      ] as const
    ).entries()) {
      const dir = join(work, `pair-${i}`);
      mkdirSync(join(dir, "files"), { recursive: true });
      mkdirSync(join(dir, "audit"));
      const files = await gatewayFiles(join(dir, "files"), mcp.url);
      const entry = join(root, "gateway", "main.ts");
      const env = { NODE_ENV: "production", ...injected };
      const inbound = startProcess([entry], {
        ...env,
        ...files.inbound,
        WARDEN_AUDIT_FILE: join(dir, "audit", "inbound.jsonl"),
      });
      procs.push(inbound);
      const inPorts = await gatewayPorts(inbound, `${label} inbound`);
      const outbound = startProcess([entry], {
        ...env,
        ...files.outbound(`https://127.0.0.1:${inPorts.listen}`),
        WARDEN_AUDIT_FILE: join(dir, "audit", "outbound.jsonl"),
      });
      procs.push(outbound);
      const outPorts = await gatewayPorts(outbound, `${label} outbound`);
      const d = await drive(`http://127.0.0.1:${outPorts.listen}`);
      await d.warmup();
      pairs.push({
        label,
        sides: [
          { mode: "outbound", pid: outbound.pid },
          { mode: "inbound", pid: inbound.pid },
        ],
        d,
      });
    }
    console.log(
      `compare: ${CONNECTIONS} connections per pair, up to ${CALLS} calls per pair per round, ${ROUNDS} rounds; baseline ${resolve(baseRoot)}`,
    );
    const perCall: Record<string, number[]> = {};
    for (let round = 1; round <= ROUNDS; round++) {
      const before = pairs.map((p) => p.sides.map((s) => cpuMs(s.pid)));
      const load0 = loadavg()[0]!;
      const runs = await Promise.all(pairs.map((p) => p.d.load()));
      const after = pairs.map((p) => p.sides.map((s) => cpuMs(s.pid)));
      const line: string[] = [];
      pairs.forEach((p, i) => {
        p.sides.forEach((s, j) => {
          const us = ((after[i]![j]! - before[i]![j]!) * 1000) / runs[i]!.calls;
          const key = `${p.label} ${s.mode}`;
          perCall[key] = [...(perCall[key] ?? []), us];
          line.push(
            `${key} ${us.toFixed(0)} µs/call (${runs[i]!.calls} calls, ${Math.round((runs[i]!.calls / runs[i]!.ms) * 1000)}/s)`,
          );
        });
      });
      console.log(`round ${round} (load average ${load0.toFixed(2)}): ${line.join("; ")}`);
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    for (const mode of ["outbound", "inbound"]) {
      const b = median(perCall[`baseline ${mode}`]!);
      const t = median(perCall[`this tree ${mode}`]!);
      console.log(
        `${mode}: baseline ${b.toFixed(0)} µs/call (${Math.round(1e6 / b)} calls/CPU-s), this tree ${t.toFixed(0)} µs/call (${Math.round(1e6 / t)} calls/CPU-s): ${(b / t).toFixed(2)}× (medians of ${ROUNDS} rounds)`,
      );
    }
    await Promise.all(pairs.map((p) => p.d.close()));
  } finally {
    for (const p of procs) await p.stop().catch(() => {});
    await mcp.close();
    rmSync(work, { recursive: true, force: true });
  }
}

if (flags.compare) await compare(flags.compare);
else await main();
