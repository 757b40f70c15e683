// npm run cluster:up — starts a local cluster in the background under .cache/cluster and prints the
// kubeconfig path: the control plane plus a real node (test/cluster/node.ts) where this machine can
// run one, else the control plane alone, saying why. `npm run cluster:down` stops either. Tests and
// the demo reuse it. `--control-plane-only` skips the node.
import { copyFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { defaultStateDir, startLocalCluster } from "./local-cluster.ts";
import { nodeSupport, startNodeCluster } from "./node.ts";

const dir = defaultStateDir();
const infoFile = join(dir, "cluster.json");
if (existsSync(infoFile)) {
  const { pid } = JSON.parse(readFileSync(infoFile, "utf8")) as { pid: number };
  let running = true;
  try {
    process.kill(pid, 0);
  } catch {
    running = false;
  }
  if (running) {
    console.log(`a local cluster is already running (pid ${pid}); \`npm run cluster:down\` stops it`);
    console.log(`export KUBECONFIG=${join(dir, "kubeconfig")}`);
    process.exit(0);
  }
}

const support = process.argv.includes("--control-plane-only")
  ? ({ ok: false, why: "--control-plane-only was given" } as const)
  : nodeSupport();
if (support.ok) {
  const node = await startNodeCluster({ dir, log: (l) => console.error(l) });
  const kubeconfig = join(dir, "kubeconfig");
  copyFileSync(node.kubeconfig, kubeconfig);
  const status = JSON.parse(readFileSync(join(dir, "status.json"), "utf8")) as { pid: number };
  writeFileSync(
    infoFile,
    JSON.stringify({
      kind: "node",
      pid: status.pid,
      kubectl: node.kubectl,
      netns: node.netns,
      timings: node.timings,
    }),
  );
  console.log(`export KUBECONFIG=${kubeconfig}`);
  console.log(`kubectl: ${node.kubectl.join(" ")}`);
  console.log(`node: ${node.nodeName} (${node.nodeIP}) in network namespace ${node.netns}`);
  console.log(`containerd: ${node.containerdSocket} (ctr --address ... -n k8s.io images import FILE)`);
} else {
  console.error(
    `[cluster] no node on this machine: ${support.why}. Starting the control plane alone (pods will not run).`,
  );
  const running = await startLocalCluster(dir, { detached: true });
  writeFileSync(
    infoFile,
    JSON.stringify({ kind: "control-plane", pid: running.process.pid, kubectl: running.kubectl }),
  );
  running.process.unref();
  console.log(`export KUBECONFIG=${running.kubeconfig}`);
  console.log(`kubectl: ${running.kubectl.join(" ")}`);
}
process.exit(0);
