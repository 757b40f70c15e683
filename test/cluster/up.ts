// npm run cluster:up — starts the local control plane in the background under .cache/cluster and
// prints the kubeconfig path. `npm run cluster:down` stops it. Tests and the demo reuse it.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { defaultStateDir, startLocalCluster } from "./local-cluster.ts";

const dir = defaultStateDir();
const running = await startLocalCluster(dir, { detached: true });
writeFileSync(
  join(dir, "cluster.json"),
  JSON.stringify({ pid: running.process.pid, kubectl: running.kubectl }),
);
running.process.unref();
console.log(`export KUBECONFIG=${running.kubeconfig}`);
console.log(`kubectl: ${running.kubectl.join(" ")}`);
process.exit(0);
