// Bundles one TypeScript entrypoint and everything it imports (the project's code and its npm
// dependencies) into one ES module file with esbuild. Used for the images (one file per component,
// so an image holds only the code its component loads) and usable for anything else that ships a
// self-contained entrypoint. Nothing here knows about agent-warden's components.
//
// The output is deterministic: esbuild's output depends only on its version, the options below and
// the input files, and paths in it are relative to `root`, never absolute.
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, isAbsolute, relative, resolve } from "node:path";
import { build, type Metafile, type Plugin } from "esbuild";
import * as z from "zod";

/**
 * ESM output cannot call `require`, but some CommonJS dependencies do (lazily, inside functions, so
 * esbuild cannot turn them into imports): give the module a real `require` bound to its own location.
 * The name is unusual so it cannot collide with a bundled identifier.
 */
const REQUIRE_BANNER = [
  'import { createRequire as __bundleCreateRequire } from "node:module";',
  "const require = __bundleCreateRequire(import.meta.url);",
].join("\n");

export const bundleOptionsSchema = z.strictObject({
  /** The entry file (TypeScript or JavaScript). */
  entry: z.string().min(1),
  /** The single output file (.mjs or .js in a "type": "module" package). */
  outfile: z.string().min(1),
  /** The oldest Node major the bundle must run on: syntax newer than that is lowered. */
  nodeVersion: z.number().int().min(18),
  /** Packages (or paths) left as imports, e.g. optional dependencies that are installed beside it. */
  external: z.array(z.string().min(1)).default([]),
  /** Constants replaced at build time, e.g. {"process.env.WARDEN_VERSION": '"0.1.0"'} (JSON values). */
  define: z.record(z.string(), z.string()).default({}),
  /** Source paths in the output (comments, the metafile) are relative to this directory. */
  root: z.string().min(1),
  /** Whitespace and syntax minification; identifiers keep their names (stack traces stay readable). */
  minify: z.boolean().default(true),
  /**
   * Bare import paths replaced by a file (relative to root), e.g. {"undici": "src/undici-slim.cjs"}:
   * a smaller entry into a package whose index loads far more than the program uses. Only the exact
   * path matches ("undici", not "undici/lib/x.js"), so the replacement can import the package's parts.
   */
  substitute: z.record(z.string().min(1), z.string().min(1)).default({}),
  /** A first line such as "#!/usr/bin/env node" (for executables). */
  shebang: z.string().startsWith("#!").optional(),
});
export type BundleOptions = z.input<typeof bundleOptionsSchema>;

export interface BundleResult {
  outfile: string;
  bytes: number;
  /** Every input file in the bundle, relative to root (node_modules/... for dependencies). */
  inputs: string[];
  /** The inputs that contribute bytes to the output (the rest were parsed and tree-shaken away). */
  included: string[];
  /** Bytes each npm package contributes to the output, largest first. */
  packages: { name: string; bytes: number }[];
}

/** The npm package an input path belongs to: node_modules/@a/b/x.js → @a/b; project files → undefined. */
export function packageOf(input: string): string | undefined {
  // The innermost node_modules decides: node_modules/a/node_modules/b/x.js belongs to b.
  const parts = input.split("/");
  const at = parts.lastIndexOf("node_modules");
  if (at === -1) return undefined;
  const name = parts[at + 1]?.startsWith("@") ? parts.slice(at + 1, at + 3).join("/") : parts[at + 1];
  return name || undefined;
}

function packageSizes(meta: Metafile, outfile: string): { name: string; bytes: number }[] {
  const out = Object.values(meta.outputs)[0];
  if (!out) throw new Error(`esbuild wrote no output for ${outfile}`);
  const sizes = new Map<string, number>();
  for (const [input, { bytesInOutput }] of Object.entries(out.inputs)) {
    const name = packageOf(input) ?? "(project)";
    sizes.set(name, (sizes.get(name) ?? 0) + bytesInOutput);
  }
  return [...sizes.entries()].map(([name, bytes]) => ({ name, bytes })).sort((a, b) => b.bytes - a.bytes);
}

/** esbuild plugin: exact bare import paths → files (see `substitute`). */
function substitutePlugin(root: string, map: Record<string, string>): Plugin {
  const literal = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  const filter = new RegExp(`^(${Object.keys(map).map(literal).join("|")})$`);
  return {
    name: "substitute",
    setup(b) {
      b.onResolve({ filter }, (args) => ({ path: resolve(root, map[args.path]!) }));
    },
  };
}

export async function bundle(options: BundleOptions): Promise<BundleResult> {
  const o = bundleOptionsSchema.parse(options);
  const root = resolve(o.root);
  const outfile = isAbsolute(o.outfile) ? o.outfile : resolve(root, o.outfile);
  mkdirSync(dirname(outfile), { recursive: true });
  const result = await build({
    absWorkingDir: root,
    entryPoints: [isAbsolute(o.entry) ? relative(root, o.entry) : o.entry],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    target: `node${o.nodeVersion}`,
    external: o.external,
    define: o.define,
    banner: { js: REQUIRE_BANNER },
    plugins: Object.keys(o.substitute).length > 0 ? [substitutePlugin(root, o.substitute)] : [],
    minifyWhitespace: o.minify,
    minifySyntax: o.minify,
    // License comments of bundled packages are kept, gathered at the end of the file.
    legalComments: "eof",
    metafile: true,
    logLevel: "silent",
    // Deterministic: no source maps with absolute paths, no build time or host in the output.
    sourcemap: false,
    charset: "utf8",
  });
  if (result.errors.length > 0) {
    throw new Error(`esbuild failed for ${o.entry}: ${result.errors.map((e) => e.text).join("; ")}`);
  }
  if (o.shebang !== undefined) {
    // esbuild keeps the entry file's own "#!" line above the banner; replace it with the one asked for.
    const text = readFileSync(outfile, "utf8").replace(/^#![^\n]*\n/, "");
    writeFileSync(outfile, `${o.shebang}\n${text}`);
  }
  const inputs = Object.keys(result.metafile.inputs).sort();
  const output = Object.values(result.metafile.outputs)[0]!;
  return {
    outfile,
    bytes: statSync(outfile).size,
    inputs,
    included: Object.entries(output.inputs)
      .filter(([, v]) => v.bytesInOutput > 0)
      .map(([k]) => k)
      .sort(),
    packages: packageSizes(result.metafile, outfile),
  };
}

/** The bundle's text, for tests that look for code that must not be in it. */
export function bundleText(result: BundleResult): string {
  return readFileSync(result.outfile, "utf8");
}
