// What e2e tests share: the node cluster handed over by test/setup/e2e-setup.ts, kubectl against
// it, a busybox test image imported into it, and waiting on pods.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { inject } from "vitest";
import { writeOciArchive } from "../../scripts/images/oci.ts";
import { cacheDir } from "../cluster/local-cluster.ts";
import { ensureDebianPackages } from "../cluster/node/debian.ts";
import { importImageInto } from "../cluster/node.ts";
import type { ProvidedNode } from "../setup/e2e-setup.ts";
import type { CommandResult } from "./process.ts";
import { wardenOn } from "./warden-node.ts";

export function providedNode(): ProvidedNode {
  const node = inject("node");
  if (!node) throw new Error(`no node on this machine: ${inject("noNodeReason")}`);
  return node;
}

/** kubectl at the node cluster's version, against the node cluster. */
export function nodeKubectl(
  args: string[],
  opts: { input?: string; timeoutMs?: number } = {},
): Promise<CommandResult> {
  return wardenOn(providedNode()).kubectl(args, opts);
}

export function mustKubectl(
  args: string[],
  opts: { input?: string; timeoutMs?: number } = {},
): Promise<string> {
  return wardenOn(providedNode()).mustKubectl(args, opts);
}

export const BUSYBOX_IMAGE = "warden.local/busybox:1.35.0-test";

/**
 * A busybox image (Debian's static build: its shell runs applets without a PATH) imported into the
 * node: a shell, wget, nslookup and httpd for tests, and nothing else.
 */
export async function importBusybox(): Promise<string> {
  await ensureDebianPackages(["busybox-static"], "the e2e test image");
  const archive = join(cacheDir(), "images", "busybox-test.oci.tar");
  if (!existsSync(archive)) {
    await writeOciArchive(
      {
        ref: BUSYBOX_IMAGE,
        layers: [
          {
            comment: "busybox",
            entries: [{ type: "file", path: "bin/busybox", source: "/bin/busybox", mode: 0o755 }],
          },
        ],
        config: { entrypoint: ["/bin/busybox"], user: "65532:65532" },
      },
      archive,
    );
  }
  importImageInto(providedNode(), archive);
  return BUSYBOX_IMAGE;
}

/** Waits for a pod's Ready condition (kubectl wait blocks on the watch; no polling here). */
export async function waitPodReady(ns: string, name: string, timeoutS = 240): Promise<void> {
  const r = await nodeKubectl(
    ["-n", ns, "wait", "--for=condition=Ready", `pod/${name}`, `--timeout=${timeoutS}s`],
    {
      timeoutMs: (timeoutS + 30) * 1000,
    },
  );
  if (r.code !== 0) {
    const describe = await nodeKubectl(["-n", ns, "describe", "pod", name]);
    throw new Error(`pod ${ns}/${name} not Ready: ${r.stderr}\n${describe.stdout.slice(-3000)}`);
  }
}

/** Retries `attempt` until it returns true, at most `tries` times with `pauseMs` between. */
export async function eventually(
  attempt: () => Promise<boolean>,
  tries: number,
  pauseMs: number,
): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    if (await attempt()) return true;
    await new Promise((r) => setTimeout(r, pauseMs));
  }
  return false;
}

// The UID/GID application containers run as (not 65532, which the injected gateway owns: the
// webhook's gateway.sharedUser rule refuses any other container of an agent pod running as it), and
// a restricted-profile security context: defined once in warden-node.ts, shared with the demo.
export { APP_UID, RESTRICTED } from "./warden-node.ts";

/** CPU throttling of one container, read on the host from its cgroup v1 `cpu` hierarchy. */
export interface CpuThrottling {
  nrPeriods: number;
  nrThrottled: number;
  throttledSeconds: number;
}

/**
 * Reads a running container's CFS throttling counters from the host: the kubelet (cgroupfs driver)
 * puts it at <cgroupRoot>/kubepods[/<qos>]/pod<uid>/<container id>. Read from outside because a
 * container cannot be trusted to see, or report, its own cgroup.
 */
export function containerCpuThrottling(containerID: string): CpuThrottling {
  const id = containerID.replace(/^containerd:\/\//, "");
  if (!/^[0-9a-f]{64}$/.test(id)) throw new Error(`not a containerd container id: ${containerID}`);
  const root = join("/sys/fs/cgroup/cpu", providedNode().cgroupRoot, "kubepods");
  // kubepods/<qos>/pod<uid>/<id> at most: a depth-bounded walk, no symlinks followed.
  const find = (dir: string, depth: number): string | undefined => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      if (e.name === id) return join(dir, e.name);
      if (depth < 2) {
        const hit = find(join(dir, e.name), depth + 1);
        if (hit) return hit;
      }
    }
    return undefined;
  };
  const dir = find(root, 0);
  if (!dir) throw new Error(`no cgroup of container ${id} under ${root}`);
  const stat = readFileSync(join(dir, "cpu.stat"), "utf8");
  const field = (name: string) => {
    const m = new RegExp(`^${name} (\\d+)$`, "m").exec(stat);
    if (!m) throw new Error(`${join(dir, "cpu.stat")} has no ${name}`);
    return Number(m[1]);
  };
  return {
    nrPeriods: field("nr_periods"),
    nrThrottled: field("nr_throttled"),
    throttledSeconds: field("throttled_time") / 1e9,
  };
}
