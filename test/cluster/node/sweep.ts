// Finding and removing what a node leaves on the machine: processes (by cgroup and by namespace),
// cgroup directories, the network namespace, mounts. Used by the supervisor's own teardown, by the
// host's teardown after a SIGKILLed supervisor, and by the tests that assert nothing is left.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, readlinkSync, rmdirSync } from "node:fs";
import { join } from "node:path";

export interface CgroupDir {
  /** Controller(s) of the hierarchy, e.g. "cpuset", "cpu", "name=systemd", "unified". */
  controller: string;
  /** Where the hierarchy is mounted, e.g. /sys/fs/cgroup/cpuset. */
  hierarchy: string;
  /** The node's cgroupRoot inside it. */
  path: string;
}

/** Mounted cgroup hierarchies (v1 and v2), from /proc/self/mountinfo. */
export function cgroupHierarchies(): { controller: string; mountPoint: string }[] {
  const out: { controller: string; mountPoint: string }[] = [];
  const seen = new Set<string>();
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const [pre, post] = line.split(" - ");
    if (!pre || !post) continue;
    const [fstype, , superOpts] = post.split(" ");
    const mountPoint = pre.split(" ")[4];
    if (!mountPoint || (fstype !== "cgroup" && fstype !== "cgroup2")) continue;
    if (seen.has(mountPoint)) continue;
    seen.add(mountPoint);
    const controller =
      fstype === "cgroup2"
        ? "unified"
        : (superOpts ?? "")
            .split(",")
            .filter(
              (o) =>
                !["rw", "ro", "relatime", "noexec", "nosuid", "nodev", "xattr", "clone_children"].includes(o),
            )
            .join(",");
    out.push({ controller, mountPoint });
  }
  return out;
}

export function cgroupDirs(cgroupRoot: string): CgroupDir[] {
  return cgroupHierarchies().map((h) => ({
    controller: h.controller,
    hierarchy: h.mountPoint,
    path: join(h.mountPoint, cgroupRoot),
  }));
}

/** Every directory of a cgroup tree, deepest first. */
function treeDeepestFirst(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (d: string) => {
    let entries: import("node:fs").Dirent[] = [];
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) if (e.isDirectory()) walk(join(d, e.name));
    out.push(d);
  };
  walk(dir);
  return out;
}

export function processesInCgroupRoot(cgroupRoot: string): number[] {
  const pids = new Set<number>();
  for (const c of cgroupDirs(cgroupRoot)) {
    for (const d of treeDeepestFirst(c.path)) {
      try {
        for (const l of readFileSync(join(d, "cgroup.procs"), "utf8").split("\n"))
          if (l.trim()) pids.add(Number(l));
      } catch {
        // removed meanwhile
      }
    }
  }
  return [...pids];
}

function allPids(): number[] {
  return readdirSync("/proc")
    .filter((n) => /^\d+$/.test(n))
    .map(Number);
}

function nsLink(pid: string, kind: "mnt" | "net"): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/${kind}`);
  } catch {
    return undefined; // gone, or not ours to read (PID 1 of a sandbox)
  }
}

/**
 * Whether `link` is a namespace of the node's own, never the machine's: killing "every process in
 * the namespace" must not reach the caller's namespace, PID 1's (where readable), or any namespace
 * in `refuse` (the host's, recorded before the node started), whatever a damaged status file says.
 */
export function isForeignNamespace(
  kind: "mnt" | "net",
  link: string,
  refuse: readonly string[] = [],
): boolean {
  return (
    new RegExp(`^${kind}:\\[\\d+\\]$`).test(link) &&
    link !== nsLink("1", kind) &&
    link !== nsLink("self", kind) &&
    !refuse.includes(link)
  );
}

/**
 * PIDs whose namespace of `kind` ("mnt", "net") is `link` (as readlink /proc/PID/ns/KIND prints it).
 * Finds nothing for a namespace `isForeignNamespace` refuses, except that the supervisor may sweep
 * its own private namespace (`allowOwn`), which still must not be PID 1's or a refused one.
 */
export function processesInNamespace(
  kind: "mnt" | "net",
  link: string,
  opts: { allowOwn?: boolean; refuse?: readonly string[] } = {},
): number[] {
  const out: number[] = [];
  const refuse = opts.refuse ?? [];
  const ownAllowed =
    opts.allowOwn === true &&
    link === nsLink("self", kind) &&
    link !== nsLink("1", kind) &&
    !refuse.includes(link) &&
    /^(mnt|net):\[\d+\]$/.test(link);
  if (!ownAllowed && !isForeignNamespace(kind, link, refuse)) return [];
  for (const pid of allPids()) {
    try {
      if (readlinkSync(`/proc/${pid}/ns/${kind}`) === link) out.push(pid);
    } catch {
      // exited, or a kernel thread
    }
  }
  return out;
}

/** SIGKILLs what `pids()` returns until it returns nothing or the time is up; returns what is left. */
export async function killAndWait(pids: () => number[], timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = pids().filter((p) => p !== process.pid);
    if (left.length === 0 || Date.now() > deadline) return left;
    for (const pid of left) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * rmdir every directory of the node's cgroup trees, deepest first. A v1 memory cgroup can stay busy
 * for a moment after its last process died, so each pass retries what failed. Returns what is left.
 */
export async function removeCgroupTrees(cgroupRoot: string, timeoutMs = 10_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left: string[] = [];
    for (const c of cgroupDirs(cgroupRoot)) {
      for (const d of treeDeepestFirst(c.path)) {
        try {
          rmdirSync(d);
        } catch {
          if (existsSync(d)) left.push(d);
        }
      }
    }
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise((r) => setTimeout(r, 200));
  }
}

export function netnsExists(name: string): boolean {
  return existsSync(join("/run/netns", name));
}

export function deleteNetns(name: string): void {
  if (!netnsExists(name)) return;
  const r = spawnSync("ip", ["netns", "delete", name], { encoding: "utf8" });
  if (r.status !== 0 && netnsExists(name)) throw new Error(`ip netns delete ${name} failed: ${r.stderr}`);
}

/** Mount points in this (the host's) mount namespace whose path contains any of `needles`. */
export function mountsMatching(needles: string[]): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .filter((mp) => mp && needles.some((n) => mp.includes(n)));
}

export interface Leftovers {
  processes: number[];
  cgroupDirs: string[];
  netns: string[];
  mounts: string[];
}

export function isClean(l: Leftovers): boolean {
  return !l.processes.length && !l.cgroupDirs.length && !l.netns.length && !l.mounts.length;
}
