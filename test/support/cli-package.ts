// The published shape of the CLI, for tests: pack packages/cli exactly as `npm pack` does for a
// release, and install the tarball into an empty directory outside this repository, with a PATH
// and environment that know nothing of it (no repository node_modules/.bin, no npm_* variables),
// on the machine's Node or on the Node 24 the project installs.
import { spawnSync } from "node:child_process";
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { type CommandResult, run } from "./process.ts";

export const ROOT = join(import.meta.dirname, "..", "..");

export interface PackedCli {
  tarball: string;
  /** Bytes of the .tgz, and of its files unpacked. */
  size: number;
  unpackedSize: number;
  files: string[];
}

const PACK_LOCK = join(ROOT, "packages", "cli", ".pack-lock");

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * One `npm pack` at a time in this checkout: its prepack rewrites packages/cli/dist, so two test
 * files packing at once could tar a half-written bundle. A lock held by a dead process is taken over.
 */
async function withPackLock<T>(fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 600_000;
  for (;;) {
    try {
      mkdirSync(PACK_LOCK);
      writeFileSync(join(PACK_LOCK, "pid"), String(process.pid));
      break;
    } catch {
      let holder = 0;
      try {
        holder = Number(readFileSync(join(PACK_LOCK, "pid"), "utf8"));
      } catch {
        // Being created right now: wait.
      }
      if (holder && !alive(holder)) rmSync(PACK_LOCK, { recursive: true, force: true });
      else if (Date.now() > deadline) throw new Error(`${PACK_LOCK} held by pid ${holder} for 10 minutes`);
      else await new Promise((r) => setTimeout(r, 250));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(PACK_LOCK, { recursive: true, force: true });
  }
}

/** `npm pack ./packages/cli` (its prepack builds dist/warden.js first). */
export function packCli(): Promise<PackedCli> {
  return withPackLock(packCliUnlocked);
}

async function packCliUnlocked(): Promise<PackedCli> {
  const dest = mkdtempSync(join(tmpdir(), "warden-pack-"));
  const r = await run("npm", ["pack", "./packages/cli", "--pack-destination", dest, "--json"], {
    cwd: ROOT,
    timeoutMs: 300_000,
  });
  if (r.code !== 0) throw new Error(`npm pack failed (${r.code}): ${r.stderr}`);
  const [info] = JSON.parse(r.stdout) as {
    filename: string;
    size: number;
    unpackedSize: number;
    files: { path: string }[];
  }[];
  if (!info) throw new Error(`npm pack printed no package: ${r.stdout}`);
  return {
    tarball: join(dest, info.filename),
    size: info.size,
    unpackedSize: info.unpackedSize,
    files: info.files.map((f) => f.path).sort(),
  };
}

export interface NodeRuntime {
  /** "machine" (the `node` on the system PATH) or "project" (Node 24 from node_modules). */
  label: string;
  version: string;
  /** A directory whose `node` is this runtime; put first on PATH. */
  binDir: string;
}

/** PATH entries of this process that are not some node_modules/.bin (npm scripts add those). */
function systemPath(): string[] {
  return (process.env.PATH ?? "").split(delimiter).filter((p) => p && !/node_modules[\\/]\.bin/.test(p));
}

function nodeVersion(node: string): string {
  const r = spawnSync(node, ["--version"], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${node} --version failed: ${r.stderr}`);
  return r.stdout.trim();
}

/** The machine's Node (first `node` on the PATH outside node_modules) and the project's Node 24. */
export function nodeRuntimes(): NodeRuntime[] {
  const machineNode = spawnSync("sh", ["-c", "command -v node"], {
    encoding: "utf8",
    env: { PATH: systemPath().join(delimiter) },
  }).stdout.trim();
  if (!machineNode) throw new Error("no node on the system PATH");
  const project = realpathSync(join(ROOT, "node_modules", ".bin", "node"));
  const projectDir = mkdtempSync(join(tmpdir(), "warden-node24-"));
  symlinkSync(project, join(projectDir, "node"));
  return [
    { label: "machine", version: nodeVersion(machineNode), binDir: dirname(machineNode) },
    { label: "project", version: nodeVersion(project), binDir: projectDir },
  ];
}

/** An environment as a CI job has it: system PATH with `rt` first, no npm_* or NODE_* from us. */
export function cleanEnv(rt: NodeRuntime, extraPath: string[] = []): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(npm_|NODE_|VITEST|INIT_CWD$|KUBECONFIG$)/i.test(k)) continue;
    env[k] = v;
  }
  env.PATH = [rt.binDir, ...extraPath, ...systemPath()].join(delimiter);
  return env;
}

/** A fresh directory outside the repository (no parent node_modules) with the tarball installed. */
export async function installCli(
  packed: PackedCli,
  rt: NodeRuntime,
): Promise<{ dir: string; install: CommandResult }> {
  const dir = mkdtempSync(join(tmpdir(), "warden-user-"));
  writeFileSync(join(dir, "package.json"), `${JSON.stringify({ name: "user-repo", private: true })}\n`);
  // --offline: the package must need nothing from a registry (every dependency is bundled).
  const install = await run(
    "npm",
    ["install", "--offline", "--no-audit", "--no-fund", "--save-dev", packed.tarball],
    { cwd: dir, env: cleanEnv(rt), timeoutMs: 300_000 },
  );
  if (install.code !== 0) throw new Error(`npm install of ${packed.tarball} failed: ${install.stderr}`);
  return { dir, install };
}

/** Runs a command line with bash -e in `dir`, as a CI step runs its `run:` block. */
export function runStep(
  script: string,
  dir: string,
  env: NodeJS.ProcessEnv,
  timeoutMs = 300_000,
): Promise<CommandResult> {
  mkdirSync(dir, { recursive: true });
  return run("bash", ["-e", "-c", script], { cwd: dir, env, timeoutMs });
}
