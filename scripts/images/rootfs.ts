// Runs an image's entrypoint the way a container runtime would, without one: the layers unpacked in
// order into a directory, that directory bind-mounted read-only in a private mount namespace, and
// the entrypoint run chrooted there as the image's user with only the image's environment. It
// proves what a runtime needs from the image itself (the loader and libraries resolve, the user
// exists, nothing is written to the root filesystem). Needs root (mount namespaces, chroot).
import { spawn } from "node:child_process";
import { chmodSync, chownSync, existsSync, lchownSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { InspectedImage } from "./inspect.ts";

/** Unpacks every layer of `image` into `dir`, in order, with the entries' modes and owners. */
export function unpackImage(image: InspectedImage, dir: string): void {
  // The root directory itself, as a runtime makes it (a mkdtemp directory is 0700).
  chmodSync(dir, 0o755);
  for (const layer of image.layers) {
    for (const e of layer.entries) {
      const path = join(dir, e.path);
      if (!path.startsWith(`${dir}/`)) throw new Error(`layer entry ${e.path} escapes the root`);
      if (e.type === "dir") {
        mkdirSync(path, { recursive: true });
        chmodSync(path, e.mode);
        chownSync(path, e.uid, e.gid);
      } else if (e.type === "file") {
        writeFileSync(path, e.data, { mode: e.mode });
        chmodSync(path, e.mode);
        chownSync(path, e.uid, e.gid);
      } else if (e.type === "symlink") {
        symlinkSync(e.target, path);
        lchownSync(path, e.uid, e.gid);
      } else {
        throw new Error(`layer entry ${e.path}: unsupported type`);
      }
    }
  }
}

/** coreutils' chroot, by absolute path: it runs after `env -i` has cleared PATH. */
function chrootBinary(): string {
  const found = ["/usr/sbin/chroot", "/usr/bin/chroot", "/sbin/chroot", "/bin/chroot"].find((p) =>
    existsSync(p),
  );
  if (!found)
    throw new Error("chroot (coreutils) is required to run an image's files without a container engine");
  return found;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `image`'s entrypoint + `args` (or its Cmd when `args` is undefined) in `rootfs` (from
 * unpackImage), read-only, as the image's User, with the image's Env plus `env`.
 */
export function runImage(
  image: InspectedImage,
  rootfs: string,
  opts: { args?: string[]; env?: Record<string, string>; stdin?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  const cfg = image.config.config;
  const user = cfg.User ?? "0:0";
  if (!/^\d+(:\d+)?$/.test(user)) throw new Error(`image user ${user} is not numeric`);
  const argv = [...(cfg.Entrypoint ?? []), ...(opts.args ?? cfg.Cmd ?? [])];
  if (argv.length === 0) throw new Error("image has neither Entrypoint nor Cmd");
  const env = [...(cfg.Env ?? []), ...Object.entries(opts.env ?? {}).map(([k, v]) => `${k}=${v}`)];
  const script = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"';
  const child = spawn(
    "unshare",
    [
      "--mount",
      "--propagation",
      "private",
      "--fork",
      "--",
      "sh",
      "-c",
      script,
      "sh",
      rootfs,
      "env",
      "-i",
      ...env,
      chrootBinary(),
      `--userspec=${user.includes(":") ? user : `${user}:${user}`}`,
      rootfs,
      ...argv,
    ],
    { stdio: ["pipe", "pipe", "pipe"] },
  );
  return new Promise((resolve, reject) => {
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 120_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(opts.stdin ?? "");
  });
}
