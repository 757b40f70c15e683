// npm run images [-- --out DIR] [--registry ghcr.io/agent-warden] [--tag 0.1.0] [--revision SHA] [--only a,b]
//
// Builds agent-warden's images as OCI archives, with no container engine:
//   1. bundles each component's entrypoint with esbuild into one file (scripts/images/bundle.ts);
//   2. writes each image: the shared runtime layer (Node 24 + its libraries, scripts/images/runtime.ts)
//      and an app layer with the bundle (scripts/images/oci.ts);
//   3. records names, digests and sizes in DIR/images.json and a Helm values file pinning the digests
//      in DIR/values-digests.yaml.
// Same sources, same lockfile, same Node → same digests (scripts/images/build.test.ts checks it).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import * as z from "zod";
import { type BundleResult, bundle } from "./bundle.ts";
import { compileCacheEnv, writeCompileCache } from "./compile-cache.ts";
import { APP_DIR, COMPONENT_IMAGES, type ComponentImage } from "./definitions.ts";
import { type ImageSpec, type OciArchiveResult, writeOciArchive } from "./oci.ts";
import { NONROOT, projectNodeBinary, type RuntimeLayer, runtimeLayer } from "./runtime.ts";

const ROOT = resolve(import.meta.dirname, "..", "..");

export const buildOptionsSchema = z.strictObject({
  out: z.string().min(1),
  /** Repository prefix: <registry>/<image name>. */
  registry: z
    .string()
    .regex(
      /^[a-z0-9.-]+(:\d+)?(\/[a-z0-9._-]+)*$/,
      "must be like ghcr.io/agent-warden or 127.0.0.1:5000/warden",
    ),
  /** Image tag; defaults to the chart's appVersion (what the chart pulls when no digest is pinned). */
  tag: z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/),
  /** Commit recorded as org.opencontainers.image.revision (release builds); absent, digests depend only on content. */
  revision: z
    .string()
    .regex(/^[0-9a-f]{7,64}$/)
    .optional(),
  only: z.array(z.enum(["operator", "webhook", "gateway", "cli"])).optional(),
  /** Cache of Debian packages and compressed layers. */
  cacheDir: z.string().min(1),
  root: z.string().min(1),
  log: z.custom<(line: string) => void>((v) => typeof v === "function"),
});
export type BuildOptions = z.input<typeof buildOptionsSchema>;

export interface BuiltImage {
  name: ComponentImage["name"];
  ref: string;
  /** The normalized name containerd records on import. */
  containerdName: string;
  digest: string;
  archive: string;
  archiveBytes: number;
  /** Compressed bytes of each layer (what a registry stores and a node pulls). */
  layers: { comment: string; digest: string; bytes: number; uncompressedBytes: number }[];
  bundle: { file: string; bytes: number; packages: { name: string; bytes: number }[]; inputs: string[] };
}

export interface BuildResult {
  images: BuiltImage[];
  nodeVersion: string;
  debian: { name: string; version: string }[];
}

/** The chart's appVersion: the default tag, so `helm install` finds what `npm run images` built. */
export function chartAppVersion(root: string): string {
  const chart = readFileSync(join(root, "charts", "agent-warden", "Chart.yaml"), "utf8");
  const m = /^appVersion:\s*"?([^"\s]+)"?\s*$/m.exec(chart);
  if (!m) throw new Error("charts/agent-warden/Chart.yaml has no appVersion");
  return m[1]!;
}

function appLayer(
  image: ComponentImage,
  bundled: ComponentBundle,
  version: string,
): ImageSpec["layers"][number] {
  return {
    comment: `agent-warden ${image.name} ${version}: ${image.bundle.entry} bundled`,
    entries: [
      // Read by code that finds its package's version relative to its own file (cli/warden.ts).
      {
        type: "file",
        path: `${APP_DIR}/package.json`,
        data: `${JSON.stringify({ name: "agent-warden", version, private: true, type: "module" }, null, 2)}\n`,
      },
      {
        type: "file",
        path: `${APP_DIR}/${image.bundle.out}`,
        source: bundled.outfile,
        mode: image.shebang ? 0o755 : 0o644,
      },
      ...bundled.workers.map((w) => ({
        type: "file" as const,
        path: `${APP_DIR}/${w.out}`,
        source: w.outfile,
        mode: 0o644,
      })),
      ...bundled.compileCache.map((f) => ({
        type: "file" as const,
        path: `${APP_DIR}/${f.path}`,
        source: f.outfile,
        mode: 0o644,
      })),
      ...(image.extra ?? []),
    ],
  };
}

/** A component's main bundle, its worker bundles and its compile cache (`ComponentImage`). */
export type ComponentBundle = BundleResult & {
  workers: { out: string; outfile: string }[];
  /** Files of the V8 code cache, by path below APP_DIR. */
  compileCache: { path: string; outfile: string }[];
};

/** The image's environment for a component (Node's compile cache, when it has one). */
export function componentEnv(image: ComponentImage): Record<string, string> {
  return image.compileCache ? compileCacheEnv(`${APP_DIR}/${image.compileCache}`) : {};
}

/**
 * One component's bundle, written to `outDir`/<image.bundle.out> (and its workers beside it),
 * exactly as its image holds it. Also used by bench/rss.bench.ts to run the gateway the way its
 * image does.
 */
export async function bundleComponent(
  image: ComponentImage,
  outDir: string,
  root: string,
  nodeMajor: number,
): Promise<ComponentBundle> {
  const common = {
    nodeVersion: nodeMajor,
    root,
    ...(image.define ? { define: image.define(root) } : {}),
    ...(image.substitute ? { substitute: image.substitute } : {}),
  };
  const main = await bundle({
    ...common,
    entry: image.bundle.entry,
    outfile: join(outDir, image.bundle.out),
    ...(image.shebang ? { shebang: image.shebang } : {}),
  });
  const workers: ComponentBundle["workers"] = [];
  for (const w of image.workers ?? []) {
    const r = await bundle({ ...common, entry: w.entry, outfile: join(outDir, w.out) });
    workers.push({ out: w.out, outfile: r.outfile });
  }
  const compileCache = image.compileCache
    ? (
        await writeCompileCache({
          node: projectNodeBinary(root).path,
          appDir: outDir,
          modules: [image.bundle.out, ...workers.map((w) => w.out)],
          cacheDir: image.compileCache,
          uid: NONROOT,
        })
      ).map((path) => ({ path, outfile: join(outDir, path) }))
    : [];
  return { ...main, workers, compileCache };
}

export async function buildImages(options: BuildOptions): Promise<BuildResult> {
  const o = buildOptionsSchema.parse(options);
  const out = resolve(o.out);
  mkdirSync(out, { recursive: true });
  const version = chartAppVersion(o.root);
  const runtime: RuntimeLayer = runtimeLayer(o.root, o.cacheDir);
  const scratch = mkdtempSync(join(out, ".bundles-"));
  const images: BuiltImage[] = [];
  try {
    for (const image of COMPONENT_IMAGES) {
      if (o.only && !o.only.includes(image.name)) continue;
      const started = Date.now();
      const bundled = await bundleComponent(
        image,
        scratch,
        o.root,
        Number(runtime.nodeVersion.split(".")[0]),
      );
      const ref = `${o.registry}/${image.name}:${o.tag}`;
      const labels: Record<string, string> = {
        "org.opencontainers.image.title": `agent-warden-${image.name}`,
        "org.opencontainers.image.description": image.description,
        "org.opencontainers.image.version": version,
        "org.opencontainers.image.licenses": "Apache-2.0",
        "org.opencontainers.image.source": "https://github.com/agent-warden/agent-warden",
        "dev.warden.node-version": runtime.nodeVersion,
        ...(o.revision ? { "org.opencontainers.image.revision": o.revision } : {}),
      };
      const archive = join(out, `${image.name}.oci.tar`);
      const written: OciArchiveResult = await writeOciArchive(
        {
          ref,
          layers: [runtime.layer, appLayer(image, bundled, version)],
          config: {
            user: `${NONROOT}:${NONROOT}`,
            entrypoint: image.entrypoint,
            ...(image.cmd ? { cmd: image.cmd } : {}),
            env: [
              "PATH=/usr/local/bin:/usr/bin:/bin",
              "NODE_ENV=production",
              "HOME=/home/nonroot",
              ...Object.entries(componentEnv(image)).map(([k, v]) => `${k}=${v}`),
            ],
            workingDir: APP_DIR,
            labels,
            ...(image.exposedPorts ? { exposedPorts: image.exposedPorts } : {}),
          },
          annotations: labels,
        },
        archive,
        { layerCacheDir: join(o.cacheDir, "layers") },
      );
      const built: BuiltImage = {
        name: image.name,
        ref,
        containerdName: written.name,
        digest: written.digest,
        archive,
        archiveBytes: written.archiveSize,
        layers: written.layers.map((l) => ({
          comment: l.comment,
          digest: l.digest,
          bytes: l.size,
          uncompressedBytes: l.uncompressedSize,
        })),
        bundle: {
          file: `${APP_DIR}/${image.bundle.out}`,
          bytes: bundled.bytes,
          packages: bundled.packages,
          inputs: bundled.inputs,
        },
      };
      images.push(built);
      o.log(
        `[images] ${image.name.padEnd(8)} ${written.digest}  ${mib(built.layers.reduce((n, l) => n + l.bytes, 0))} compressed, bundle ${mib(bundled.bytes)} (${((Date.now() - started) / 1000).toFixed(1)}s)`,
      );
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  const result: BuildResult = {
    images,
    nodeVersion: runtime.nodeVersion,
    debian: runtime.debian.map(({ name, version: v }) => ({ name, version: v })),
  };
  writeFileSync(join(out, "images.json"), `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(join(out, "values-digests.yaml"), valuesDigests(images));
  return result;
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/**
 * Helm values that pin every image of the chart to what was just built, by digest:
 * `helm install ... -f dist/images/values-digests.yaml`. A digest pins content; the tag only names it.
 */
export function valuesDigests(images: readonly BuiltImage[]): string {
  const lines = ["# Generated by `npm run images`: pins the chart's images to the digests just built."];
  for (const key of ["operator", "webhook", "gateway"] as const) {
    const img = images.find((i) => i.name === key);
    if (!img) continue;
    const repository = img.ref.slice(0, img.ref.lastIndexOf(":"));
    lines.push(`${key}:`, "  image:", `    repository: ${repository}`, `    digest: "${img.digest}"`);
  }
  return `${lines.join("\n")}\n`;
}

async function cli(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      out: { type: "string", default: join(ROOT, "dist", "images") },
      registry: { type: "string", default: "ghcr.io/agent-warden" },
      tag: { type: "string" },
      revision: { type: "string" },
      only: { type: "string" },
    },
    strict: true,
  });
  const started = Date.now();
  const result = await buildImages({
    out: values.out,
    registry: values.registry,
    tag: values.tag ?? chartAppVersion(ROOT),
    ...(values.revision ? { revision: values.revision } : {}),
    ...(values.only ? { only: values.only.split(",") as BuildOptions["only"] } : {}),
    cacheDir: join(process.env.WARDEN_CACHE_DIR ?? join(ROOT, ".cache"), "images"),
    root: ROOT,
    log: (line) => process.stderr.write(`${line}\n`),
  });
  process.stderr.write(
    `[images] ${result.images.length} images in ${values.out} (${((Date.now() - started) / 1000).toFixed(1)}s); digests in images.json, Helm pins in values-digests.yaml\n`,
  );
}

if (import.meta.main) {
  cli(process.argv.slice(2)).catch((err: unknown) => {
    const e = err as Error & { issues?: unknown };
    process.stderr.write(`npm run images: ${e.message}\n`);
    process.exit(1);
  });
}
