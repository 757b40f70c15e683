// A node's teardown leaves nothing: no process, no mount, no cgroup directory, no network namespace
// (asserted against the machine itself, not the harness's own bookkeeping), whether it is stopped
// in order or its supervisor was SIGKILLed. A second node on the same machine comes and goes without
// touching the shared e2e node.
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, inject, test } from "vitest";
import { cacheDir } from "../cluster/local-cluster.ts";
import { nodeLayout, nodePaths } from "../cluster/node/config.ts";
import { readStatus } from "../cluster/node/supervisor.ts";
import { type NodeCluster, startNodeCluster, stopNodeClusterAt } from "../cluster/node.ts";
import { machineState, NOTHING } from "../support/machine-state.ts";
import { BUSYBOX_IMAGE, importBusybox, mustKubectl } from "../support/node.ts";
import { run } from "../support/process.ts";

const shared = inject("node");

async function runAPod(node: NodeCluster): Promise<void> {
  const kc = [...node.kubectl.slice(1), `--kubeconfig=${node.kubeconfig}`];
  await importBusyboxInto(node);
  const pod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "sleeper", namespace: "default" },
    spec: {
      containers: [
        {
          name: "sleeper",
          image: BUSYBOX_IMAGE,
          imagePullPolicy: "Never",
          command: ["/bin/busybox", "sleep", "86400"],
        },
      ],
    },
  };
  const bin = node.kubectl[0] as string;
  await mustRun(bin, [
    ...kc,
    "wait",
    "--for=jsonpath={.metadata.name}=default",
    "serviceaccount/default",
    "--timeout=120s",
  ]);
  await mustRun(bin, [...kc, "apply", "-f", "-"], JSON.stringify(pod));
  await mustRun(
    bin,
    [...kc, "wait", "--for=condition=Ready", "pod/sleeper", "--timeout=240s"],
    undefined,
    270_000,
  );
}

async function importBusyboxInto(node: NodeCluster): Promise<void> {
  // importBusybox() writes the archive once and imports it into the shared node when there is
  // one; this node gets the same archive.
  if (shared) await importBusybox();
  const archive = join(cacheDir(), "images", "busybox-test.oci.tar");
  if (!existsSync(archive)) await importBusybox();
  node.importImage(archive);
}

async function mustRun(bin: string, args: string[], input?: string, timeoutMs = 150_000): Promise<string> {
  const r = await run(bin, args, { input, timeoutMs });
  if (r.code !== 0) throw new Error(`${args.join(" ")} failed: ${r.stderr}`);
  return r.stdout;
}

async function newDir(): Promise<string> {
  mkdirSync(join(cacheDir(), "runs"), { recursive: true });
  return mkdtemp(join(cacheDir(), "runs", "node-"));
}

describe.runIf(shared)("node teardown", () => {
  test("an ordered stop leaves nothing, and the shared node is untouched", async () => {
    const node = await startNodeCluster({ dir: await newDir(), log: (l) => console.error(l) });
    const status = readStatus(nodePaths(nodeLayout(node.id, node.dir)).status);
    expect(status?.phase).toBe("running");
    const ns = { mnt: status?.mntNs as string, net: status?.netNs as string };
    await runAPod(node);
    // While it runs, the machine shows it: a netns, cgroups with a pod in them, processes.
    const during = machineState(node, ns);
    expect(during.netns).toHaveLength(1);
    expect(during.cgroups.length).toBeGreaterThan(0);
    expect(during.processes.length).toBeGreaterThan(5);

    const t0 = Date.now();
    const left = await node.stop();
    console.log(`[e2e] ordered teardown with one pod: ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    expect(left).toEqual({ processes: [], cgroupDirs: [], netns: [], mounts: [] });
    expect(machineState(node, ns)).toEqual(NOTHING);
    expect(readStatus(nodePaths(nodeLayout(node.id, node.dir)).status)?.phase).toBe("stopped");
    rmSync(node.dir, { recursive: true, force: true });

    if (shared) {
      const ready = await mustKubectl([
        "get",
        "node",
        shared.nodeName,
        "-o",
        'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
      ]);
      expect(ready).toBe("True");
    }
  });

  test("a SIGKILLed supervisor's node is still removed completely", async () => {
    const node = await startNodeCluster({ dir: await newDir(), log: (l) => console.error(l) });
    const status = readStatus(nodePaths(nodeLayout(node.id, node.dir)).status);
    const ns = { mnt: status?.mntNs as string, net: status?.netNs as string };
    await runAPod(node);
    process.kill(status?.pid as number, "SIGKILL");
    // Everything it started is orphaned now: containers, shims, kubelet, the API server.
    expect(machineState(node, ns).processes.length).toBeGreaterThan(3);

    const left = await stopNodeClusterAt(node.dir, (l) => console.error(l));
    expect(left).toEqual({ processes: [], cgroupDirs: [], netns: [], mounts: [] });
    expect(machineState(node, ns)).toEqual(NOTHING);
    rmSync(node.dir, { recursive: true, force: true });
  });
});
