// Builds the publishable CLI package (packages/cli): one ESM file, dist/warden.js, with every
// dependency bundled in, for Node >= 20, so `npm install @agent-warden/cli` fetches nothing else
// and `npx warden` starts without resolving a dependency tree. Runs as the package's `prepack`,
// so `npm pack ./packages/cli` always packs a fresh build.
//
// Baked in at build time: the package version (must equal the root package's), the commit, and
// the CRDs from crds/ (checked against api/v1alpha1 first, so a drifted CRD cannot ship).
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseYaml } from "yaml";
import { gitCommit } from "../cli/provenance.ts";
import { CRD_DIR, drift } from "./gen-crds.ts";
import { bundle, packageOf } from "./images/bundle.ts";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
export const CLI_PACKAGE_DIR = join(ROOT, "packages", "cli");
export const CLI_ENTRY = join(ROOT, "cli", "warden.ts");
/** The oldest Node the package supports; the packed-tarball test runs it on this and on 24. */
export const CLI_NODE_VERSION = 20;

export interface CliBuild {
  outfile: string;
  bytes: number;
  version: string;
  commit: string;
  /** Packages bundled in, by name, with their license file (or "no license file"). */
  bundled: { name: string; version: string; license: string }[];
}

function readJson<T>(file: string): T {
  return JSON.parse(readFileSync(file, "utf8")) as T;
}

/** The CRD objects exactly as committed in crds/, refusing to build when they drift from api/. */
export function committedCrds(): unknown[] {
  const problems = drift(CRD_DIR);
  if (problems.length > 0) throw new Error(`CRDs drifted, run npm run crds first:\n${problems.join("\n")}`);
  return readdirSync(CRD_DIR)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .map((f) => parseYaml(readFileSync(join(CRD_DIR, f), "utf8")) as unknown);
}

/** node_modules/<name> (or @scope/name) directories the bundle took code from. */
function bundledPackages(inputs: string[]): string[] {
  const names = new Set(inputs.map(packageOf).filter((n): n is string => n !== undefined));
  return [...names].sort().map((n) => join(ROOT, "node_modules", ...n.split("/")));
}

/**
 * What a CLI bundle bakes in (esbuild `define`s): version and commit for `warden version` and SARIF,
 * and the CRDs `warden check` validates warden objects against. The CLI image uses them too.
 */
export function cliBuildDefines(root: string = ROOT): Record<string, string> {
  const version = readJson<{ version: string }>(join(root, "package.json")).version;
  return {
    __WARDEN_BUILD__: JSON.stringify({ version, commit: gitCommit(root) }),
    __WARDEN_CRDS__: JSON.stringify(committedCrds()),
  };
}

function notices(dirs: string[]): { text: string; bundled: CliBuild["bundled"] } {
  const bundled: CliBuild["bundled"] = [];
  const parts: string[] = [
    "warden (@agent-warden/cli) bundles the following packages. Their licenses follow.\n",
  ];
  for (const dir of dirs) {
    const pkg = readJson<{ name: string; version: string; license?: string }>(join(dir, "package.json"));
    const file = readdirSync(dir).find((f) => /^(licen[cs]e|copying)(\.|$)/i.test(f));
    bundled.push({ name: pkg.name, version: pkg.version, license: pkg.license ?? "see file" });
    parts.push(
      `${"=".repeat(78)}\n${pkg.name}@${pkg.version} (${pkg.license ?? "license in file"})\n${"=".repeat(78)}\n` +
        (file ? readFileSync(join(dir, file), "utf8").trim() : "(no license file in the package)") +
        "\n",
    );
  }
  return { text: parts.join("\n"), bundled };
}

export async function buildCli(outDir = join(CLI_PACKAGE_DIR, "dist")): Promise<CliBuild> {
  const version = readJson<{ version: string }>(join(ROOT, "package.json")).version;
  const cliVersion = readJson<{ version: string }>(join(CLI_PACKAGE_DIR, "package.json")).version;
  if (cliVersion !== version) {
    throw new Error(
      `packages/cli/package.json version ${cliVersion} differs from the project's ${version}: set them equal`,
    );
  }
  const defines = cliBuildDefines(ROOT);
  const { commit } = JSON.parse(defines.__WARDEN_BUILD__!) as { commit: string };
  mkdirSync(outDir, { recursive: true });
  const outfile = join(outDir, "warden.js");
  // The project's one bundling path (scripts/images/bundle.ts), as the CLI image is built.
  const result = await bundle({
    entry: CLI_ENTRY,
    outfile,
    nodeVersion: CLI_NODE_VERSION,
    root: ROOT,
    define: defines,
    shebang: "#!/usr/bin/env node",
  });
  chmodSync(outfile, 0o755);
  const { text, bundled } = notices(bundledPackages(result.inputs));
  writeFileSync(join(outDir, "THIRD-PARTY-NOTICES.txt"), text);
  return { outfile, bytes: readFileSync(outfile).length, version, commit, bundled };
}

if (import.meta.main) {
  const b = await buildCli();
  const rel = relative(process.cwd(), b.outfile) || b.outfile;
  // stderr: `npm pack --json` owns stdout.
  console.error(
    `built ${rel.split(sep).join("/")} (${(b.bytes / 1024).toFixed(0)} KiB, ${b.version}, commit ${b.commit}, ${b.bundled.length} bundled packages)`,
  );
  if (!existsSync(b.outfile)) process.exit(1);
}
