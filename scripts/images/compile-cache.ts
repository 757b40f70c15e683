// A V8 code cache for a component's bundles, made when its image is built (Node's module compile
// cache, NODE_COMPILE_CACHE): at start Node then deserializes the bundle's compiled top-level code
// instead of parsing and compiling ~1 MB of JavaScript under the container's CPU limit.
//
// The container's root file system is read-only, so the cache is produced here and only read at
// run time (Node 24 reads entries from an existing directory and writes nothing when they were
// accepted; when it cannot use them it silently compiles as usual). What makes it fit an image:
//   - portable mode (NODE_COMPILE_CACHE_PORTABLE=1): entries are keyed by the module's path
//     relative to the cache directory, so a cache made in a staging copy serves /app;
//   - reproducible bytes: V8 writes the same cache for the same source, flags and script URL when
//     run with --predictable (no random hash seed), so the staging copy is at a fixed path;
//   - Node names the cache's subdirectory after its version, a flags hash and the *uid*: the
//     subdirectory is renamed for the uid the image runs as.
// The entries are made by running each bundle once with no configuration: it loads, compiles,
// fails its configuration check and exits, and Node writes what it compiled.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  closeSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

/** The environment that makes Node read a cache made by writeCompileCache from `dir`. */
export function compileCacheEnv(dir: string): Record<string, string> {
  return { NODE_COMPILE_CACHE: dir, NODE_COMPILE_CACHE_PORTABLE: "1" };
}

export interface CompileCacheOptions {
  /** The Node binary the image runs (the cache is only valid for that exact version). */
  node: string;
  /** Where the bundles are, laid out as below the image's app directory. */
  appDir: string;
  /** The bundles to compile, relative to appDir (the main bundle and its workers). */
  modules: readonly string[];
  /** The cache directory, relative to appDir. */
  cacheDir: string;
  /** The uid the image runs as. */
  uid: number;
}

/**
 * Writes the cache into appDir/cacheDir and returns its files (relative to appDir), sorted.
 * Throws if Node wrote no entry for a module.
 */
export async function writeCompileCache(o: CompileCacheOptions): Promise<string[]> {
  const hash = createHash("sha256");
  for (const m of o.modules)
    hash
      .update(m)
      .update("\0")
      .update(readFileSync(join(o.appDir, m)));
  // A fixed path (the script URL is part of what V8 writes), one per content, so that two builds
  // of the same bundles write the same bytes; a lock file keeps concurrent builds apart.
  const stage = `/tmp/agent-warden-compile-cache-${hash.digest("hex").slice(0, 16)}`;
  const lock = `${stage}.lock`;
  await acquire(lock);
  try {
    rmSync(stage, { recursive: true, force: true });
    for (const m of o.modules) {
      mkdirSync(dirname(join(stage, m)), { recursive: true });
      copyFileSync(join(o.appDir, m), join(stage, m));
    }
    const stagedCache = join(stage, o.cacheDir);
    for (const m of o.modules) {
      const r = spawnSync(o.node, ["--predictable", join(stage, m)], {
        cwd: stage,
        env: { PATH: "/usr/bin:/bin", ...compileCacheEnv(stagedCache) },
        stdio: ["ignore", "ignore", "pipe"],
        timeout: 120_000,
      });
      if (r.error) throw new Error(`compile cache: running ${m} failed: ${r.error.message}`);
    }
    const made = existsSync(stagedCache) ? readdirSync(stagedCache) : [];
    if (made.length !== 1)
      throw new Error(
        `compile cache: expected one cache directory in ${stagedCache}, found ${made.join(", ")}`,
      );
    // <node version>-<arch>-<flags hash>-<uid>: the uid is the builder's, the image runs as o.uid.
    const sub = made[0]!;
    const forImage = sub.replace(/-\d+$/, `-${o.uid}`);
    const entries = readdirSync(join(stagedCache, sub)).sort();
    if (entries.length < o.modules.length)
      throw new Error(`compile cache: ${entries.length} entries for ${o.modules.length} modules`);
    const target = join(o.appDir, o.cacheDir);
    rmSync(target, { recursive: true, force: true });
    mkdirSync(dirname(target), { recursive: true });
    // A copy, not a rename: the staging directory may be on another file system.
    cpSync(join(stagedCache, sub), join(target, forImage), { recursive: true });
    return entries.map((e) => `${o.cacheDir}/${forImage}/${e}`);
  } finally {
    rmSync(stage, { recursive: true, force: true });
    rmSync(lock, { force: true });
  }
}

/** Creates `lock` exclusively, waiting (bounded: 10 minutes) while another build holds it. */
async function acquire(lock: string): Promise<void> {
  for (let i = 0; i < 6000; i++) {
    try {
      closeSync(openSync(lock, "wx"));
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      await sleep(100);
    }
  }
  throw new Error(`compile cache: ${lock} is held by another build (remove it if none is running)`);
}
