// npm run bench — runs every bench/*.bench.ts and prints one table. Each benchmark measures its
// subject AND a baseline in the same run and reports the ratio: absolute numbers depend on the
// machine, ratios much less so. Nothing here asserts on time.
import { readdirSync } from "node:fs";
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
  notes?: string;
}

const dir = dirname(fileURLToPath(import.meta.url));
const only = process.argv[2];
const files = readdirSync(dir)
  .filter((f) => f.endsWith(".bench.ts"))
  .filter((f) => !only || f.includes(only))
  .sort();
const results: BenchResult[] = [];
for (const f of files) {
  console.error(`[bench] ${f}`);
  const mod = (await import(pathToFileURL(join(dir, f)).href)) as { run: () => Promise<BenchResult[]> };
  results.push(...(await mod.run()));
}
for (const r of results) {
  console.log(
    `${r.name}: ${r.subject} ${r.subjectValue.toFixed(2)} ${r.unit} vs ${r.baseline} ${r.baselineValue.toFixed(2)} ${r.unit} -> ratio ${r.ratio.toFixed(2)}x${r.notes ? ` (${r.notes})` : ""}`,
  );
}
console.log(JSON.stringify(results, null, 2));
