// Vitest global setup for integration tests: one real kube-apiserver for the whole run, chosen by
// test/cluster/choose.ts, handed to the test files through provide/inject.
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { type Cluster, chooseCluster } from "../cluster/choose.ts";

let cluster: Cluster | undefined;

const CRD_DIR = join(import.meta.dirname, "..", "..", "crds");

/**
 * Installs crds/*.yaml the way a user would (server-side apply with the cluster's own kubectl) and
 * waits until the API server serves them, so every integration test file can use the kinds.
 * Re-applying to a reused cluster is idempotent and picks up schema changes.
 */
function installCrds(c: Cluster, log: (line: string) => void): void {
  const files = readdirSync(CRD_DIR).filter((f) => f.endsWith(".yaml"));
  if (files.length === 0) throw new Error(`no CRDs in ${CRD_DIR}: run \`npm run crds\``);
  const [bin, ...lead] = c.kubectl;
  const kubectl = (args: string[]) => {
    const r = spawnSync(bin!, [...lead, `--kubeconfig=${c.kubeconfig}`, ...args], {
      encoding: "utf8",
      timeout: 120_000,
    });
    if (r.status !== 0) {
      throw new Error(
        `kubectl ${args.join(" ")} failed (exit ${r.status}):\n${r.stderr || r.stdout || r.error}`,
      );
    }
    return r.stdout;
  };
  const started = Date.now();
  kubectl([
    "apply",
    "--server-side",
    "--force-conflicts",
    "--field-manager=agent-warden-tests",
    "-f",
    CRD_DIR,
  ]);
  const names = files.map((f) => `crd/${f.replace(/\.yaml$/, "")}`);
  kubectl(["wait", "--for=condition=Established", "--timeout=60s", ...names]);
  log(`[cluster] installed ${files.length} CRDs from crds/ in ${Date.now() - started} ms`);
}

export async function setup(project: TestProject): Promise<void> {
  cluster = await chooseCluster((line) => console.error(line));
  try {
    installCrds(cluster, (line) => console.error(line));
  } catch (err) {
    await cluster.stop(); // vitest skips teardown when setup throws
    throw err;
  }
  project.provide("kubeconfig", cluster.kubeconfig);
  project.provide("kubectl", cluster.kubectl);
  project.provide("clusterSource", cluster.source);
}

export async function teardown(): Promise<void> {
  await cluster?.stop();
}

declare module "vitest" {
  export interface ProvidedContext {
    kubeconfig: string;
    kubectl: string[];
    clusterSource: string;
  }
}
