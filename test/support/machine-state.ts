// What a node left on this machine, seen by the machine itself (ip netns, /sys/fs/cgroup, /proc,
// mountinfo), independent of the harness's own bookkeeping: what a person would check by hand.
// Used by the node teardown tests and the demo's e2e test.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";

export function machineState(
  node: { id: string; dir: string; netns: string },
  ns: { mnt: string; net: string },
) {
  const netnsList = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout;
  const cgroups = readdirSync("/sys/fs/cgroup")
    .map((h) => join("/sys/fs/cgroup", h, `warden-${node.id}`))
    .filter((d) => existsSync(d));
  const processes: string[] = [];
  for (const pid of readdirSync("/proc").filter((n) => /^\d+$/.test(n))) {
    try {
      const mnt = readlinkSync(`/proc/${pid}/ns/mnt`);
      const net = readlinkSync(`/proc/${pid}/ns/net`);
      const cg = readFileSync(`/proc/${pid}/cgroup`, "utf8");
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
      if (mnt === ns.mnt || net === ns.net || cg.includes(`/warden-${node.id}`) || cmd.includes(node.dir)) {
        processes.push(`${pid} ${cmd.slice(0, 120)}`);
      }
    } catch {
      // exited meanwhile, or a kernel thread
    }
  }
  const mounts = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .filter(
      (l) =>
        l.includes(node.dir) ||
        l.includes(`/run/warden/${node.id}`) ||
        l.includes(`/run/netns/${node.netns}`),
    );
  return {
    netns: netnsList.split("\n").filter((l) => l.split(" ")[0] === node.netns),
    cgroups,
    processes,
    mounts,
    runDir: existsSync(`/run/warden/${node.id}`),
  };
}

export const NOTHING = { netns: [], cgroups: [], processes: [], mounts: [], runDir: false };
