// Installs crds/*.yaml into a cluster the way a user would; shared by the test setup and the demo.
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import type { Cluster } from "./choose.ts";

export const CRD_DIR = join(import.meta.dirname, "..", "..", "crds");

/**
 * Installs crds/*.yaml the way a user would (server-side apply with the cluster's own kubectl) and
 * waits until the API server serves them, so every integration test file can use the kinds.
 * Re-applying to a reused cluster is idempotent and picks up schema changes.
 */
export function installCrds(c: Pick<Cluster, "kubectl" | "kubeconfig">, log: (line: string) => void): void {
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
