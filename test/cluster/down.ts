// npm run cluster:down — stops the cluster started by `npm run cluster:up` (control plane alone, or
// with its node: then nothing is left behind, and what would be is listed); with --purge also
// deletes its etcd data and certificates.
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { defaultStateDir } from "./local-cluster.ts";
import { isClean } from "./node/sweep.ts";
import { stopNodeClusterAt } from "./node.ts";

const dir = defaultStateDir();
const infoFile = join(dir, "cluster.json");
let failed = false;
if (existsSync(join(dir, "node.json"))) {
  // Also after a crashed or SIGKILLed `cluster:up`: the node's record says what to remove.
  const left = await stopNodeClusterAt(dir, (l) => console.error(l));
  if (!isClean(left)) {
    console.error(`cluster:down could not remove everything: ${JSON.stringify(left)}`);
    failed = true;
  }
  rmSync(infoFile, { force: true });
  rmSync(join(dir, "kubeconfig"), { force: true });
  rmSync(join(dir, "node.json"), { force: true });
  console.log("stopped the local cluster and its node");
} else if (!existsSync(infoFile)) {
  console.log("no local cluster is running (nothing in .cache/cluster)");
} else {
  const { pid } = JSON.parse(readFileSync(infoFile, "utf8")) as { pid: number };
  try {
    process.kill(pid, "SIGTERM");
    for (let i = 0; i < 100; i++) {
      process.kill(pid, 0);
      await new Promise((r) => setTimeout(r, 200));
    }
    process.kill(pid, "SIGKILL");
  } catch {
    // gone
  }
  rmSync(infoFile, { force: true });
  console.log(`stopped the local control plane (pid ${pid})`);
}
if (process.argv.includes("--purge")) {
  rmSync(dir, { recursive: true, force: true });
  console.log(`removed ${dir}`);
}
process.exit(failed ? 1 : 0);
