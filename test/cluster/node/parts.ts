// The node's programs, built from the Go module proxy (and pause from its C source in the
// k8s.io/kubernetes module), each cached under .cache/bin by the hash of what went into it, like the
// control-plane binary. Builds run in parallel: on two cores the compile steps share the CPU, but
// downloads and links overlap, and a warm cache makes every part a lookup.
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { acquireBuildLock, cacheDir, KUBERNETES_VERSION } from "../local-cluster.ts";
import { ensureDebianPackages } from "./debian.ts";

export interface GoPart {
  kind: "go";
  name: string;
  module: string;
  version: string;
  /** Package paths inside the module, installed together. */
  packages: string[];
  /** Program names `go install` leaves in GOBIN. */
  binaries: string[];
  cgo: boolean;
  tags?: string[];
  ldflags?: string[];
  /** Debian packages the build needs (headers, pkg-config). */
  buildDebs?: string[];
}

export interface PausePart {
  kind: "pause";
  name: "pause";
  binaries: ["pause"];
}

export type NodePart = GoPart | PausePart;

/** Versions: shared/REAL-NODE.md and docs/adr/0006-real-node.md say why each one. */
export const NODE_PARTS: readonly NodePart[] = [
  {
    kind: "go",
    name: "runc",
    module: "github.com/opencontainers/runc",
    version: "v1.5.3",
    packages: [""],
    binaries: ["runc"],
    cgo: true,
    tags: ["seccomp", "urfave_cli_no_docs"],
    ldflags: ["-X main.version=1.5.3"],
    buildDebs: ["libseccomp-dev", "pkg-config"],
  },
  {
    kind: "go",
    name: "containerd",
    module: "github.com/containerd/containerd/v2",
    version: "v2.4.2",
    packages: ["cmd/containerd", "cmd/ctr", "cmd/containerd-shim-runc-v2"],
    binaries: ["containerd", "ctr", "containerd-shim-runc-v2"],
    cgo: false,
    ldflags: ["-X github.com/containerd/containerd/v2/version.Version=v2.4.2"],
  },
  {
    kind: "go",
    name: "cni-plugins",
    module: "github.com/containernetworking/plugins",
    version: "v1.10.0",
    packages: [
      "plugins/main/bridge",
      "plugins/main/loopback",
      "plugins/ipam/host-local",
      "plugins/meta/portmap",
    ],
    binaries: ["bridge", "loopback", "host-local", "portmap"],
    cgo: false,
  },
  {
    kind: "go",
    name: "kube-router",
    module: "github.com/cloudnativelabs/kube-router/v2",
    version: "v2.1.0",
    packages: ["cmd/kube-router"],
    binaries: ["kube-router"],
    cgo: false,
  },
  {
    kind: "go",
    name: "coredns",
    module: "github.com/coredns/coredns",
    version: "v1.15.0",
    packages: [""],
    binaries: ["coredns"],
    cgo: false,
  },
  { kind: "pause", name: "pause", binaries: ["pause"] },
];

export type PartName = "runc" | "containerd" | "cni-plugins" | "kube-router" | "coredns" | "pause";

let goVersionCache: string | undefined;
function goVersion(): string {
  if (goVersionCache) return goVersionCache;
  const r = spawnSync("go", ["version"], { encoding: "utf8" });
  if (r.error || r.status !== 0) {
    throw new Error(
      "The node's parts are built with Go >= 1.26, and `go` was not found on PATH. Install Go.",
    );
  }
  goVersionCache = r.stdout.trim();
  return goVersionCache;
}

function kubernetesModuleDir(): string {
  const r = spawnSync("go", ["mod", "download", "-json", `k8s.io/kubernetes@${KUBERNETES_VERSION}`], {
    encoding: "utf8",
    env: { ...process.env, GOFLAGS: "-mod=mod" },
  });
  if (r.status !== 0) throw new Error(`go mod download k8s.io/kubernetes failed:\n${r.stderr}`);
  const info = JSON.parse(r.stdout) as { Dir?: string };
  if (!info.Dir) throw new Error("go mod download k8s.io/kubernetes printed no Dir");
  return info.Dir;
}

function pauseSource(): string {
  return join(kubernetesModuleDir(), "build", "pause", "linux", "pause.c");
}

/** The hash of everything that decides a part's bytes: its definition and its toolchain. */
export function partHash(part: NodePart): string {
  const h = createHash("sha256");
  h.update(JSON.stringify(part));
  if (part.kind === "go") {
    h.update(goVersion());
  } else {
    h.update(readFileSync(pauseSource()));
    h.update(spawnSync("gcc", ["--version"], { encoding: "utf8" }).stdout ?? "");
  }
  return h.digest("hex").slice(0, 16);
}

export function partDir(part: NodePart): string {
  return join(cacheDir(), "bin", `node-${part.name}-${partHash(part)}`);
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ["ignore", "ignore", "pipe"] });
    let tail = "";
    child.stderr?.on("data", (c: Buffer) => {
      tail = (tail + c.toString()).slice(-4000);
    });
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(" ")} failed (exit ${code}):\n${tail}`)),
    );
  });
}

async function buildPart(part: NodePart, out: string): Promise<void> {
  const tmp = `${out}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  if (part.kind === "go") {
    if (part.buildDebs) await ensureDebianPackages(part.buildDebs, `building ${part.name}`);
    const pkgs = part.packages.map((p) => `${p ? `${part.module}/${p}` : part.module}@${part.version}`);
    const args = ["install", "-trimpath"];
    if (part.tags?.length) args.push("-tags", part.tags.join(" "));
    args.push(`-ldflags=${["-s", "-w", ...(part.ldflags ?? [])].join(" ")}`, ...pkgs);
    await run(
      "go",
      args,
      {
        ...process.env,
        GOBIN: tmp,
        CGO_ENABLED: part.cgo ? "1" : "0",
        // `go install pkg@version` ignores any go.mod around it; make sure no GOFLAGS leak in.
        GOFLAGS: "",
      },
      tmp,
    );
  } else {
    // pause.c from the same Kubernetes release, static, as upstream builds its pause image.
    await run(
      "gcc",
      [
        "-Os",
        "-Wall",
        "-Werror",
        "-static",
        `-DVERSION=${KUBERNETES_VERSION}-warden`,
        "-o",
        join(tmp, "pause"),
        pauseSource(),
      ],
      process.env,
      tmp,
    );
    await run("strip", [join(tmp, "pause")], process.env, tmp);
  }
  for (const b of part.binaries) {
    if (!existsSync(join(tmp, b))) throw new Error(`building ${part.name} produced no ${b}`);
  }
  rmSync(out, { recursive: true, force: true });
  renameSync(tmp, out);
}

export type PartDirs = Record<PartName, string>;

/**
 * Builds every node part not yet cached (in parallel) and returns the directory of each. The
 * timings of cold builds are reported through `log` and returned for the docs' figures.
 */
export async function buildNodeParts(
  log: (line: string) => void = console.error,
  only?: readonly PartName[],
): Promise<{ dirs: PartDirs; seconds: Record<string, number> }> {
  mkdirSync(join(cacheDir(), "bin"), { recursive: true });
  const seconds: Record<string, number> = {};
  const dirs = {} as PartDirs;
  const todo = NODE_PARTS.filter((part) => !only || only.includes(part.name as PartName)).map((part) => ({
    part,
    out: partDir(part),
  }));
  const missing = todo.filter((t) => !existsSync(t.out));
  if (missing.length) {
    log(`[node] building ${missing.map((t) => t.part.name).join(", ")} (cold: several minutes on 2 cores)`);
  }
  const started = Date.now();
  const timer = missing.length
    ? setInterval(() => {
        const left = missing.filter((t) => !(t.part.name in seconds)).map((t) => t.part.name);
        log(
          `[node] still building ${left.join(", ")}: ${Math.round((Date.now() - started) / 1000)}s elapsed`,
        );
      }, 30_000)
    : undefined;
  try {
    await Promise.all(
      missing.map(async ({ part, out }) => {
        const t0 = Date.now();
        // Two runs (worktrees, CI's prebuild and its tests) asking at once: one builds, one waits.
        const release = await acquireBuildLock(`${out}.lock`, () => existsSync(out), log);
        if (release === "built-by-other") {
          seconds[part.name] = 0;
          return;
        }
        try {
          await buildPart(part, out);
        } finally {
          release();
        }
        seconds[part.name] = Math.round((Date.now() - t0) / 100) / 10;
        log(`[node] built ${part.name} in ${seconds[part.name]}s`);
      }),
    );
  } finally {
    if (timer) clearInterval(timer);
  }
  for (const t of todo) dirs[t.part.name as PartName] = t.out;
  return { dirs, seconds };
}
