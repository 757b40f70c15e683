// Vitest global setup for integration tests: one real kube-apiserver for the whole run, chosen by
// test/cluster/choose.ts, handed to the test files through provide/inject.
import type { TestProject } from "vitest/node";
import { type Cluster, chooseCluster } from "../cluster/choose.ts";
import { installCrds } from "../cluster/install-crds.ts";

let cluster: Cluster | undefined;

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
