// What `warden version` and SARIF report about the running CLI: the package version, the version
// of the rule catalog (a digest of every rule id and description, so two CLIs that print the same
// catalog version judge by the same rules) and the commit it was built from. A packed CLI has these
// baked in by scripts/build-cli.ts; a source checkout reads package.json and asks git.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ALL_RULES } from "../webhook/rules/catalog.ts";
import { CRD_RULE_CATALOG } from "./crd/catalog.ts";

/** Replaced at bundle time (esbuild `define`); undefined when running from the source tree. */
declare const __WARDEN_BUILD__: { version: string; commit: string } | undefined;

/** Where the rule documentation lives; SARIF help URIs point into it. */
export const DOCS_BASE = "https://github.com/agent-warden/agent-warden/blob/main/docs";

export interface Provenance {
  packageVersion: string;
  catalogVersion: string;
  ruleCount: number;
  commit: string;
  /** "package" for the bundled CLI, "source" for a checkout run through Node 24. */
  build: "package" | "source";
}

/** Every rule the CLI can report: admission rules, kind rules and CRD schema/CEL findings. */
export function ruleCatalog(): Record<string, string> {
  return { ...ALL_RULES, ...CRD_RULE_CATALOG };
}

/** sha256 over the sorted "id\tdescription" lines of the catalog, first 12 hex digits. */
export function catalogVersion(catalog: Record<string, string> = ruleCatalog()): string {
  const text = Object.keys(catalog)
    .sort()
    .map((id) => `${id}\t${catalog[id]}`)
    .join("\n");
  return `sha256-${createHash("sha256").update(text).digest("hex").slice(0, 12)}`;
}

function sourceBuild(): { version: string; commit: string } {
  const root = join(dirname(fileURLToPath(import.meta.url)), "..");
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };
  return { version: pkg.version, commit: gitCommit(root) };
}

/** HEAD of the checkout at `dir`, with "-dirty" when tracked files differ; "unknown" without git. */
export function gitCommit(dir: string): string {
  const head = spawnSync("git", ["rev-parse", "HEAD"], { cwd: dir, encoding: "utf8" });
  if (head.status !== 0 || !head.stdout) return "unknown";
  const dirty = spawnSync("git", ["status", "--porcelain", "--untracked-files=no"], {
    cwd: dir,
    encoding: "utf8",
  });
  return `${head.stdout.trim()}${dirty.status === 0 && dirty.stdout.trim() ? "-dirty" : ""}`;
}

let cached: Provenance | undefined;

export function provenance(): Provenance {
  if (cached) return cached;
  const packaged = typeof __WARDEN_BUILD__ === "undefined" ? undefined : __WARDEN_BUILD__;
  const b = packaged ?? sourceBuild();
  const catalog = ruleCatalog();
  cached = {
    packageVersion: b.version,
    catalogVersion: catalogVersion(catalog),
    ruleCount: Object.keys(catalog).length,
    commit: b.commit,
    build: packaged ? "package" : "source",
  };
  return cached;
}
