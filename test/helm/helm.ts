// Helm binaries for tests, built from the Go module proxy (no release downloads on these machines)
// and cached under .cache/bin/helm-<version>/ like the local control plane. See
// ../../../shared/LOCAL-CLUSTER.md §6.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { acquireBuildLock, cacheDir } from "../cluster/local-cluster.ts";

/**
 * The versions the chart is tested with. Helm 3: v3.21.4, because v3.22.0 (the only 3.22 release the
 * proxy serves) is not approved on this network. Helm 4: the newest 4.3 patch.
 */
export const HELM_VERSIONS = { 3: "v3.21.4", 4: "v4.3.2" } as const;

export type HelmMajor = keyof typeof HELM_VERSIONS;

export function helmBinaryPath(major: HelmMajor): string {
  return join(cacheDir(), "bin", `helm-${HELM_VERSIONS[major]}`, "helm");
}

/**
 * Environment for running helm: its cache, config and data directories under .cache/helm-home, so
 * tests never read or write the user's ~/.config/helm (repositories, registry logins, plugins).
 */
export function helmEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const home = join(cacheDir(), "helm-home");
  return {
    ...process.env,
    HELM_CACHE_HOME: join(home, "cache"),
    HELM_CONFIG_HOME: join(home, "config"),
    HELM_DATA_HOME: join(home, "data"),
    ...extra,
  };
}

const inflight = new Map<HelmMajor, Promise<string>>();

/** Returns the path of a cached helm binary of that major version, building it first if needed. */
export function helmBinary(major: HelmMajor, log: (line: string) => void = console.error): Promise<string> {
  let p = inflight.get(major);
  if (!p) {
    p = build(major, log);
    inflight.set(major, p);
    // A failed build must not be remembered: the next caller retries.
    p.catch(() => inflight.delete(major));
  }
  return p;
}

async function build(major: HelmMajor, log: (line: string) => void): Promise<string> {
  const out = helmBinaryPath(major);
  if (existsSync(out)) return out;
  mkdirSync(join(out, ".."), { recursive: true });
  const release = await acquireBuildLock(`${out}.lock`, () => existsSync(out), log);
  if (release === "built-by-other") return out;
  try {
    return await buildUnlocked(major, out, log);
  } finally {
    release();
  }
}

async function buildUnlocked(major: HelmMajor, out: string, log: (line: string) => void): Promise<string> {
  const version = HELM_VERSIONS[major];
  const goVersion = spawnSync("go", ["version"], { encoding: "utf8" });
  if (goVersion.error || goVersion.status !== 0) {
    throw new Error(
      `helm ${version} is built from the Go module proxy with Go >= 1.26, and \`go\` was not found on PATH. ` +
        "Install Go to run the Helm tests.",
    );
  }
  // Build into a private directory and rename it into place, so a concurrent or interrupted build
  // never leaves a half-written binary at the cached path.
  const tmpDir = `${join(cacheDir(), "bin", `helm-${version}`)}.tmp-${process.pid}`;
  rmSync(tmpDir, { recursive: true, force: true });
  mkdirSync(tmpDir, { recursive: true });
  const pkg = `helm.sh/helm/v${major}/cmd/helm@${version}`;
  log(`[helm] building ${pkg} with ${goVersion.stdout.trim()} (~1.5-2 minutes on 2 cores the first time)`);
  const started = Date.now();
  let compiled = 0;
  const child = spawn(
    "go",
    ["install", "-v", "-trimpath", `-ldflags=${ldflags(major, version).join(" ")}`, pkg],
    {
      env: { ...process.env, GOBIN: tmpDir, CGO_ENABLED: "0", GOFLAGS: "-mod=mod" },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let stderrTail = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    const text = chunk.toString();
    // `go install -v` names each package as it is compiled: count them for progress.
    compiled += text
      .split("\n")
      .filter((l) => l.trim() && !l.startsWith("#") && !l.startsWith("go: ")).length;
    stderrTail = (stderrTail + text).slice(-4000);
  });
  const timer = setInterval(() => {
    const secs = Math.round((Date.now() - started) / 1000);
    log(`[helm] still building helm ${version}: ${compiled} packages compiled, ${secs}s elapsed`);
  }, 15_000);
  const code: number = await new Promise((res) => child.on("close", (c) => res(c ?? 1)));
  clearInterval(timer);
  if (code !== 0) {
    rmSync(tmpDir, { recursive: true, force: true });
    throw new Error(`go install ${pkg} failed (exit ${code}):\n${stderrTail}`);
  }
  mkdirSync(join(out, ".."), { recursive: true });
  if (!existsSync(out)) renameSync(join(tmpDir, "helm"), out);
  rmSync(tmpDir, { recursive: true, force: true });
  log(`[helm] built ${out} in ${Math.round((Date.now() - started) / 1000)}s`);
  return out;
}

/**
 * The ldflags of helm's own Makefile: without them `helm version` says "v3.21" and Helm 3 assumes
 * Kubernetes v1.20 for `helm template` and `helm lint` (so `kubeVersion: >=1.30` would refuse to
 * render). Helm 3 takes the Kubernetes version from the client-go it is built with, as its Makefile
 * does; Helm 4 reads it from its build info at run time.
 */
function ldflags(major: HelmMajor, version: string): string[] {
  const v = `helm.sh/helm/v${major}/internal/version`;
  const flags = ["-s", "-w", `-X ${v}.version=${version}`, `-X ${v}.gitTreeState=clean`];
  if (major === 3) {
    const dl = spawnSync("go", ["mod", "download", "-json", `helm.sh/helm/v3@${version}`], {
      encoding: "utf8",
    });
    if (dl.status !== 0) throw new Error(`go mod download helm.sh/helm/v3@${version} failed:\n${dl.stderr}`);
    const gomod = readFileSync((JSON.parse(dl.stdout) as { GoMod: string }).GoMod, "utf8");
    const m = /^\s*k8s\.io\/client-go v0\.(\d+)\./m.exec(gomod);
    if (!m) throw new Error(`cannot find the k8s.io/client-go version in helm ${version}'s go.mod`);
    for (const pkg of ["helm.sh/helm/v3/pkg/chartutil", "helm.sh/helm/v3/pkg/lint/rules"]) {
      flags.push(`-X ${pkg}.k8sVersionMajor=1`, `-X ${pkg}.k8sVersionMinor=${m[1]}`);
    }
  }
  return flags;
}

// `node test/helm/helm.ts [3|4 ...]` builds (or finds) the binaries and prints their paths.
if (import.meta.url === `file://${process.argv[1]}`) {
  const majors = process.argv.slice(2).length ? process.argv.slice(2) : ["3", "4"];
  for (const m of majors) {
    if (m !== "3" && m !== "4") throw new Error(`helm major must be 3 or 4, got "${m}"`);
    console.log(await helmBinary(Number(m) as HelmMajor));
  }
}
