// npm run demo — the whole story on a real control plane, one command.
//   npm run demo            interactive: keeps everything running until Ctrl-C
//   npm run demo -- --ci    bounded run for CI: every step, then a clean shutdown
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { type Cluster, chooseCluster } from "../test/cluster/choose.ts";
import { installCrds } from "../test/cluster/install-crds.ts";
import { PROJECT_ROOT } from "../test/cluster/local-cluster.ts";

const ci = process.argv.includes("--ci");
const SAMPLES = join(PROJECT_ROOT, "manifests", "samples");
const NAMESPACE = "agents-demo";

const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const step = (n: number, title: string) => console.log(`\n${bold(`[${n}] ${title}`)}`);

function kubectl(cluster: Cluster, args: string[], opts: { allowFail?: boolean } = {}): string {
  const [bin, ...lead] = cluster.kubectl;
  const r = spawnSync(bin!, [...lead, `--kubeconfig=${cluster.kubeconfig}`, ...args], {
    encoding: "utf8",
    timeout: 120_000,
  });
  if (r.status !== 0 && !opts.allowFail) {
    throw new Error(`kubectl ${args.join(" ")} failed:\n${r.stderr || r.stdout}`);
  }
  return (r.stdout || "") + (r.status !== 0 ? r.stderr : "");
}

const summary: string[] = [];
let cluster: Cluster | undefined;
let shuttingDown = false;

async function shutdown(code: number): Promise<never> {
  if (!shuttingDown) {
    shuttingDown = true;
    console.log("\nshutting down…");
    await cluster?.stop();
  }
  process.exit(code);
}
process.on("SIGINT", () => void shutdown(130));
process.on("SIGTERM", () => void shutdown(143));

try {
  const started = Date.now();
  step(1, "Local control plane (kube-apiserver + etcd + kube-controller-manager, Kubernetes v1.36)");
  cluster = await chooseCluster((line) => console.log(`    ${line}`));
  console.log(`    kubeconfig: ${cluster.kubeconfig}`);
  console.log(
    `    ${kubectl(cluster, ["version"])
      .trim()
      .split("\n")
      .filter((l) => !l.startsWith("Kustomize"))
      .join(" / ")}`,
  );

  step(2, "Install the CRDs (AgentEnclave, AgentIdentity, ToolManifest)");
  installCrds(cluster, (line) => console.log(`    ${line}`));
  console.log(kubectl(cluster, ["get", "crd", "-o", "name"]).replace(/^/gm, "    "));

  step(3, `Apply the samples into namespace ${NAMESPACE}`);
  console.log(kubectl(cluster, ["apply", "--server-side", "-f", SAMPLES]).replace(/^/gm, "    "));

  step(4, "What the API server now holds");
  console.log(kubectl(cluster, ["get", "warden", "-n", NAMESPACE]).replace(/^/gm, "    "));

  step(5, "A spec the API server refuses (SVID TTL outside 5m-24h)");
  const bad = `apiVersion: warden.dev/v1alpha1
kind: AgentIdentity
metadata: {name: too-long-lived, namespace: ${NAMESPACE}}
spec: {enclave: research-lab, agentType: demo, svid: {ttl: 72h}}
`;
  const [bin, ...lead] = cluster.kubectl;
  const refused = spawnSync(bin!, [...lead, `--kubeconfig=${cluster.kubeconfig}`, "apply", "-f", "-"], {
    input: bad,
    encoding: "utf8",
  });
  console.log(`    ${(refused.stderr || refused.stdout).trim()}`);
  if (refused.status === 0) throw new Error("the API server accepted an AgentIdentity with svid.ttl 72h");

  summary.push(
    `control plane: ${cluster.source}`,
    "CRDs: 3 installed and Established",
    `samples: applied to ${NAMESPACE}`,
    "invalid spec: refused by the API server with the field named",
  );
  console.log(`\n${bold("Summary")} (${((Date.now() - started) / 1000).toFixed(1)}s)`);
  for (const line of summary) console.log(`  ✔ ${line}`);

  if (ci) await shutdown(0);
  console.log("\nEverything keeps running; press Ctrl-C to stop and clean up.");
  console.log(`Try: ${cluster.kubectl.join(" ")} --kubeconfig=${cluster.kubeconfig} get aid -n ${NAMESPACE}`);
  await new Promise(() => {});
} catch (err) {
  console.error(`\ndemo failed: ${err instanceof Error ? err.message : String(err)}`);
  await shutdown(1);
}
