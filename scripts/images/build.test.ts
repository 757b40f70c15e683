// `npm run images` end to end: the four images are built twice from the same tree (bundles and
// layers made afresh each time; the Debian packages and the compressed runtime layer come from the
// content-addressed cache) and must match digest for digest and byte for byte; each image is then
// read back, checked for what it holds, and its entrypoint run from its own files, read-only, as
// its own user. Needs root (mount namespace + chroot) and a Debian mirror on first use.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { type BuildResult, buildImages } from "./build.ts";
import { COMPONENT_IMAGES } from "./definitions.ts";
import { adminPortFromLogs, inboundGatewayFiles } from "./gateway-fixture.ts";
import { type InspectedImage, inspectOciArchive } from "./inspect.ts";
import { runImage, startImage, unpackImage } from "./rootfs.ts";
import { NONROOT } from "./runtime.ts";

const ROOT = resolve(import.meta.dirname, "..", "..");
const CACHE = join(process.env.WARDEN_CACHE_DIR ?? join(ROOT, ".cache"), "images");
// On disk, not in /tmp (often memory): two builds and four unpacked images take about 1 GB.
mkdirSync(CACHE, { recursive: true });
const work = mkdtempSync(join(CACHE, "test-"));
const log = () => {};

let first: BuildResult;
let second: BuildResult;
const inspected = new Map<string, InspectedImage>();

beforeAll(async () => {
  if (process.getuid?.() !== 0) {
    throw new Error(
      "scripts/images/build.test.ts needs root: it runs each image in a mount namespace with chroot",
    );
  }
  const opts = { registry: "ghcr.io/agent-warden", tag: "0.1.0", cacheDir: CACHE, root: ROOT, log };
  first = await buildImages({ ...opts, out: join(work, "a") });
  second = await buildImages({ ...opts, out: join(work, "b") });
  for (const img of first.images) inspected.set(img.name, inspectOciArchive(img.archive));
}, 900_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("npm run images", () => {
  it("builds every image the definitions list", () => {
    expect(first.images.map((i) => i.name)).toEqual(COMPONENT_IMAGES.map((c) => c.name));
  });

  it("is reproducible: a second build has the same digests and byte-identical archives", () => {
    expect(second.images.map((i) => i.digest)).toEqual(first.images.map((i) => i.digest));
    for (const [i, img] of first.images.entries()) {
      expect(readFileSync(second.images[i]!.archive).equals(readFileSync(img.archive)), img.name).toBe(true);
    }
  });

  it("shares one runtime layer (same digest) between all images", () => {
    const runtimeDigests = new Set(first.images.map((i) => i.layers[0]!.digest));
    expect(runtimeDigests.size).toBe(1);
    expect(first.images.every((i) => i.layers.length === 2)).toBe(true);
  });

  it("pins the chart's images by digest in values-digests.yaml", () => {
    const values = parseYaml(readFileSync(join(work, "a", "values-digests.yaml"), "utf8")) as Record<
      string,
      { image: { repository: string; digest: string } }
    >;
    for (const key of ["operator", "webhook", "gateway"] as const) {
      const img = first.images.find((i) => i.name === key)!;
      expect(values[key]!.image).toEqual({ repository: `ghcr.io/agent-warden/${key}`, digest: img.digest });
    }
    expect(Object.keys(values).sort()).toEqual(["gateway", "operator", "webhook"]);
  });
});

describe.each(COMPONENT_IMAGES.map((c) => ({ name: c.name, def: c })))("image $name", ({ name, def }) => {
  const img = () => inspected.get(name)!;

  it("records the name containerd imports it under, and runs as the non-root user", () => {
    expect(img().name).toBe(`ghcr.io/agent-warden/${name}:0.1.0`);
    expect(img().tag).toBe("0.1.0");
    expect(img().config.config.User).toBe(`${NONROOT}:${NONROOT}`);
    expect(img().config.config.Entrypoint).toEqual(def.entrypoint);
    expect(img().config.config.WorkingDir).toBe("/app");
  });

  it("holds only root-owned, non-writable files outside the nonroot home and /tmp", () => {
    for (const layer of img().layers) {
      for (const e of layer.entries) {
        if (e.path === "tmp/") {
          expect(e.mode).toBe(0o1777);
          continue;
        }
        if (e.path === "home/nonroot/") {
          expect([e.uid, e.gid]).toEqual([NONROOT, NONROOT]);
          continue;
        }
        expect([e.path, e.uid, e.gid]).toEqual([e.path, 0, 0]);
        if (e.type !== "symlink") expect(e.mode & 0o022, `${e.path} is group/other-writable`).toBe(0);
        expect(e.mode & 0o6000, `${e.path} is setuid/setgid`).toBe(0);
      }
    }
  });

  it("has no shell and no binary besides node in the runtime layer", () => {
    const files = img().layers.flatMap((l) => l.entries.filter((e) => e.type === "file" && e.mode & 0o111));
    expect(files.map((f) => f.path).sort()).toEqual(
      [
        "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
        "usr/bin/node",
        ...(def.shebang ? [`app/${def.bundle.out}`] : []),
      ].sort(),
    );
  });

  it("holds exactly its bundle, its workers' bundles, package.json and its compile cache in the app layer", () => {
    const all = img()
      .layers[1]!.entries.filter((e) => e.type !== "dir")
      .map((e) => e.path);
    const cache = def.compileCache ? all.filter((p) => p.startsWith(`app/${def.compileCache}/`)) : [];
    // One V8 code cache entry per module (the bundle and each worker), named for the image's uid.
    if (def.compileCache) {
      expect(cache).toHaveLength(1 + (def.workers?.length ?? 0));
      for (const p of cache) expect(p).toMatch(/\/v[\d.]+-\w+-[0-9a-f]+-65532\/[0-9a-f]+$/);
    }
    const app = all.filter((p) => !cache.includes(p));
    expect(app.sort()).toEqual(
      [
        "app/package.json",
        `app/${def.bundle.out}`,
        ...(def.workers ?? []).map((w) => `app/${w.out}`),
        ...(def.extra ?? []).map((e) => e.path),
      ].sort(),
    );
    // The gateway starts its server-message worker from beside its bundle (gateway/decide/offload.ts).
    if (def.name === "gateway") expect(app).toContain("app/gateway/server-message-worker.mjs");
  });
});

describe("the gateway image (the sidecar in every agent pod)", () => {
  it("holds no operator, webhook, CLI or Kubernetes client code", () => {
    const gw = first.images.find((i) => i.name === "gateway")!;
    const foreign = gw.bundle.inputs.filter(
      (f) => /^(operator|webhook|cli)\//.test(f) || f.includes("node_modules/@kubernetes/"),
    );
    expect(foreign).toEqual([]);
    const paths = inspected.get("gateway")!.layers.flatMap((l) => l.entries.map((e) => e.path));
    expect(paths.filter((p) => /operator|webhook|kubernetes/.test(p))).toEqual([]);
    const text = inspected
      .get("gateway")!
      .layers[1]!.entries.find((e) => e.path === "app/gateway/main.mjs")!
      .data.toString("utf8");
    // Names only the client library, the operator and the webhook define.
    for (const marker of [
      "KubeConfig",
      "CoordinationV1Api",
      "LeaderElector",
      "startIdentityServices",
      "AdmissionReview",
    ]) {
      expect(text.includes(marker), marker).toBe(false);
    }
    // The same markers are found where they belong, so the check can see them.
    const op = inspected.get("operator")!.layers[1]!.entries.find((e) => e.path === "app/operator/main.mjs")!;
    expect(op.data.toString("utf8")).toContain("CoordinationV1Api");
  });
});

describe("each image runs from its own files, read-only, as 65532", () => {
  const roots = new Map<string, string>();
  const rootfs = (name: string) => {
    let dir = roots.get(name);
    if (!dir) {
      dir = mkdtempSync(join(work, `rootfs-${name}-`));
      unpackImage(inspected.get(name)!, dir);
      roots.set(name, dir);
    }
    return dir;
  };

  it("operator: without a cluster, a configuration error that names KUBECONFIG (exit 2)", async () => {
    const r = await runImage(inspected.get("operator")!, rootfs("operator"));
    expect(r.stderr).toMatch(/^agent-warden operator: Kubernetes API connection is invalid: KUBECONFIG: /);
    expect(r.code).toBe(2);
  }, 120_000);

  it("webhook: without a cluster, a configuration error that names KUBECONFIG (exit 1)", async () => {
    const r = await runImage(inspected.get("webhook")!, rootfs("webhook"));
    expect(r.stderr).toMatch(/^webhook: Kubernetes API connection is invalid: KUBECONFIG: /);
    expect(r.code).toBe(1);
  }, 120_000);

  it("gateway: without configuration, an error that names WARDEN_GATEWAY_MODE (exit 2)", async () => {
    const r = await runImage(inspected.get("gateway")!, rootfs("gateway"));
    const line = JSON.parse(r.stdout.trim().split("\n")[0] || r.stderr.trim().split("\n")[0]!) as {
      level: string;
      issues: { path: string }[];
    };
    expect(line.level).toBe("error");
    expect(line.issues.map((i) => i.path)).toContain("WARDEN_GATEWAY_MODE");
    expect(r.code).toBe(2);
  }, 120_000);

  it("gateway: Node reads the image's V8 compile cache from the read-only root as 65532 and writes none", async () => {
    const r = await runImage(inspected.get("gateway")!, rootfs("gateway"), {
      env: { NODE_DEBUG_NATIVE: "COMPILE_CACHE" },
    });
    expect(r.stderr).toMatch(/V8 code cache for ESM file:\/\/\/app\/gateway\/main\.mjs was accepted/);
    expect(r.stderr).not.toMatch(/writing cache|Creating temporary file/);
    expect(r.code).toBe(2);
  }, 120_000);

  it("gateway: with an inbound configuration it serves /healthz and /readyz, writing only to its volume", async () => {
    const gateway = inspected.get("gateway")!;
    const volume = mkdtempSync(join(work, "gateway-volume-"));
    const env = await inboundGatewayFiles(volume, "/tmp", NONROOT);
    const running = startImage(gateway, rootfs("gateway"), {
      env,
      volumes: [{ host: volume, path: "/tmp" }],
    });
    try {
      let port: number | undefined;
      // Bounded wait for the log line that names the admin port (no fixed sleep).
      for (let i = 0; i < 600 && port === undefined; i++) {
        port = adminPortFromLogs(running.output().stderr);
        if (port === undefined) await sleep(200);
      }
      expect(port, running.output().stderr).toBeDefined();
      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect([health.status, await health.json()]).toEqual([200, { ok: true }]);
      let ready = 0;
      for (let i = 0; i < 300 && ready !== 200; i++) {
        ready = (await fetch(`http://127.0.0.1:${port}/readyz`)).status;
        if (ready !== 200) await sleep(200);
      }
      expect(ready).toBe(200);
    } finally {
      const r = await running.stop();
      expect(r.code, r.stderr).toBe(0);
    }
    // The gateway created its audit log in the volume, as the image's user (the root is read-only).
    expect(statSync(join(volume, "audit", "audit.jsonl")).uid).toBe(NONROOT);
  }, 180_000);

  it("cli: `warden version` and `warden check -` on a manifest from stdin", async () => {
    const cli = inspected.get("cli")!;
    const version = await runImage(cli, rootfs("cli"), { args: ["version"] });
    // Package version, rule catalog, commit (baked in at bundle time, as in the npm package).
    expect(version.stdout).toMatch(
      /^warden 0\.1\.0\nrule catalog sha256-[0-9a-f]{12} \(\d+ rules\)\ncommit [0-9a-f]{40}(-dirty)?\napi warden\.dev\/v1alpha1, node v24\.[^\n]*, packaged build\n$/,
    );
    expect(version.code).toBe(0);
    const pod = [
      "apiVersion: v1",
      "kind: Pod",
      "metadata: {name: p, labels: {warden.dev/agent: a}}",
      "spec: {containers: [{name: c, image: x}]}",
      "",
    ].join("\n");
    const check = await runImage(cli, rootfs("cli"), { args: ["check", "-"], stdin: pod });
    expect(check.stdout).toContain("[pod.automountToken]");
    expect(check.code).toBe(1);
  }, 120_000);
});
