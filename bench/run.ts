// npm run bench — runs every bench/*.bench.ts and prints one table. Each benchmark measures its
// subject AND a baseline in the same run and reports the ratio: absolute numbers depend on the
// machine (and on what else it runs), ratios much less so. Nothing here asserts on time.
//
//   npm run bench                 full sizes; writes bench/results/latest.json and the table in
//                                 docs/performance.md (between the BENCH markers)
//   npm run bench -- audit        only benchmarks whose file name contains "audit"
//   npm run bench:smoke           tiny sizes, writes nothing: proves every benchmark still runs

import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export interface BenchResult {
  name: string;
  subject: string;
  baseline: string;
  unit: string;
  subjectValue: number;
  baselineValue: number;
  /** subject / baseline, oriented so that > 1 means the subject is better. */
  ratio: number;
  /** The issue-16 target this row is judged against, in words, and whether the figure meets it. */
  target?: string;
  met?: boolean;
  notes?: string;
}

export interface BenchOptions {
  /** Tiny sizes: prove the benchmark runs, measure nothing worth reading. */
  smoke: boolean;
}

export interface BenchModule {
  run(opts: BenchOptions): Promise<BenchResult[]>;
}

const dir = dirname(fileURLToPath(import.meta.url));

export function machine() {
  const c = cpus();
  return {
    cpu: c[0]?.model ?? "unknown",
    cores: c.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${process.platform}/${process.arch}`,
    loadavgAtStart: loadavg().map((l) => Math.round(l * 100) / 100),
  };
}

const fmt = (v: number) =>
  !Number.isFinite(v)
    ? String(v)
    : Math.abs(v) >= 100
      ? v.toFixed(0)
      : Math.abs(v) >= 10
        ? v.toFixed(1)
        : v.toFixed(2);

export function markdownTable(results: BenchResult[]): string {
  const rows = results.map(
    (r) =>
      `| ${r.name} | ${r.subject}: **${fmt(r.subjectValue)}** ${r.unit} | ${r.baseline}: ${fmt(r.baselineValue)} ${r.unit} | ${r.ratio.toFixed(2)}× | ${r.target ?? ""}${r.met === undefined ? "" : r.met ? " — met" : " — **missed**"} | ${r.notes ?? ""} |`,
  );
  return [
    "| row | subject | baseline (same run) | ratio (>1 = subject better) | target | notes |",
    "|---|---|---|---|---|---|",
    ...rows,
  ].join("\n");
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const smoke = args.includes("--smoke");
  const only = args.find((a) => !a.startsWith("--"));
  const files = readdirSync(dir)
    .filter((f) => f.endsWith(".bench.ts"))
    .filter((f) => !only || f.includes(only))
    .sort();
  const started = new Date();
  const m = machine();
  const results: BenchResult[] = [];
  for (const f of files) {
    console.error(`[bench] ${f}${smoke ? " (smoke)" : ""}`);
    const mod = (await import(pathToFileURL(join(dir, f)).href)) as BenchModule;
    results.push(...(await mod.run({ smoke })));
  }
  for (const r of results) {
    console.log(
      `${r.name}: ${r.subject} ${fmt(r.subjectValue)} ${r.unit} vs ${r.baseline} ${fmt(r.baselineValue)} ${r.unit} -> ratio ${r.ratio.toFixed(2)}x${r.met === undefined ? "" : r.met ? " [target met]" : " [target missed]"}${r.notes ? ` (${r.notes})` : ""}`,
    );
  }
  if (smoke) {
    const bad = results.filter((r) => !Number.isFinite(r.subjectValue) || !Number.isFinite(r.baselineValue));
    if (bad.length > 0) {
      console.error(`[bench] smoke: non-finite figures in ${bad.map((r) => r.name).join(", ")}`);
      process.exit(1);
    }
    return;
  }
  const report = { started: started.toISOString(), machine: m, loadavgAtEnd: loadavg(), results };
  const out = join(dir, "results", "latest.json");
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  console.error(`[bench] wrote ${out}`);
  if (!only) {
    const doc = join(dir, "..", "docs", "performance.md");
    const text = readFileSync(doc, "utf8");
    const begin = "<!-- BENCH:BEGIN -->";
    const end = "<!-- BENCH:END -->";
    const a = text.indexOf(begin);
    const b = text.indexOf(end);
    if (a >= 0 && b > a) {
      const body = [
        begin,
        `Run ${report.started} on ${m.cores}× ${m.cpu}, ${m.memoryGiB} GiB, Node ${m.node}; load average ${m.loadavgAtStart.join(" / ")} at start (the machine is shared: read the ratios).`,
        "",
        markdownTable(results),
        end,
      ].join("\n");
      writeFileSync(doc, text.slice(0, a) + body + text.slice(b + end.length));
      console.error(`[bench] updated ${doc}`);
    }
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await main();
