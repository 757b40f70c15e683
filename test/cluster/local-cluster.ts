// The local control plane as the rest of the project sees it: build (cached by the hash of its
// inputs), start, wait for a kubeconfig, stop. See ../../../shared/LOCAL-CLUSTER.md for the why.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const KUBERNETES_VERSION = "v1.36.3";
const CLUSTER_SRC = dirname(fileURLToPath(import.meta.url));
export const PROJECT_ROOT = resolve(CLUSTER_SRC, "..", "..");

/** Where built binaries and cluster state live; git-ignored. */
export function cacheDir(): string {
  return process.env.WARDEN_CACHE_DIR ?? join(PROJECT_ROOT, ".cache");
}

function inputsHash(): string {
  const h = createHash("sha256");
  for (const f of ["go.mod", "go.sum", "main.go"]) h.update(readFileSync(join(CLUSTER_SRC, f)));
  h.update(KUBERNETES_VERSION);
  return h.digest("hex").slice(0, 16);
}

export function clusterBinaryPath(): string {
  return join(cacheDir(), "bin", `warden-cluster-${inputsHash()}`);
}

function minor(v: string): string {
  return v.replace(/^v1\.(\d+)\..*$/, "$1");
}

/**
 * Builds the multi-call control-plane binary unless a binary for the same inputs is cached.
 * The first build compiles kube-apiserver, kube-controller-manager, etcd and kubectl (~5–10 min on
 * two cores), so it reports progress instead of going silent.
 */
export async function buildClusterBinary(log: (line: string) => void = console.error): Promise<string> {
  const out = clusterBinaryPath();
  if (existsSync(out)) return out;
  // Several test runs (worktrees, CI steps) may ask for the same binary at once: one builds, the
  // others wait for it instead of compiling the same ~1,500 packages again on the same cores.
  mkdirSync(dirname(out), { recursive: true });
  const release = await acquireBuildLock(`${out}.lock`, () => existsSync(out), log);
  if (release === "built-by-other") return out;
  try {
    return await buildUnlocked(out, log);
  } finally {
    release();
  }
}

/**
 * A lock directory holding the builder's pid. Returns "built-by-other" when another process
 * finished the build while we waited; a lock whose pid is gone is taken over.
 */
export async function acquireBuildLock(
  lockDir: string,
  done: () => boolean,
  log: (line: string) => void,
): Promise<(() => void) | "built-by-other"> {
  let announced = false;
  for (;;) {
    if (done()) return "built-by-other";
    try {
      mkdirSync(lockDir);
      writeFileSync(join(lockDir, "pid"), String(process.pid));
      return () => rmSync(lockDir, { recursive: true, force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const holder = Number(readFileIfExists(join(lockDir, "pid")));
    if (holder > 0 && !processAlive(holder)) {
      rmSync(lockDir, { recursive: true, force: true });
      continue;
    }
    if (!announced) {
      log(
        `[cluster] another process (pid ${holder || "?"}) is building ${basename(lockDir)}; waiting for it`,
      );
      announced = true;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

function readFileIfExists(file: string): string {
  try {
    return readFileSync(file, "utf8").trim();
  } catch {
    return "";
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function buildUnlocked(out: string, log: (line: string) => void): Promise<string> {
  const goVersion = spawnSync("go", ["version"], { encoding: "utf8" });
  if (goVersion.error || goVersion.status !== 0) {
    throw new Error(
      "The local control plane is built with Go >= 1.26, and `go` was not found on PATH. Install Go, " +
        "or point KUBECONFIG at an existing cluster.",
    );
  }
  mkdirSync(dirname(out), { recursive: true });
  const tmp = `${out}.tmp-${process.pid}`;
  const ver = KUBERNETES_VERSION;
  const x = (pkg: string) => [
    `-X ${pkg}.gitVersion=${ver}`,
    `-X ${pkg}.gitMajor=1`,
    `-X ${pkg}.gitMinor=${minor(ver)}`,
    `-X ${pkg}.gitTreeState=clean`,
  ];
  const ldflags = ["-s", "-w", ...x("k8s.io/component-base/version"), ...x("k8s.io/client-go/pkg/version")];
  log(`[cluster] building the local control plane (Kubernetes ${ver}) with ${goVersion.stdout.trim()}`);
  log("[cluster] the first build downloads ~600 MB of Go modules and takes ~5-10 minutes on 2 cores");
  const started = Date.now();
  let compiled = 0;
  const child = spawn("go", ["build", "-v", "-trimpath", `-ldflags=${ldflags.join(" ")}`, "-o", tmp, "."], {
    cwd: CLUSTER_SRC,
    env: { ...process.env, CGO_ENABLED: "0", GOFLAGS: "-mod=mod" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderrTail = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    const text = chunk.toString();
    // `go build -v` names each package as it is compiled: count them for progress.
    compiled += text.split("\n").filter((l) => l.trim() && !l.startsWith("#")).length;
    stderrTail = (stderrTail + text).slice(-4000);
  });
  const timer = setInterval(() => {
    const secs = Math.round((Date.now() - started) / 1000);
    log(`[cluster] still building: ${compiled} packages compiled, ${secs}s elapsed`);
  }, 15_000);
  const code: number = await new Promise((res) => child.on("close", (c) => res(c ?? 1)));
  clearInterval(timer);
  if (code !== 0) throw new Error(`go build of test/cluster failed (exit ${code}):\n${stderrTail}`);
  renameSync(tmp, out);
  log(`[cluster] built ${out} in ${Math.round((Date.now() - started) / 1000)}s`);
  return out;
}

export interface RunningCluster {
  kubeconfig: string;
  dir: string;
  /** kubectl at the server's exact version: [binary, ...leading args]. */
  kubectl: string[];
  process: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Starts `warden-cluster up --dir DIR` and resolves once DIR/kubeconfig exists (the binary writes
 * it only after /readyz answers). Reusing DIR after a stop restarts the same cluster.
 */
export async function startLocalCluster(
  dir: string,
  opts: { log?: (line: string) => void; timeoutMs?: number; detached?: boolean } = {},
): Promise<RunningCluster> {
  const log = opts.log ?? console.error;
  const bin = await buildClusterBinary(log);
  mkdirSync(dir, { recursive: true });
  const kubeconfig = join(dir, "kubeconfig");
  // A kubeconfig left by an earlier run must not be mistaken for a ready server.
  rmSync(kubeconfig, { force: true });
  const logFile = join(dir, "control-plane.log");
  const out = createWriteStream(logFile, { flags: "a" });
  await new Promise((r) => out.on("open", r));
  const child = spawn(bin, ["up", "--dir", dir], {
    stdio: ["ignore", out, out],
    detached: opts.detached ?? false,
  });
  const timeoutMs = opts.timeoutMs ?? 180_000;
  const started = Date.now();
  let exited: number | null = null;
  child.on("exit", (c) => {
    exited = c ?? 1;
  });
  while (!existsSync(kubeconfig)) {
    if (exited !== null) {
      throw new Error(`local control plane exited with code ${exited}; see ${logFile}:\n${tail(logFile)}`);
    }
    if (Date.now() - started > timeoutMs) {
      child.kill("SIGTERM");
      throw new Error(`local control plane not ready after ${timeoutMs / 1000}s; see ${logFile}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  log(`[cluster] kube-apiserver ready in ${((Date.now() - started) / 1000).toFixed(1)}s (${kubeconfig})`);
  return {
    kubeconfig,
    dir,
    kubectl: [bin, "kubectl"],
    process: child,
    stop: () => stopProcess(child),
  };
}

export async function stopProcess(child: ChildProcess, graceMs = 20_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const done = new Promise<void>((r) => child.once("exit", () => r()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await done;
  clearTimeout(timer);
}

function tail(file: string): string {
  try {
    return readFileSync(file, "utf8").split("\n").slice(-30).join("\n");
  } catch {
    return "";
  }
}

export function defaultStateDir(): string {
  return join(cacheDir(), "cluster");
}
