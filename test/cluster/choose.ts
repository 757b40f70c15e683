// Which cluster tests and the demo use: KUBECONFIG if set, else the local control plane (reused when
// `npm run cluster:up` left one running). There is no container-engine branch: docs/adr/0012 says why.
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { join } from "node:path";
import { cacheDir, defaultStateDir, startLocalCluster } from "./local-cluster.ts";

export interface Cluster {
  source: "kubeconfig" | "local" | "local-reused";
  kubeconfig: string;
  /** kubectl matching the server: [binary, ...leading args]. */
  kubectl: string[];
  /** Stops what this call started; a no-op for clusters it only connected to. */
  stop(): Promise<void>;
}

export async function chooseCluster(log: (line: string) => void = console.error): Promise<Cluster> {
  const fromEnv = process.env.KUBECONFIG;
  if (fromEnv) {
    log(`[cluster] using KUBECONFIG=${fromEnv}`);
    return {
      source: "kubeconfig",
      kubeconfig: fromEnv,
      kubectl: kubectlFromEnv(),
      stop: async () => {},
    };
  }
  const reused = await reuseRunningLocalCluster();
  if (reused) {
    log(`[cluster] reusing the local control plane at ${reused.kubeconfig}`);
    return reused;
  }
  mkdirSync(join(cacheDir(), "runs"), { recursive: true });
  const dir = await mkdtemp(join(cacheDir(), "runs", "cluster-"));
  const running = await startLocalCluster(dir, { log });
  return {
    source: "local",
    kubeconfig: running.kubeconfig,
    kubectl: running.kubectl,
    stop: async () => {
      await running.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * KUBECTL names the kubectl to use: a binary, or a JSON array of the binary and its leading
 * arguments (the local control plane's multi-call binary is `["<bin>", "kubectl"]`).
 */
function kubectlFromEnv(): string[] {
  const v = process.env.KUBECTL;
  if (!v) return ["kubectl"];
  if (v.startsWith("[")) {
    const parsed: unknown = JSON.parse(v);
    if (!Array.isArray(parsed) || parsed.length === 0 || !parsed.every((x) => typeof x === "string")) {
      throw new Error(
        `KUBECTL must be a binary or a JSON array of strings, e.g. ["/path/bin","kubectl"]; got ${v}`,
      );
    }
    return parsed;
  }
  return [v];
}

/** A cluster left by `npm run cluster:up` whose API server still answers. */
async function reuseRunningLocalCluster(): Promise<Cluster | undefined> {
  const dir = defaultStateDir();
  const kubeconfig = join(dir, "kubeconfig");
  const infoFile = join(dir, "cluster.json");
  if (!existsSync(kubeconfig) || !existsSync(infoFile)) return undefined;
  const info = JSON.parse(readFileSync(infoFile, "utf8")) as { kubectl: string[]; pid: number };
  try {
    process.kill(info.pid, 0);
  } catch {
    return undefined;
  }
  return { source: "local-reused", kubeconfig, kubectl: info.kubectl, stop: async () => {} };
}
