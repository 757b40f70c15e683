// The runtime layer every agent-warden image shares: the Node 24 binary from the npm `node` package
// (the same binary the tests run), the five shared libraries it links against from pinned Debian 12
// packages, and the few files a non-root process expects (/etc/passwd with uid 65532, nsswitch.conf).
// No shell, no package manager, no other binaries. Because it is one layer with one digest, the
// operator, webhook, gateway and CLI images share it on a node and in a registry.
import { lstatSync, mkdtempSync, readFileSync, readlinkSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type DebianPackage, debControl, fetchDebianPackages, unpackDeb } from "./debian.ts";
import type { LayerEntryInput, LayerSpec } from "./oci.ts";

/** Debian 12 (bookworm) packages that hold the libraries `ldd node` lists. */
export const DEBIAN_PACKAGES: readonly DebianPackage[] = [
  {
    name: "libc6",
    version: "2.36-9+deb12u14",
    arch: "amd64",
    sha256: "ba4f88f73dbc3ae9055f3c20f4523bfdbaf1ad13ff95e258924f77d20b4fbedf",
  },
  {
    // Holds only the copyright (license) of libgcc-s1 and libstdc++6, whose doc dirs link here.
    name: "gcc-12-base",
    version: "12.2.0-14+deb12u1",
    arch: "amd64",
    sha256: "1896a2aacf4ad681ff5eacc24a5b0ca4d5d9c9b9c9e4b6de5197bc1e116ea619",
  },
  {
    name: "libgcc-s1",
    version: "12.2.0-14+deb12u1",
    arch: "amd64",
    sha256: "3016e62cb4b7cd8038822870601f5ed131befe942774d0f745622cc77d8a88f7",
  },
  {
    name: "libstdc++6",
    version: "12.2.0-14+deb12u1",
    arch: "amd64",
    sha256: "5cd3171216d4ab0fc911cfe9c35509bf2dd8f47761c43b7f6a4296701551a24d",
  },
];

/** Files taken from the unpacked packages: [package, path in the package, path in the image]. */
const LIBRARIES: readonly [string, string, string][] = [
  ["libc6", "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"],
  ["libc6", "lib/x86_64-linux-gnu/libc.so.6", "lib/x86_64-linux-gnu/libc.so.6"],
  ["libc6", "lib/x86_64-linux-gnu/libm.so.6", "lib/x86_64-linux-gnu/libm.so.6"],
  ["libc6", "lib/x86_64-linux-gnu/libdl.so.2", "lib/x86_64-linux-gnu/libdl.so.2"],
  ["libc6", "lib/x86_64-linux-gnu/libpthread.so.0", "lib/x86_64-linux-gnu/libpthread.so.0"],
  ["libgcc-s1", "lib/x86_64-linux-gnu/libgcc_s.so.1", "lib/x86_64-linux-gnu/libgcc_s.so.1"],
  ["libstdc++6", "usr/lib/x86_64-linux-gnu/libstdc++.so.6.0.30", "usr/lib/x86_64-linux-gnu/libstdc++.so.6"],
];

/** The non-root user every image runs as (distroless' "nonroot"; the injector's runAsUser). */
export const NONROOT = 65532;

/** Where the Node binary is in the image. */
export const NODE_PATH = "/usr/bin/node";

/** The Node binary the project pins (`node` devDependency) — the one `npm test` runs. */
export function projectNodeBinary(root: string): { path: string; version: string } {
  const path = realpathSync(join(root, "node_modules", ".bin", "node"));
  const version = (
    JSON.parse(readFileSync(join(root, "node_modules", "node", "package.json"), "utf8")) as {
      version: string;
    }
  ).version;
  return { path, version };
}

const PASSWD = `root:x:0:0:root:/root:/sbin/nologin
nonroot:x:${NONROOT}:${NONROOT}:nonroot:/home/nonroot:/sbin/nologin
`;
const GROUP = `root:x:0:
nonroot:x:${NONROOT}:
`;
// Without this file glibc's defaults put DNS before /etc/hosts; the kubelet writes both.
const NSSWITCH = `passwd: files
group: files
hosts: files dns
`;

export interface RuntimeLayer {
  layer: LayerSpec;
  nodeVersion: string;
  debian: readonly DebianPackage[];
}

/**
 * The runtime layer's entries. `cacheDir` keeps the downloaded .deb files between builds (they are
 * checked against their pins every time).
 */
export function runtimeLayer(root: string, cacheDir: string): RuntimeLayer {
  const debs = fetchDebianPackages(DEBIAN_PACKAGES, join(cacheDir, "debian"));
  const node = projectNodeBinary(root);
  const unpacked = mkdtempSync(join(tmpdir(), "warden-debs-"));
  try {
    const entries: LayerEntryInput[] = [
      { type: "file", path: NODE_PATH, data: readFileSync(node.path), mode: 0o755 },
      {
        type: "file",
        path: "usr/share/doc/nodejs/README",
        data: `Node.js ${node.version} (linux-x64), from the npm package node@${node.version}.\nLicense: MIT, with the licenses of its bundled dependencies: https://github.com/nodejs/node/blob/v${node.version}/LICENSE\n`,
      },
      {
        type: "symlink",
        path: "lib64/ld-linux-x86-64.so.2",
        target: "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
      },
      { type: "file", path: "etc/passwd", data: PASSWD },
      { type: "file", path: "etc/group", data: GROUP },
      { type: "file", path: "etc/nsswitch.conf", data: NSSWITCH },
      { type: "dir", path: "home/nonroot", mode: 0o755, uid: NONROOT, gid: NONROOT },
      // Writable only where a volume is mounted (readOnlyRootFilesystem); present so tools find it.
      { type: "dir", path: "tmp", mode: 0o1777 },
    ];
    for (const p of DEBIAN_PACKAGES) {
      const deb = debs.get(p.name)!;
      const dir = join(unpacked, p.name);
      unpackDeb(deb, dir);
      for (const [pkg, from, to] of LIBRARIES) {
        if (pkg !== p.name) continue;
        // Shared libraries are read-only to everyone but root; no exec bit is needed to map them,
        // except for the dynamic loader, which the kernel executes.
        const mode = to.endsWith("ld-linux-x86-64.so.2") ? 0o755 : 0o644;
        entries.push({ type: "file", path: to, data: readFileSync(join(dir, from)), mode });
      }
      // libc6 and gcc-12-base carry the license texts (the gcc libraries' doc dirs are symlinks).
      const docDir = join(dir, "usr", "share", "doc", p.name);
      if (lstatSync(docDir).isSymbolicLink()) {
        entries.push({ type: "symlink", path: `usr/share/doc/${p.name}`, target: readlinkSync(docDir) });
      } else {
        const data = readFileSync(join(docDir, "copyright"));
        entries.push({ type: "file", path: `usr/share/doc/${p.name}/copyright`, data });
      }
      // What vulnerability scanners read to know which Debian packages an image holds.
      entries.push({ type: "file", path: `var/lib/dpkg/status.d/${p.name}`, data: debControl(deb) });
    }
    return {
      layer: {
        comment: `node ${node.version} runtime: ${DEBIAN_PACKAGES.map((p) => `${p.name}=${p.version}`).join(" ")}`,
        entries,
      },
      nodeVersion: node.version,
      debian: DEBIAN_PACKAGES,
    };
  } finally {
    rmSync(unpacked, { recursive: true, force: true });
  }
}
