// npm run cluster:build — builds (or finds cached) the local control-plane binary; with --node, also
// every part of the real node (test/cluster/node/parts.ts), all in parallel. Each output has a build
// lock, so a test run started meanwhile waits for these builds instead of repeating them: .ci/run
// starts this in the background while the static checks run.
import { buildClusterBinary } from "./local-cluster.ts";
import { buildNodeParts } from "./node/parts.ts";

const started = Date.now();
const [bin, parts] = await Promise.all([
  buildClusterBinary(),
  process.argv.includes("--node") ? buildNodeParts() : Promise.resolve(undefined),
]);
console.log(bin);
if (parts) {
  for (const [name, dir] of Object.entries(parts.dirs)) console.log(`${name}: ${dir}`);
  console.log(`cold build seconds: ${JSON.stringify(parts.seconds)}`);
}
console.log(`done in ${Math.round((Date.now() - started) / 1000)}s`);
