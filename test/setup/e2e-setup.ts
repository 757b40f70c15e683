// Vitest global setup for the e2e tier: one real node cluster (test/cluster/node.ts) for the whole
// run, separate from the integration tier's control plane, handed to test files through
// provide/inject. Where this machine cannot run a node, it provides the reason instead, and the
// tests report it (test/e2e/node.test.ts): nothing is skipped silently.
import { mkdirSync, rmSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { cacheDir } from "../cluster/local-cluster.ts";
import { nodeLayout } from "../cluster/node/config.ts";
import { isClean } from "../cluster/node/sweep.ts";
import { type NodeCluster, nodeSupport, startNodeCluster } from "../cluster/node.ts";

let node: NodeCluster | undefined;

export interface ProvidedNode {
  dir: string;
  kubeconfig: string;
  kubectl: string[];
  nodeIP: string;
  nodeName: string;
  netns: string;
  /** kubelet's cgroupRoot, the same path under every cgroup v1 hierarchy (host-readable). */
  cgroupRoot: string;
  containerdSocket: string;
  ctr: string;
  timings: Record<string, number>;
}

export async function setup(project: TestProject): Promise<void> {
  const support = nodeSupport();
  if (!support.ok) {
    console.error(
      `[e2e] NO NODE ON THIS MACHINE: ${support.why}. The e2e tests report this and run nothing else.`,
    );
    project.provide("node", null);
    project.provide("noNodeReason", support.why);
    return;
  }
  mkdirSync(join(cacheDir(), "runs"), { recursive: true });
  const dir = await mkdtemp(join(cacheDir(), "runs", "node-"));
  try {
    node = await startNodeCluster({ dir, log: (line) => console.error(line) });
  } catch (err) {
    // Not thrown: every global setup runs before any test, so a throw here would also stop the unit
    // and integration tiers. The e2e tests fail instead, each naming this reason.
    const why = `the node failed to start: ${err instanceof Error ? err.message : String(err)}`;
    console.error(`[e2e] ${why}`);
    project.provide("node", null);
    project.provide("noNodeReason", why);
    return;
  }
  project.provide("node", {
    dir: node.dir,
    kubeconfig: node.kubeconfig,
    kubectl: node.kubectl,
    nodeIP: node.nodeIP,
    nodeName: node.nodeName,
    netns: node.netns,
    cgroupRoot: nodeLayout(node.id, node.dir).cgroupRoot,
    containerdSocket: node.containerdSocket,
    ctr: node.ctr,
    timings: node.timings,
  });
  project.provide("noNodeReason", "");
}

export async function teardown(): Promise<void> {
  if (!node) return;
  const left = await node.stop();
  // Fail the run loudly: a leak here would pile up on a developer's machine run after run.
  if (!isClean(left)) throw new Error(`the e2e node left things behind: ${JSON.stringify(left)}`);
  // Its work dir (etcd, containerd's content, logs: ~170 MB) goes too; a failed start keeps it.
  rmSync(node.dir, { recursive: true, force: true });
}

declare module "vitest" {
  export interface ProvidedContext {
    node: ProvidedNode | null;
    noNodeReason: string;
  }
}
