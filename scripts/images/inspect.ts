// Reads an OCI-layout tar archive back and checks it the way a registry or containerd would: every
// blob's sha256 matches its name and every descriptor's digest and size, index → manifest → config
// → layers resolve, and each layer's uncompressed sha256 is the config's diff_id. Used by the tests
// and to list what an image holds (e.g. to prove the gateway image carries no operator code).
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import * as z from "zod";
import { CONTAINERD_NAME_ANNOTATION, MEDIA_TYPES, OCI_REF_NAME_ANNOTATION } from "./oci.ts";
import { type ReadEntry, readTar } from "./tar.ts";

const digestSchema = z.string().regex(/^sha256:[a-f0-9]{64}$/);
const descriptor = z.object({
  mediaType: z.string(),
  digest: digestSchema,
  size: z.number().int().nonnegative(),
  annotations: z.record(z.string(), z.string()).optional(),
  platform: z.object({ architecture: z.string(), os: z.string() }).optional(),
});
const indexSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.literal(MEDIA_TYPES.index),
  manifests: z.array(descriptor).min(1),
});
const manifestSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.literal(MEDIA_TYPES.manifest),
  config: descriptor.extend({ mediaType: z.literal(MEDIA_TYPES.config) }),
  layers: z.array(descriptor.extend({ mediaType: z.enum([MEDIA_TYPES.layerGzip, MEDIA_TYPES.layerTar]) })),
  annotations: z.record(z.string(), z.string()).optional(),
});
const configSchema = z.object({
  architecture: z.string(),
  os: z.string(),
  created: z.string().optional(),
  config: z.object({
    User: z.string().optional(),
    Entrypoint: z.array(z.string()).optional(),
    Cmd: z.array(z.string()).optional(),
    Env: z.array(z.string()).optional(),
    WorkingDir: z.string().optional(),
    Labels: z.record(z.string(), z.string()).optional(),
    ExposedPorts: z.record(z.string(), z.object({})).optional(),
  }),
  rootfs: z.object({ type: z.literal("layers"), diff_ids: z.array(digestSchema) }),
  history: z
    .array(z.object({ created: z.string().optional(), created_by: z.string().optional() }))
    .optional(),
});

export interface InspectedImage {
  /** io.containerd.image.name and org.opencontainers.image.ref.name of the (only) manifest. */
  name: string;
  tag: string;
  digest: string;
  index: z.infer<typeof indexSchema>;
  manifest: z.infer<typeof manifestSchema>;
  config: z.infer<typeof configSchema>;
  /** Each layer's entries, in archive order. */
  layers: { digest: string; diffId: string; entries: ReadEntry[] }[];
  /** The archive's own members, in order (to check the layout itself). */
  members: ReadEntry[];
}

function sha256(b: Uint8Array): string {
  return `sha256:${createHash("sha256").update(b).digest("hex")}`;
}

export function inspectOciArchive(path: string): InspectedImage {
  const members = readTar(readFileSync(path));
  const byName = new Map(members.map((m) => [m.path, m]));
  const layout = byName.get("oci-layout");
  if (!layout) throw new Error("no oci-layout file");
  if (JSON.parse(layout.data.toString("utf8")).imageLayoutVersion !== "1.0.0") {
    throw new Error("oci-layout: imageLayoutVersion is not 1.0.0");
  }
  for (const m of members) {
    if (m.type !== "file" || !m.path.startsWith("blobs/")) continue;
    const named = `sha256:${m.path.slice("blobs/sha256/".length)}`;
    if (sha256(m.data) !== named) throw new Error(`blob ${m.path} does not hash to its name`);
  }
  const blob = (d: z.infer<typeof descriptor>): Buffer => {
    const m = byName.get(`blobs/sha256/${d.digest.slice(7)}`);
    if (!m) throw new Error(`descriptor ${d.digest} names a blob the archive lacks`);
    if (m.data.length !== d.size)
      throw new Error(`blob ${d.digest}: size ${m.data.length} ≠ descriptor ${d.size}`);
    return m.data;
  };
  const indexMember = byName.get("index.json");
  if (!indexMember) throw new Error("no index.json");
  const index = indexSchema.parse(JSON.parse(indexMember.data.toString("utf8")));
  if (index.manifests.length !== 1) throw new Error("expected exactly one manifest in index.json");
  const top = index.manifests[0]!;
  const name = top.annotations?.[CONTAINERD_NAME_ANNOTATION];
  const tag = top.annotations?.[OCI_REF_NAME_ANNOTATION];
  if (!name || !tag) throw new Error("index.json: the manifest lacks the image name annotations");
  const manifest = manifestSchema.parse(JSON.parse(blob(top).toString("utf8")));
  const config = configSchema.parse(JSON.parse(blob(manifest.config).toString("utf8")));
  if (config.rootfs.diff_ids.length !== manifest.layers.length) {
    throw new Error("config diff_ids and manifest layers differ in number");
  }
  const layers = manifest.layers.map((l, i) => {
    const raw = blob(l);
    const tar = l.mediaType === MEDIA_TYPES.layerGzip ? gunzipSync(raw) : raw;
    const diffId = sha256(tar);
    if (diffId !== config.rootfs.diff_ids[i]) throw new Error(`layer ${i}: diff_id mismatch`);
    return { digest: l.digest, diffId, entries: readTar(tar) };
  });
  return { name, tag, digest: top.digest, index, manifest, config, layers, members };
}
