// Runs an image's entrypoint the way a container runtime would, without one: the layers unpacked in
// order into a directory, that directory bind-mounted read-only in a private mount namespace, and
// the entrypoint run chrooted there as the image's user with only the image's environment. It
// proves what a runtime needs from the image itself (the loader and libraries resolve, the user
// exists, nothing is written to the root filesystem). Needs root (mount namespaces, chroot).
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import {
  chmodSync,
  chownSync,
  existsSync,
  lchownSync,
  mkdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import type { InspectedImage } from "./inspect.ts";

const RUNTIME_MOUNT_POINTS = ["proc", "sys", "dev"];

/** Unpacks every layer of `image` into `dir`, in order, with the entries' modes and owners. */
export function unpackImage(image: InspectedImage, dir: string): void {
  // The root directory itself, as a runtime makes it (a mkdtemp directory is 0700).
  chmodSync(dir, 0o755);
  // Mount points a runtime adds for /proc, /sys and /dev (not part of the image's layers).
  for (const m of RUNTIME_MOUNT_POINTS) mkdirSync(join(dir, m), { mode: 0o755, recursive: true });
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

export interface RunOptions {
  /** Replaces the image's Cmd (after its Entrypoint). */
  args?: string[];
  /** Added to the image's Env (later entries win). */
  env?: Record<string, string>;
  /** Host directories bind-mounted over directories that exist in the image (like volumes). */
  volumes?: { host: string; path: string; readOnly?: boolean }[];
  stdin?: string;
}

export interface StartedImage {
  /** The process: unshare, whose forked child runs the entrypoint (sh → env → chroot exec into it). */
  child: ChildProcessWithoutNullStreams;
  output(): { stdout: string; stderr: string };
  /** Resolves when the process has exited. */
  exited: Promise<RunResult>;
  /** The pid of the entrypoint process itself (for /proc/<pid>/status). */
  entrypointPid(): number | undefined;
  stop(): Promise<RunResult>;
}

/**
 * Starts `image`'s entrypoint in `rootfs` (from unpackImage): read-only, as the image's User, with
 * the image's Env plus `env`, the given volumes mounted, in the host's network namespace (callers
 * listen on loopback only).
 */
export function startImage(image: InspectedImage, rootfs: string, opts: RunOptions = {}): StartedImage {
  const cfg = image.config.config;
  const user = cfg.User ?? "0:0";
  if (!/^\d+(:\d+)?$/.test(user)) throw new Error(`image user ${user} is not numeric`);
  const argv = [...(cfg.Entrypoint ?? []), ...(opts.args ?? cfg.Cmd ?? [])];
  if (argv.length === 0) throw new Error("image has neither Entrypoint nor Cmd");
  const env = [...(cfg.Env ?? []), ...Object.entries(opts.env ?? {}).map(([k, v]) => `${k}=${v}`)];
  // $1 is the root; then "<host> <path> <ro|rw>" per volume, a "--" and the command.
  const script = [
    'root="$1"; shift',
    'mount --bind "$root" "$root" && mount -o remount,bind,ro "$root" || exit 125',
    // What a runtime gives a container: /proc, a read-only /sys (cgroup limits are read there) and
    // a /dev with only the harmless character devices.
    'mount -t proc proc "$root/proc" || exit 125',
    'mount --rbind /sys "$root/sys" && mount -o remount,bind,ro "$root/sys" || exit 125',
    'mount -t tmpfs -o mode=755,nosuid,noexec tmpfs "$root/dev" || exit 125',
    "for d in null zero full random urandom; do",
    '  touch "$root/dev/$d" && mount --bind "/dev/$d" "$root/dev/$d" || exit 125',
    "done",
    'while [ "$1" != "--" ]; do',
    '  mount --bind "$1" "$root$2" || exit 125',
    '  if [ "$3" = ro ]; then mount -o remount,bind,ro "$root$2" || exit 125; fi',
    "  shift 3",
    "done",
    "shift",
    'exec "$@"',
  ].join("\n");
  const volumeArgs = (opts.volumes ?? []).flatMap((v) => {
    if (!v.path.startsWith("/")) throw new Error(`volume path ${v.path} must be absolute`);
    return [v.host, v.path, v.readOnly ? "ro" : "rw"];
  });
  const child = spawn(
    "unshare",
    [
      "--mount",
      "--propagation",
      "private",
      "--fork",
      // If unshare dies (a test killed it), its child gets SIGKILL: nothing outlives the test.
      "--kill-child",
      "--",
      "sh",
      "-c",
      script,
      "sh",
      rootfs,
      ...volumeArgs,
      "--",
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
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<RunResult>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
  child.stdin.end(opts.stdin ?? "");
  const entrypointPid = () => {
    if (child.pid === undefined) return undefined;
    try {
      const kids = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, "utf8").trim();
      return kids ? Number(kids.split(/\s+/)[0]) : undefined;
    } catch {
      return undefined;
    }
  };
  return {
    child,
    output: () => ({ stdout, stderr }),
    exited,
    entrypointPid,
    stop: async () => {
      // unshare blocks SIGTERM while it waits: signal the entrypoint itself, as a runtime would.
      const pid = entrypointPid();
      if (pid !== undefined) process.kill(pid, "SIGTERM");
      else child.kill("SIGKILL");
      const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
      const r = await exited;
      clearTimeout(timer);
      return r;
    },
  };
}

/** Runs the entrypoint to completion (see startImage); killed after `timeoutMs`. */
export async function runImage(
  image: InspectedImage,
  rootfs: string,
  opts: RunOptions & { timeoutMs?: number } = {},
): Promise<RunResult> {
  const started = startImage(image, rootfs, opts);
  const timer = setTimeout(() => started.child.kill("SIGKILL"), opts.timeoutMs ?? 120_000);
  const r = await started.exited;
  clearTimeout(timer);
  return r;
}
