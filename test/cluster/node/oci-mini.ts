// Stand-in for scripts/images/oci.ts (the project's OCI archive writer, being written on another
// branch) with the same call shape, so switching is a one-line import change. It uses GNU tar with
// fixed owners and times; the real writer is pure TypeScript and byte-reproducible.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

export interface MiniImageSpec {
  ref: string;
  layers: { comment: string; entries: { type: "file"; path: string; source: string; mode?: number }[] }[];
  config: { entrypoint?: string[]; cmd?: string[]; user?: string; env?: string[] };
}

function tarDir(dir: string, out: string): void {
  const r = spawnSync(
    "tar",
    [
      "--sort=name",
      "--owner=0",
      "--group=0",
      "--numeric-owner",
      "--mtime=@0",
      "--format=posix",
      "-cf",
      out,
      "-C",
      dir,
      ".",
    ],
    { encoding: "utf8" },
  );
  if (r.status !== 0) throw new Error(`tar failed: ${r.stderr}`);
}

const sha = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");

export async function writeOciArchive(
  spec: MiniImageSpec,
  out: string,
): Promise<{ name: string; digest: string }> {
  const work = mkdtempSync(join(tmpdir(), "warden-oci-"));
  try {
    const layout = join(work, "layout");
    const blobs = join(layout, "blobs", "sha256");
    mkdirSync(blobs, { recursive: true });
    const blob = (b: Buffer | string) => {
      const d = sha(b);
      writeFileSync(join(blobs, d), b);
      return { digest: `sha256:${d}`, size: Buffer.byteLength(b) };
    };
    const layers: { digest: string; size: number }[] = [];
    for (const [i, layer] of spec.layers.entries()) {
      const root = join(work, `layer${i}`);
      for (const e of layer.entries) {
        const dst = join(root, e.path.replace(/^\/+/, ""));
        mkdirSync(dirname(dst), { recursive: true });
        copyFileSync(e.source, dst);
        spawnSync("chmod", [(e.mode ?? 0o755).toString(8), dst]);
      }
      const tarFile = join(work, `layer${i}.tar`);
      tarDir(root, tarFile);
      layers.push(blob(readFileSync(tarFile)));
    }
    const config = blob(
      JSON.stringify({
        architecture: "amd64",
        os: "linux",
        config: {
          Entrypoint: spec.config.entrypoint,
          Cmd: spec.config.cmd,
          User: spec.config.user,
          Env: spec.config.env,
        },
        rootfs: { type: "layers", diff_ids: layers.map((l) => l.digest) },
      }),
    );
    const manifest = blob(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
        layers: layers.map((l) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar", ...l })),
      }),
    );
    const tag = spec.ref.slice(spec.ref.lastIndexOf(":") + 1);
    writeFileSync(join(layout, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
    writeFileSync(
      join(layout, "index.json"),
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.index.v1+json",
        manifests: [
          {
            mediaType: "application/vnd.oci.image.manifest.v1+json",
            ...manifest,
            annotations: { "io.containerd.image.name": spec.ref, "org.opencontainers.image.ref.name": tag },
          },
        ],
      }),
    );
    mkdirSync(dirname(out), { recursive: true });
    tarDir(layout, `${out}.tmp`);
    renameSync(`${out}.tmp`, out);
    return { name: spec.ref, digest: manifest.digest };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
