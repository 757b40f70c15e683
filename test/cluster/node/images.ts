// The two images every node needs before its first pod: pause (the sandbox) and CoreDNS. Both are a
// single static binary in one layer, written as OCI archives that containerd imports; no registry.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { writeOciArchive } from "../../../scripts/images/oci.ts";
import { COREDNS_IMAGE, PAUSE_IMAGE } from "./config.ts";
import type { PartDirs } from "./parts.ts";

/** Writes (or reuses) the archives; they sit beside the binaries they are made of. */
export async function nodeImageArchives(dirs: PartDirs): Promise<string[]> {
  const pause = join(dirs.pause, "pause.oci.tar");
  if (!existsSync(pause)) {
    await writeOciArchive(
      {
        ref: PAUSE_IMAGE,
        layers: [
          {
            comment: "pause",
            entries: [{ type: "file", path: "pause", source: join(dirs.pause, "pause"), mode: 0o755 }],
          },
        ],
        config: { entrypoint: ["/pause"], user: "65535:65535" },
      },
      pause,
    );
  }
  const coredns = join(dirs.coredns, "coredns.oci.tar");
  if (!existsSync(coredns)) {
    await writeOciArchive(
      {
        ref: COREDNS_IMAGE,
        layers: [
          {
            comment: "coredns",
            entries: [{ type: "file", path: "coredns", source: join(dirs.coredns, "coredns"), mode: 0o755 }],
          },
        ],
        config: { entrypoint: ["/coredns"], user: "65532:65532" },
      },
      coredns,
    );
  }
  return [pause, coredns];
}
