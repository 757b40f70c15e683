// Debian packages the node needs (iptables and ipset at run time, libseccomp headers to build runc),
// installed by the project's own code on a fresh machine: `apt-get update` once, then install.
import { spawnSync } from "node:child_process";

// dpkg-query's own ${Status} field syntax, not a template.
export function missingDebianPackages(names: readonly string[]): string[] {
  return names.filter((name) => {
    const r = spawnSync("dpkg-query", ["-W", "-f=$" + "{Status}", name], { encoding: "utf8" });
    return r.status !== 0 || !r.stdout.includes("install ok installed");
  });
}

let updated = false;
let queue: Promise<void> = Promise.resolve();

/**
 * Installs the named Debian packages when missing. Needs root and apt-get; otherwise fails with a
 * message naming the packages and the command that installs them. Calls are serialised: apt holds
 * one lock.
 */
export function ensureDebianPackages(names: readonly string[], why: string): Promise<void> {
  const next = queue.then(() => install(names, why));
  queue = next.catch(() => {});
  return next;
}

async function install(names: readonly string[], why: string): Promise<void> {
  const missing = missingDebianPackages(names);
  if (missing.length === 0) return;
  const cmd = `apt-get update && apt-get install -y ${missing.join(" ")}`;
  if (process.getuid?.() !== 0) {
    throw new Error(`${why} needs the Debian packages ${missing.join(", ")}; run as root: ${cmd}`);
  }
  if (spawnSync("apt-get", ["--version"]).status !== 0) {
    throw new Error(
      `${why} needs ${missing.join(", ")} and this machine has no apt-get; install them by hand`,
    );
  }
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  // Another process (a parallel build, a second test tier) may hold dpkg's lock: wait for it.
  const lock = ["-o", "DPkg::Lock::Timeout=600"];
  if (!updated) {
    const u = spawnSync("apt-get", [...lock, "update"], { encoding: "utf8", env });
    if (u.status !== 0) throw new Error(`apt-get update failed (needed for ${why}):\n${u.stderr}`);
    updated = true;
  }
  const r = spawnSync("apt-get", [...lock, "install", "-y", "--no-install-recommends", ...missing], {
    encoding: "utf8",
    env,
  });
  if (r.status !== 0)
    throw new Error(`apt-get install ${missing.join(" ")} failed (needed for ${why}):\n${r.stderr}`);
}
