import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { bundle, packageOf } from "./bundle.ts";

const NODE = resolve(import.meta.dirname, "..", "..", "node_modules", ".bin", "node");
const root = mkdtempSync(join(tmpdir(), "warden-bundle-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

// A tiny project: a TypeScript entry with a hashbang, a CommonJS dependency that calls `require`
// lazily (esbuild cannot turn that into an import), and an ESM dependency with an unused export.
mkdirSync(join(root, "src"), { recursive: true });
mkdirSync(join(root, "node_modules", "cjs-dep"), { recursive: true });
mkdirSync(join(root, "node_modules", "@scope", "esm-dep"), { recursive: true });
writeFileSync(
  join(root, "node_modules", "cjs-dep", "package.json"),
  JSON.stringify({ name: "cjs-dep", version: "1.0.0", main: "index.js" }),
);
writeFileSync(
  join(root, "node_modules", "cjs-dep", "index.js"),
  'exports.sep = function () { return require("node:path").sep; };\n',
);
writeFileSync(
  join(root, "node_modules", "@scope", "esm-dep", "package.json"),
  JSON.stringify({
    name: "@scope/esm-dep",
    version: "1.0.0",
    type: "module",
    exports: "./index.js",
    sideEffects: false,
  }),
);
writeFileSync(
  join(root, "node_modules", "@scope", "esm-dep", "index.js"),
  'export const used = () => "used";\nexport const unusedMarker = () => "UNUSED_EXPORT_MARKER";\n',
);
writeFileSync(
  join(root, "src", "main.ts"),
  [
    "#!/usr/bin/env node",
    'import { sep } from "cjs-dep";',
    'import { used } from "@scope/esm-dep";',
    "const n: number = 1;",
    "console.log(JSON.stringify({ sep: sep(), used: used(), n, version: process.env.BUNDLE_VERSION }));",
    "",
  ].join("\n"),
);

describe("bundle", () => {
  it("bundles TypeScript and CommonJS into one ES module that runs, with `require` available", async () => {
    const r = await bundle({
      entry: "src/main.ts",
      outfile: join(root, "out", "main.mjs"),
      nodeVersion: 24,
      root,
      define: { "process.env.BUNDLE_VERSION": '"1.2.3"' },
    });
    const run = spawnSync(NODE, [r.outfile], { encoding: "utf8", env: {} });
    expect(run.stderr).toBe("");
    expect(JSON.parse(run.stdout)).toEqual({ sep: "/", used: "used", n: 1, version: "1.2.3" });
    expect(r.inputs).toEqual([
      "node_modules/@scope/esm-dep/index.js",
      "node_modules/cjs-dep/index.js",
      "src/main.ts",
    ]);
    expect(r.packages.map((p) => p.name).sort()).toEqual(["(project)", "@scope/esm-dep", "cjs-dep"]);
    const text = readFileSync(r.outfile, "utf8");
    expect(text).not.toContain("UNUSED_EXPORT_MARKER");
    expect(text).not.toContain(root); // no absolute paths of the build machine
  });

  it("gives the same bytes for the same inputs", async () => {
    const a = await bundle({
      entry: "src/main.ts",
      outfile: join(root, "a", "m.mjs"),
      nodeVersion: 24,
      root,
    });
    const b = await bundle({
      entry: join(root, "src", "main.ts"),
      outfile: "b/m.mjs",
      nodeVersion: 24,
      root,
    });
    expect(readFileSync(b.outfile).equals(readFileSync(a.outfile))).toBe(true);
  });

  it("replaces the entry's own #! line with the one asked for, and the file runs as a program", async () => {
    const r = await bundle({
      entry: "src/main.ts",
      outfile: join(root, "bin", "main.mjs"),
      nodeVersion: 24,
      root,
      shebang: `#!${NODE}`,
    });
    const text = readFileSync(r.outfile, "utf8");
    expect(text.split("\n")[0]).toBe(`#!${NODE}`);
    expect(text.match(/^#!/gm)).toHaveLength(1);
    chmodSync(r.outfile, 0o755);
    const run = spawnSync(r.outfile, [], { encoding: "utf8", env: {} });
    expect(JSON.parse(run.stdout).used).toBe("used");
  });

  it.each([
    ["no entry", { entry: "", outfile: "x.mjs", nodeVersion: 24, root }, /entry/],
    ["Node too old", { entry: "src/main.ts", outfile: "x.mjs", nodeVersion: 12, root }, /nodeVersion/],
    [
      "shebang without #!",
      { entry: "src/main.ts", outfile: "x.mjs", nodeVersion: 24, root, shebang: "node" },
      /shebang/,
    ],
    ["missing entry file", { entry: "src/nope.ts", outfile: "x.mjs", nodeVersion: 24, root }, /nope\.ts/],
  ])("refuses %s", async (_name, opts, error) => {
    await expect(bundle(opts)).rejects.toThrow(error);
  });
});

describe("packageOf", () => {
  it.each([
    ["node_modules/zod/v4/index.js", "zod"],
    ["node_modules/@kubernetes/client-node/dist/index.js", "@kubernetes/client-node"],
    ["node_modules/a/node_modules/b/x.js", "b"],
    ["gateway/main.ts", undefined],
  ])("%s → %s", (input, name) => {
    expect(packageOf(input)).toBe(name);
  });
});
