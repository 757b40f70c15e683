// Restarting the API server under a running operator: this test starts its OWN control plane (so
// that stopping it disturbs no one), stops it with SIGTERM and starts it again from the same
// directory (same ports, certificates, etcd data and credentials). The operator's informers must
// come back by themselves and the state must converge.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cacheDir, type RunningCluster, startLocalCluster } from "../cluster/local-cluster.ts";
import { run, uniqueName } from "../support/kube.ts";
import {
  installOperatorRBAC,
  ROOT,
  type RunningOperator,
  startOperator,
  waitFor,
} from "./operator-harness.ts";

const GROUP = "warden.dev";
const VERSION = "v1alpha1";
let cluster: RunningCluster;
let dir: string;
let op: RunningOperator | undefined;
let custom: k8s.CustomObjectsApi;
let ns: string;

const create = (plural: string, body: unknown) =>
  custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural, body });
const ready = async (plural: string, name: string) => {
  const o = (await custom.getNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace: ns,
    plural,
    name,
  })) as {
    status?: { conditions?: { type: string; status: string }[] };
  };
  return o.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
};
const identity = (name: string) => ({
  apiVersion: `${GROUP}/${VERSION}`,
  kind: "AgentIdentity",
  metadata: { name },
  spec: { enclave: "proj", agentType: "worker" },
});
const log = (line: string) => console.error(`[restart] ${line}`);

beforeAll(async () => {
  mkdirSync(join(cacheDir(), "runs"), { recursive: true });
  dir = mkdtempSync(join(cacheDir(), "runs", "operator-restart-"));
  cluster = await startLocalCluster(dir, { log });
  const [bin, ...lead] = cluster.kubectl;
  const crds = await run(bin!, [
    ...lead,
    `--kubeconfig=${cluster.kubeconfig}`,
    "apply",
    "--server-side",
    "-f",
    join(ROOT, "crds"),
  ]);
  if (crds.code !== 0) throw new Error(crds.stderr);
  await run(bin!, [
    ...lead,
    `--kubeconfig=${cluster.kubeconfig}`,
    "wait",
    "--for=condition=Established",
    "--timeout=60s",
    "crd",
    "--all",
  ]);
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(cluster.kubeconfig);
  custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  ns = uniqueName("restart");
  const opNs = uniqueName("warden-op");
  await core.createNamespace({ body: { metadata: { name: ns } } });
  await core.createNamespace({ body: { metadata: { name: opNs } } });
  const rbac = await installOperatorRBAC(cluster.kubeconfig, cluster.kubectl, opNs, uniqueName("r").slice(2));
  op = startOperator({
    kubeconfig: rbac.kubeconfig,
    namespace: opNs,
    enclaveClusterRole: rbac.enclaveClusterRole,
    watchNamespaces: [ns],
    instance: "restart-op",
    args: ["--identity=off"],
  });
}, 240_000);

afterAll(async () => {
  await op?.stop("SIGKILL");
  await cluster?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("API server restart", () => {
  it("the informers resume and the state converges", { timeout: 240_000 }, async () => {
    await waitFor("operator leads", async () => (await op!.metric("warden_operator_leader")) === 1, 60_000);
    await create("agentenclaves", {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: "AgentEnclave",
      metadata: { name: "proj" },
      spec: {},
    });
    for (let i = 0; i < 3; i++) await create("agentidentities", identity(`a-${i}`));
    await waitFor(
      "first agents Ready",
      async () =>
        (await Promise.all([0, 1, 2].map((i) => ready("agentidentities", `a-${i}`)))).every(Boolean),
      60_000,
    );

    // Stop the API server (and etcd) for a few seconds, then start it again from the same directory.
    const restartsBefore = await op!.metric("warden_operator_informer_restarts_total");
    await cluster.stop();
    log("control plane stopped");
    await new Promise((r) => setTimeout(r, 3_000));
    // startLocalCluster waits for DIR/kubeconfig; make sure a stale one cannot pass for readiness.
    rmSync(join(dir, "kubeconfig"), { force: true });
    cluster = await startLocalCluster(dir, { log });
    log("control plane started again");

    // The same process: past the renew deadline it stopped its controllers but kept its informers
    // and kept campaigning; the Lease still names it, so it leads again at the first renewal.
    expect(op!.process.exitCode).toBeNull();
    await waitFor(
      "operator leads again",
      async () => (await op!.metric("warden_operator_leader")) === 1,
      60_000,
    );
    expect(await op!.metric("warden_operator_informer_restarts_total")).toBeGreaterThan(restartsBefore);

    // New objects after the restart are seen (the watches are back) and converge.
    for (let i = 0; i < 3; i++) await create("agentidentities", identity(`b-${i}`));
    await waitFor(
      "agents created after the restart Ready",
      async () =>
        (await Promise.all([0, 1, 2].map((i) => ready("agentidentities", `b-${i}`)))).every(Boolean),
      90_000,
    );
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(cluster.kubeconfig);
    const net = kc.makeApiClient(k8s.NetworkingV1Api);
    await net.deleteNamespacedNetworkPolicy({ name: "warden-default-deny", namespace: ns });
    await waitFor(
      "NetworkPolicy restored after the restart",
      async () => {
        try {
          await net.readNamespacedNetworkPolicy({ name: "warden-default-deny", namespace: ns });
          return true;
        } catch {
          return false;
        }
      },
      60_000,
    );
    const enclave = (await custom.getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: ns,
      plural: "agentenclaves",
      name: "proj",
    })) as {
      status?: { agents?: number };
    };
    await waitFor(
      "enclave counts all six agents",
      async () => {
        const e = (await custom.getNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          namespace: ns,
          plural: "agentenclaves",
          name: "proj",
        })) as typeof enclave;
        return e.status?.agents === 6;
      },
      30_000,
    );
  });
});
