import { readFileSync } from "node:fs";
import { type CpuProfile, frameKey } from "./cpuprofile.ts";

const [file, root, leafName, depth] = process.argv.slice(2);
const p = JSON.parse(readFileSync(file!, "utf8")) as CpuProfile;
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const paths = new Map<string, number>();
let tot = 0;
for (let i = 0; i < p.samples.length - 1; i++) {
  const dur = p.timeDeltas[i + 1]!;
  const st = [];
  for (let at: number | undefined = p.samples[i]; at !== undefined; at = parent.get(at)) {
    const n = byId.get(at)!;
    if (n.callFrame.functionName !== "(root)") st.push(n.callFrame);
  }
  if (!st[0] || frameKey(st[0], root!) !== leafName) continue;
  tot += dur;
  const k = st
    .slice(1, 1 + Number(depth ?? 6))
    .map((f) => frameKey(f, root!))
    .join(" < ");
  paths.set(k, (paths.get(k) ?? 0) + dur);
}
console.log("total", tot);
for (const [k, v] of [...paths].sort((a, b) => b[1] - a[1]).slice(0, 12))
  console.log(((100 * v) / tot).toFixed(1), k);
