import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { inspectOciArchive } from "./inspect.ts";
import {
  buildImage,
  canonicalJson,
  type ImageSpec,
  layerTarEntries,
  normalizeRef,
  writeOciArchive,
} from "./oci.ts";

const work = mkdtempSync(join(tmpdir(), "warden-oci-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const script = join(work, "hello.sh");
writeFileSync(script, "#!/bin/sh\necho hello\n");
chmodSync(script, 0o755);

function spec(overrides: Partial<ImageSpec> = {}): ImageSpec {
  return {
    ref: "registry.example:5000/team/hello:1.0.0",
    layers: [
      {
        comment: "runtime",
        entries: [
          {
            type: "file",
            path: "/etc/passwd",
            data: "root:x:0:0::/:/sbin/nologin\nnonroot:x:65532:65532::/:/sbin/nologin\n",
          },
          { type: "dir", path: "/tmp", mode: 0o1777 },
        ],
      },
      {
        comment: "app",
        compression: "none",
        entries: [
          { type: "file", path: "app/hello.sh", source: script },
          { type: "symlink", path: "usr/bin/hello", target: "/app/hello.sh" },
        ],
      },
    ],
    config: {
      user: "65532:65532",
      entrypoint: ["/app/hello.sh"],
      cmd: ["--flag"],
      env: ["PATH=/usr/bin", "NODE_ENV=production"],
      workingDir: "/app",
      labels: { "org.opencontainers.image.title": "hello" },
      exposedPorts: [8080, "53/udp"],
    },
    ...overrides,
  };
}

describe("writeOciArchive", () => {
  it("gives the same digest and the same archive bytes for the same inputs", async () => {
    const a = await writeOciArchive(spec(), join(work, "a.tar"));
    const b = await writeOciArchive(spec(), join(work, "b.tar"));
    expect(b.digest).toBe(a.digest);
    expect(readFileSync(join(work, "a.tar")).equals(readFileSync(join(work, "b.tar")))).toBe(true);
    expect(a.digest).toMatch(/^sha256:[a-f0-9]{64}$/);
  });

  it("does not depend on the order entries or labels are listed in", () => {
    const s = spec();
    const shuffled = spec({
      layers: s.layers.map((l) => ({ ...l, entries: [...l.entries].reverse() })),
      config: { ...s.config, labels: { z: "1", "org.opencontainers.image.title": "hello" } },
    });
    const withZ = spec({
      config: { ...s.config, labels: { "org.opencontainers.image.title": "hello", z: "1" } },
    });
    expect(buildImage(shuffled).result.digest).toBe(buildImage(withZ).result.digest);
  });

  it("changes the digest when any input changes", () => {
    const d0 = buildImage(spec()).result.digest;
    const changed: ImageSpec[] = [
      spec({ ref: "registry.example:5000/team/hello:1.0.1" }), // ref is in index.json, not the manifest
      spec({ epoch: 1 }),
      spec({ config: { ...spec().config, user: "0" } }),
      spec({ layers: [{ comment: "runtime", entries: [{ type: "file", path: "etc/passwd", data: "x" }] }] }),
      spec({ annotations: { "org.opencontainers.image.revision": "abc" } }),
    ];
    const digests = changed.map((s) => buildImage(s).result.digest);
    // The tag lives only in index.json: the manifest (and so the digest) is the same.
    expect(digests[0]).toBe(d0);
    for (const d of digests.slice(1)) expect(d).not.toBe(d0);
    expect(new Set(digests.slice(1)).size).toBe(digests.length - 1);
  });

  it("writes a valid OCI layout: blobs hash to their names, index → manifest → config → layers resolve", async () => {
    const r = await writeOciArchive(spec(), join(work, "c.tar"));
    const img = inspectOciArchive(join(work, "c.tar"));
    expect(img.members.map((m) => m.path)).toEqual([
      "blobs/",
      "blobs/sha256/",
      ...[
        ...img.members
          .filter((m) => m.path.startsWith("blobs/sha256/") && m.type === "file")
          .map((m) => m.path),
      ].sort(),
      "index.json",
      "oci-layout",
    ]);
    expect(img.digest).toBe(r.digest);
    expect(img.name).toBe("registry.example:5000/team/hello:1.0.0");
    expect(img.tag).toBe("1.0.0");
    expect(img.index.manifests[0]!.platform).toEqual({ architecture: "amd64", os: "linux" });
    expect(img.manifest.layers.map((l) => l.mediaType)).toEqual([
      "application/vnd.oci.image.layer.v1.tar+gzip",
      "application/vnd.oci.image.layer.v1.tar",
    ]);
    expect(img.config.config).toEqual({
      User: "65532:65532",
      Entrypoint: ["/app/hello.sh"],
      Cmd: ["--flag"],
      Env: ["PATH=/usr/bin", "NODE_ENV=production"],
      WorkingDir: "/app",
      Labels: { "org.opencontainers.image.title": "hello" },
      ExposedPorts: { "8080/tcp": {}, "53/udp": {} },
    });
    expect(img.config.created).toBe("1970-01-01T00:00:00Z");
    expect(img.config.history!.map((h) => h.created_by)).toEqual(["runtime", "app"]);
    expect(r.layers.map((l) => l.diffId)).toEqual(img.config.rootfs.diff_ids);
    // Layer contents: sorted, parents added, fixed owners and times, the source's exec bit kept.
    const app = img.layers[1]!.entries;
    expect(app.map((e) => e.path)).toEqual(["app/", "app/hello.sh", "usr/", "usr/bin/", "usr/bin/hello"]);
    expect(app.every((e) => e.uid === 0 && e.gid === 0 && e.mtime === 0)).toBe(true);
    expect(app.find((e) => e.path === "app/hello.sh")!.mode).toBe(0o755);
    const runtime = img.layers[0]!.entries;
    expect(runtime.find((e) => e.path === "tmp/")!.mode).toBe(0o1777);
    expect(runtime.find((e) => e.path === "etc/passwd")!.mode).toBe(0o644);
  });

  it("is a tar archive GNU tar lists, with root-owned members and fixed times", async () => {
    await writeOciArchive(spec({ epoch: 1_700_000_000 }), join(work, "d.tar"));
    const list = spawnSync("tar", ["--numeric-owner", "--full-time", "-tvf", join(work, "d.tar")], {
      encoding: "utf8",
    });
    expect(list.status, list.stderr).toBe(0);
    for (const line of list.stdout.trim().split("\n")) {
      expect(line).toMatch(/^[d-]rw[-x]r-[-x]r-[-x] 0\/0 +\d+ 2023-11-14 22:13:20 \S+$/);
    }
  });

  it("caches compressed layers by content, and a cached build is byte-identical", async () => {
    const cache = join(work, "layer-cache");
    const cold = await writeOciArchive(spec(), join(work, "e.tar"), { layerCacheDir: cache });
    const warm = await writeOciArchive(spec(), join(work, "f.tar"), { layerCacheDir: cache });
    const none = await writeOciArchive(spec(), join(work, "g.tar"));
    expect([warm.digest, none.digest]).toEqual([cold.digest, cold.digest]);
    expect(readFileSync(join(work, "e.tar")).equals(readFileSync(join(work, "f.tar")))).toBe(true);
  });
});

describe("image spec validation (bad input names the field)", () => {
  const attacks: { name: string; spec: () => ImageSpec; error: RegExp }[] = [
    { name: "ref without a tag", spec: () => spec({ ref: "ghcr.io/o/gateway" }), error: /ref/ },
    { name: "ref with upper-case path", spec: () => spec({ ref: "ghcr.io/O/gateway:1" }), error: /ref/ },
    {
      name: "ref with a digest instead of a tag",
      spec: () => spec({ ref: `ghcr.io/o/g@sha256:${"a".repeat(64)}` }),
      error: /ref/,
    },
    { name: "no layers", spec: () => spec({ layers: [] }), error: /layers/ },
    {
      name: "path escaping with ..",
      spec: () =>
        spec({
          layers: [{ comment: "x", entries: [{ type: "file", path: "app/../../etc/shadow", data: "" }] }],
        }),
      error: /\.\./,
    },
    {
      name: "path that is only /",
      spec: () => spec({ layers: [{ comment: "x", entries: [{ type: "dir", path: "/" }] }] }),
      error: /below \//,
    },
    {
      name: "duplicate path",
      spec: () =>
        spec({
          layers: [
            {
              comment: "x",
              entries: [
                { type: "file", path: "/a", data: "1" },
                { type: "file", path: "a", data: "2" },
              ],
            },
          ],
        }),
      error: /listed twice/,
    },
    {
      name: "file below a file",
      spec: () =>
        spec({
          layers: [
            {
              comment: "x",
              entries: [
                { type: "file", path: "a", data: "1" },
                { type: "file", path: "a/b", data: "2" },
              ],
            },
          ],
        }),
      error: /is a file but a\/b is below it/,
    },
    {
      name: "file with both data and source",
      spec: () =>
        spec({
          layers: [{ comment: "x", entries: [{ type: "file", path: "a", data: "1", source: script }] }],
        }),
      error: /exactly one of data and source/,
    },
    {
      name: "file with neither data nor source",
      spec: () => spec({ layers: [{ comment: "x", entries: [{ type: "file", path: "a" }] }] }),
      error: /exactly one of data and source/,
    },
    {
      name: "source that is a directory",
      spec: () => spec({ layers: [{ comment: "x", entries: [{ type: "file", path: "a", source: work }] }] }),
      error: /not a regular file/,
    },
    {
      name: "mode beyond 07777",
      spec: () =>
        spec({ layers: [{ comment: "x", entries: [{ type: "file", path: "a", data: "", mode: 0o10000 }] }] }),
      error: /mode/,
    },
    { name: "env without =", spec: () => spec({ config: { env: ["PATH"] } }), error: /KEY=value/ },
    { name: "relative workingDir", spec: () => spec({ config: { workingDir: "app" } }), error: /workingDir/ },
    { name: "unknown config field", spec: () => spec({ config: { usr: "1" } as never }), error: /usr/ },
  ];
  it.each(attacks)("$name", ({ spec: s, error }) => {
    expect(() => buildImage(s())).toThrow(error);
  });

  it("accepts any normalized relative path of safe segments (property)", () => {
    const segment = fc
      .stringMatching(/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,30}$/)
      .filter((x) => x !== "." && x !== "..");
    fc.assert(
      fc.property(fc.array(segment, { minLength: 1, maxLength: 6 }), fc.boolean(), (segs, absolute) => {
        const path = `${absolute ? "/" : ""}${segs.join("/")}`;
        const entries = layerTarEntries({ comment: "p", entries: [{ type: "file", path, data: "x" }] });
        expect(entries.map((e) => e.path)).toEqual(segs.map((_, i) => segs.slice(0, i + 1).join("/")));
      }),
      { numRuns: 200 },
    );
  });
});

describe("normalizeRef", () => {
  it.each([
    ["gateway:1", "docker.io/library/gateway:1"],
    ["agent-warden/gateway:0.1.0", "docker.io/agent-warden/gateway:0.1.0"],
    ["ghcr.io/agent-warden/gateway:0.1.0", "ghcr.io/agent-warden/gateway:0.1.0"],
    ["localhost/warden/gateway:dev", "localhost/warden/gateway:dev"],
    ["127.0.0.1:5000/gateway:dev", "127.0.0.1:5000/gateway:dev"],
    ["registry.k8s.io/pause:3.10", "registry.k8s.io/pause:3.10"],
  ])("%s → %s", (ref, name) => {
    expect(normalizeRef(ref).name).toBe(name);
  });
});

describe("canonicalJson", () => {
  it("sorts keys at every depth and keeps array order", () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } })).toBe(
      '{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}',
    );
  });
});
