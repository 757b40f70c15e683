// The e2e test image: test/e2e/tools/main.ts bundled with esbuild onto the same Node 24 runtime
// layer as the product images, written by the same OCI writer (scripts/images). The tool server,
// the agent container and the network probes all run from it, as pods on the real node.
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { bundle } from "../../../scripts/images/bundle.ts";
import { APP_DIR } from "../../../scripts/images/definitions.ts";
import { writeOciArchive } from "../../../scripts/images/oci.ts";
import { NODE_PATH, NONROOT, runtimeLayer } from "../../../scripts/images/runtime.ts";
import { PROJECT_ROOT } from "../../cluster/local-cluster.ts";

export const TOOLS_IMAGE = "warden.local/e2e-tools:1";

export interface ToolsImage {
  ref: string;
  archive: string;
  digest: string;
}

export async function buildToolsImage(cacheDir: string, outDir: string): Promise<ToolsImage> {
  const runtime = runtimeLayer(PROJECT_ROOT, join(cacheDir, "images"));
  const scratch = mkdtempSync(join(outDir, ".e2e-tools-"));
  try {
    const out = join(scratch, "main.mjs");
    const b = await bundle({
      entry: join(PROJECT_ROOT, "test", "e2e", "tools", "main.ts"),
      outfile: out,
      nodeVersion: Number(runtime.nodeVersion.split(".")[0]),
      root: PROJECT_ROOT,
    });
    const archive = join(outDir, "e2e-tools.oci.tar");
    const written = await writeOciArchive(
      {
        ref: TOOLS_IMAGE,
        layers: [
          runtime.layer,
          {
            comment: "e2e tools (test/e2e/tools/main.ts)",
            entries: [{ type: "file", path: `${APP_DIR}/e2e-tools.mjs`, source: b.outfile, mode: 0o644 }],
          },
        ],
        config: {
          user: `${NONROOT}:${NONROOT}`,
          entrypoint: [NODE_PATH, `${APP_DIR}/e2e-tools.mjs`],
          cmd: ["idle"],
          env: ["PATH=/usr/bin:/bin", "HOME=/home/nonroot"],
          workingDir: APP_DIR,
        },
      },
      archive,
      { layerCacheDir: join(cacheDir, "images", "layers") },
    );
    return { ref: TOOLS_IMAGE, archive, digest: written.digest };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
