// A small, reproducible OCI image writer that needs no container engine.
//
//   const { digest } = await writeOciArchive(
//     { ref: "ghcr.io/agent-warden/gateway:0.1.0", layers: [...], config: { user: "65532:65532", ... } },
//     "dist/images/gateway.oci.tar",
//   );
//
// It writes an OCI image layout (oci-layout, index.json, blobs/sha256/...) as one tar archive, the
// format `ctr -n k8s.io images import`, `skopeo copy oci-archive:...`, `crane push` and
// `podman load` read. The same inputs always give the same bytes, so the same manifest digest:
//   - layer entries are sorted by path, parent directories are added, and every header field a stock
//     `tar` would take from the file system (owner, group, mtime, user names) is fixed;
//   - JSON documents are serialized with sorted keys and no whitespace;
//   - gzip output carries no file name or timestamp; its bytes depend only on the zlib in the Node
//     binary that runs this (pinned by the project's `node` devDependency). The uncompressed layer
//     digest (the config's diff_id) depends on nothing but the entries.
// Nothing here knows about agent-warden: scripts/images/build.ts describes the project's images.
import { createHash } from "node:crypto";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { gzipSync, constants as zlibConstants } from "node:zlib";
import * as z from "zod";
import { chunksLength, sha256Chunks, type TarEntry, tarChunks } from "./tar.ts";

export const MEDIA_TYPES = {
  index: "application/vnd.oci.image.index.v1+json",
  manifest: "application/vnd.oci.image.manifest.v1+json",
  config: "application/vnd.oci.image.config.v1+json",
  layerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  layerTar: "application/vnd.oci.image.layer.v1.tar",
} as const;

/** containerd's import reads the image name from this index annotation. */
export const CONTAINERD_NAME_ANNOTATION = "io.containerd.image.name";
/** The OCI image-layout annotation: the tag, which `skopeo copy oci-archive:<file>:<tag>` selects. */
export const OCI_REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name";

// ---------- input ----------

/** A path inside the image: relative or absolute, no `..`, no empty segments. */
const imagePath = z
  .string()
  .min(1)
  .refine((p) => !p.split("/").some((s) => s === ".." || s === "."), {
    message: "must not contain '.' or '..' segments (write the normalized path)",
  })
  .refine((p) => !/\/\/|\0/.test(p), { message: "must not contain '//' or NUL" })
  .refine((p) => p.replace(/^\/+|\/+$/g, "") !== "", { message: "must name something below /" });

const id = z.number().int().min(0).max(0o7777777);
const mode = z.number().int().min(0).max(0o7777);

export const layerEntrySchema = z.discriminatedUnion("type", [
  z.strictObject({
    type: z.literal("file"),
    path: imagePath,
    /** Inline content. Exactly one of `data` and `source`. */
    data: z.union([z.string(), z.instanceof(Uint8Array)]).optional(),
    /** A file on the build machine to copy. Its mode defaults to 0755 if executable there, else 0644. */
    source: z.string().min(1).optional(),
    mode: mode.optional(),
    uid: id.optional(),
    gid: id.optional(),
  }),
  z.strictObject({
    type: z.literal("dir"),
    path: imagePath,
    mode: mode.optional(),
    uid: id.optional(),
    gid: id.optional(),
  }),
  z.strictObject({
    type: z.literal("symlink"),
    path: imagePath,
    target: z.string().min(1),
    uid: id.optional(),
    gid: id.optional(),
  }),
]);
export type LayerEntryInput = z.input<typeof layerEntrySchema>;

export const layerSpecSchema = z.strictObject({
  /** What the layer holds, for people: recorded as the config history's `created_by`. */
  comment: z.string().min(1),
  entries: z.array(layerEntrySchema),
  /** gzip (default) or none. Registries and containerd take both. */
  compression: z.enum(["gzip", "none"]).default("gzip"),
});
export type LayerSpec = z.input<typeof layerSpecSchema>;

export const imageConfigSchema = z.strictObject({
  /** "uid", "uid:gid" or a name; numeric is what `runAsNonRoot` can verify. */
  user: z.string().optional(),
  entrypoint: z.array(z.string()).optional(),
  cmd: z.array(z.string()).optional(),
  /** "KEY=value" strings, in the order given. */
  env: z.array(z.string().regex(/^[^=\s]+=/, "must be KEY=value")).optional(),
  workingDir: z.string().startsWith("/").optional(),
  labels: z.record(z.string(), z.string()).optional(),
  /** "15001/tcp" or a bare port number (tcp). */
  exposedPorts: z
    .array(z.union([z.number().int().min(1).max(65535), z.string().regex(/^\d+\/(tcp|udp)$/)]))
    .optional(),
  stopSignal: z.string().optional(),
  architecture: z.enum(["amd64", "arm64"]).default("amd64"),
  os: z.literal("linux").default("linux"),
});
export type ImageConfigInput = z.input<typeof imageConfigSchema>;

/**
 * An image reference with a tag: [registry[:port]/]path:tag. A reference without a registry is
 * normalized the way containerd and the kubelet do (`gateway:1` → `docker.io/library/gateway:1`),
 * so the name containerd records is the one a pod's `image:` resolves to.
 */
const REF =
  /^(?:((?:[a-zA-Z0-9-]+\.)*[a-zA-Z0-9-]+(?::\d+)?)\/)?([a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*):([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})$/;

export const imageSpecSchema = z.strictObject({
  ref: z
    .string()
    .regex(REF, "must be [registry/]path:tag with a lower-case path and a tag, e.g. ghcr.io/o/gateway:0.1.0"),
  layers: z.array(layerSpecSchema).min(1),
  config: imageConfigSchema,
  /** Seconds since the epoch for every file's mtime and the config's `created` (SOURCE_DATE_EPOCH). */
  epoch: z.number().int().min(0).default(0),
  /** Extra manifest annotations (org.opencontainers.image.source, .revision, ...). */
  annotations: z.record(z.string(), z.string()).optional(),
});
export type ImageSpec = z.input<typeof imageSpecSchema>;

export interface BlobInfo {
  mediaType: string;
  digest: string;
  size: number;
}

export interface OciArchiveResult {
  /** The normalized reference recorded for containerd. */
  name: string;
  /** The manifest digest: what a registry reports and what a chart pins (`image@sha256:...`). */
  digest: string;
  /** The manifest's size in bytes. */
  size: number;
  config: BlobInfo;
  layers: (BlobInfo & { diffId: string; uncompressedSize: number; comment: string })[];
  /** Bytes of the archive on disk. */
  archiveSize: number;
}

/** Splits and normalizes a reference: `gateway:1` → docker.io/library/gateway, tag 1. */
export function normalizeRef(ref: string): { name: string; repository: string; tag: string } {
  const m = REF.exec(ref);
  if (!m) throw new Error(`image ref ${JSON.stringify(ref)}: must be [registry/]path:tag`);
  let registry = m[1];
  let path = m[2]!;
  const tag = m[3]!;
  // Like Docker: the first component is a registry only if it has a dot or a port, or is localhost.
  if (registry !== undefined && !/[.:]/.test(registry) && registry !== "localhost") {
    path = `${registry}/${path}`;
    registry = undefined;
  }
  if (registry === undefined) {
    registry = "docker.io";
    if (!path.includes("/")) path = `library/${path}`;
  }
  const repository = `${registry}/${path}`;
  return { name: `${repository}:${tag}`, repository, tag };
}

// ---------- layers ----------

function normalizePath(p: string): string {
  return p.replace(/^\/+/, "").replace(/\/+$/, "");
}

/**
 * The tar entries of one layer: validated, normalized (no leading `/`), parents added as root-owned
 * 0755 directories, sorted by path, duplicates rejected.
 */
export function layerTarEntries(spec: LayerSpec, epoch = 0): TarEntry[] {
  const layer = layerSpecSchema.parse(spec);
  const byPath = new Map<string, TarEntry>();
  for (const e of layer.entries) {
    const path = normalizePath(e.path);
    if (byPath.has(path)) throw new Error(`layer "${layer.comment}": ${path} is listed twice`);
    const uid = e.uid ?? 0;
    const gid = e.gid ?? 0;
    if (e.type === "dir") {
      byPath.set(path, { type: "dir", path, mode: e.mode ?? 0o755, uid, gid, mtime: epoch });
    } else if (e.type === "symlink") {
      byPath.set(path, { type: "symlink", path, target: e.target, uid, gid, mtime: epoch });
    } else {
      if ((e.data === undefined) === (e.source === undefined)) {
        throw new Error(`layer "${layer.comment}": file ${path} needs exactly one of data and source`);
      }
      let data: Uint8Array;
      let fileMode = e.mode;
      if (e.source !== undefined) {
        const st = statSync(e.source);
        if (!st.isFile())
          throw new Error(`layer "${layer.comment}": source ${e.source} is not a regular file`);
        data = readFileSync(e.source);
        fileMode ??= st.mode & 0o111 ? 0o755 : 0o644;
      } else {
        data = typeof e.data === "string" ? Buffer.from(e.data, "utf8") : e.data!;
      }
      byPath.set(path, { type: "file", path, data, mode: fileMode ?? 0o644, uid, gid, mtime: epoch });
    }
  }
  for (const path of [...byPath.keys()]) {
    const parts = path.split("/");
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join("/");
      const existing = byPath.get(parent);
      if (existing && existing.type !== "dir") {
        throw new Error(`layer "${layer.comment}": ${parent} is a ${existing.type} but ${path} is below it`);
      }
      if (!existing)
        byPath.set(parent, { type: "dir", path: parent, mode: 0o755, uid: 0, gid: 0, mtime: epoch });
    }
  }
  // Byte order of UTF-8 paths (what `LC_ALL=C sort` gives), so parents precede children.
  return [...byPath.values()].sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
}

interface BuiltLayer {
  blob: Uint8Array[];
  info: BlobInfo & { diffId: string; uncompressedSize: number; comment: string };
}

/** Fixed gzip parameters. Level 6: level 9 took 1.5x as long on the Node binary for 0.3% less. */
const GZIP_OPTIONS = { level: 6, memLevel: 8, strategy: zlibConstants.Z_DEFAULT_STRATEGY } as const;

/**
 * gzip with no name and no mtime (Node writes neither) and fixed parameters: the bytes depend only
 * on the input and the zlib build. With a cache directory, the result is kept under the digest of the
 * uncompressed tar plus the zlib version and parameters, so a warm build skips recompressing the
 * large runtime layer (compressing the Node binary takes tens of seconds on a busy 2-core machine).
 */
function gzip(chunks: Uint8Array[], diffId: string, cacheDir: string | undefined): Buffer {
  if (cacheDir === undefined) return gzipSync(Buffer.concat(chunks), GZIP_OPTIONS);
  const key = createHash("sha256")
    .update(canonicalJson({ diffId, zlib: process.versions.zlib, ...GZIP_OPTIONS }))
    .digest("hex");
  const cached = join(cacheDir, `${key}.gz`);
  if (existsSync(cached)) return readFileSync(cached);
  const out = gzipSync(Buffer.concat(chunks), GZIP_OPTIONS);
  mkdirSync(cacheDir, { recursive: true });
  const tmp = `${cached}.tmp-${process.pid}`;
  writeFileSync(tmp, out);
  renameSync(tmp, cached);
  return out;
}

function buildLayer(spec: LayerSpec, epoch: number, cacheDir: string | undefined): BuiltLayer {
  const layer = layerSpecSchema.parse(spec);
  const tar = tarChunks(layerTarEntries(layer, epoch));
  const diffId = `sha256:${sha256Chunks(tar)}`;
  const uncompressedSize = chunksLength(tar);
  const blob = layer.compression === "gzip" ? [gzip(tar, diffId, cacheDir)] : tar;
  return {
    blob,
    info: {
      mediaType: layer.compression === "gzip" ? MEDIA_TYPES.layerGzip : MEDIA_TYPES.layerTar,
      digest: `sha256:${sha256Chunks(blob)}`,
      size: chunksLength(blob),
      diffId,
      uncompressedSize,
      comment: layer.comment,
    },
  };
}

// ---------- JSON documents ----------

/** JSON with object keys sorted at every level and no whitespace: one byte string per value. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (v && typeof v === "object" && !Array.isArray(v)) {
      return Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    return v;
  });
}

function jsonBlob(mediaType: string, value: unknown): { bytes: Buffer; info: BlobInfo } {
  const bytes = Buffer.from(canonicalJson(value), "utf8");
  return {
    bytes,
    info: {
      mediaType,
      digest: `sha256:${createHash("sha256").update(bytes).digest("hex")}`,
      size: bytes.length,
    },
  };
}

function imageConfig(
  cfg: z.output<typeof imageConfigSchema>,
  layers: BuiltLayer[],
  epoch: number,
): Record<string, unknown> {
  const created = new Date(epoch * 1000).toISOString().replace(/\.000Z$/, "Z");
  const config: Record<string, unknown> = {};
  if (cfg.user !== undefined) config.User = cfg.user;
  if (cfg.entrypoint !== undefined) config.Entrypoint = cfg.entrypoint;
  if (cfg.cmd !== undefined) config.Cmd = cfg.cmd;
  if (cfg.env !== undefined) config.Env = cfg.env;
  if (cfg.workingDir !== undefined) config.WorkingDir = cfg.workingDir;
  if (cfg.labels !== undefined) config.Labels = cfg.labels;
  if (cfg.stopSignal !== undefined) config.StopSignal = cfg.stopSignal;
  if (cfg.exposedPorts !== undefined) {
    config.ExposedPorts = Object.fromEntries(
      cfg.exposedPorts.map((p) => [typeof p === "number" ? `${p}/tcp` : p, {}]),
    );
  }
  return {
    created,
    architecture: cfg.architecture,
    os: cfg.os,
    config,
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.info.diffId) },
    history: layers.map((l) => ({ created, created_by: l.info.comment })),
  };
}

// ---------- archive ----------

export interface WriteOptions {
  /** Where compressed layers are cached by content (e.g. .cache/images/layers). None: no cache. */
  layerCacheDir?: string;
}

/** Builds the image in memory: the blobs by digest and the descriptors that point at them. */
export function buildImage(
  spec: ImageSpec,
  options: WriteOptions = {},
): {
  result: Omit<OciArchiveResult, "archiveSize">;
  files: { path: string; chunks: Uint8Array[] }[];
} {
  const image = imageSpecSchema.parse(spec);
  const { name, tag } = normalizeRef(image.ref);
  const layers = image.layers.map((l) => buildLayer(l, image.epoch, options.layerCacheDir));
  const config = jsonBlob(MEDIA_TYPES.config, imageConfig(image.config, layers, image.epoch));
  const manifest = jsonBlob(MEDIA_TYPES.manifest, {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.manifest,
    config: config.info,
    layers: layers.map((l) => ({ mediaType: l.info.mediaType, digest: l.info.digest, size: l.info.size })),
    ...(image.annotations && Object.keys(image.annotations).length > 0
      ? { annotations: image.annotations }
      : {}),
  });
  const index = Buffer.from(
    canonicalJson({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.index,
      manifests: [
        {
          ...manifest.info,
          platform: { architecture: image.config.architecture, os: image.config.os },
          annotations: { [CONTAINERD_NAME_ANNOTATION]: name, [OCI_REF_NAME_ANNOTATION]: tag },
        },
      ],
    }),
    "utf8",
  );
  const blobPath = (digest: string) => `blobs/sha256/${digest.slice("sha256:".length)}`;
  const blobs = new Map<string, Uint8Array[]>();
  for (const l of layers) blobs.set(blobPath(l.info.digest), l.blob);
  blobs.set(blobPath(config.info.digest), [config.bytes]);
  blobs.set(blobPath(manifest.info.digest), [manifest.bytes]);
  const files = [
    { path: "oci-layout", chunks: [Buffer.from(canonicalJson({ imageLayoutVersion: "1.0.0" }))] },
    { path: "index.json", chunks: [index] },
    ...[...blobs.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([path, chunks]) => ({ path, chunks })),
  ];
  return {
    result: {
      name,
      digest: manifest.info.digest,
      size: manifest.info.size,
      config: config.info,
      layers: layers.map((l) => l.info),
    },
    files,
  };
}

/**
 * Writes `spec` as an OCI-layout tar archive at `outPath` (atomically: a temporary file renamed into
 * place) and returns the manifest digest and the descriptors. The archive's own entries are fixed
 * too (root-owned, 0644, mtime = epoch), so the archive file is reproducible byte for byte.
 */
export async function writeOciArchive(
  spec: ImageSpec,
  outPath: string,
  options: WriteOptions = {},
): Promise<OciArchiveResult> {
  const epoch = imageSpecSchema.shape.epoch.parse(spec.epoch);
  const { result, files } = buildImage(spec, options);
  const dirs = ["blobs", "blobs/sha256"].map(
    (path): TarEntry => ({ type: "dir", path, mode: 0o755, uid: 0, gid: 0, mtime: epoch }),
  );
  const entries: TarEntry[] = [
    ...dirs,
    ...files.map((f): TarEntry => {
      // Archive members are written from one buffer each; blobs are at most a layer's size.
      const data = f.chunks.length === 1 ? f.chunks[0]! : Buffer.concat(f.chunks);
      return { type: "file", path: f.path, data, mode: 0o644, uid: 0, gid: 0, mtime: epoch };
    }),
  ].sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
  mkdirSync(dirname(outPath), { recursive: true });
  const tmp = `${outPath}.tmp-${process.pid}`;
  const fd = openSync(tmp, "w", 0o644);
  let archiveSize = 0;
  try {
    for (const chunk of tarChunks(entries)) {
      let off = 0;
      while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
      archiveSize += chunk.length;
    }
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, outPath);
  return { ...result, archiveSize };
}
