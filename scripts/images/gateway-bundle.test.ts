// The gateway image's bundle: its smaller entry into undici (undici-gateway.cjs), which must export
// every value the gateway imports from "undici" and whose `request` must answer exactly like
// undici's own for the forms the gateway uses (and refuse what undici refuses); what the bundle
// leaves out (undici's fetch/WebSocket/cache/mock code, zod's locales, @peculiar/x509 and its ASN.1
// libraries); and the worker it starts by URL.
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createServer, type Server } from "node:http";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import fc from "fast-check";
import * as undici from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundleComponent, componentEnv } from "./build.ts";
import { compileCacheEnv } from "./compile-cache.ts";
import { COMPONENT_IMAGES } from "./definitions.ts";

const ROOT = resolve(import.meta.dirname, "..", "..");
const shim = createRequire(import.meta.url)("./undici-gateway.cjs") as typeof undici;

/** Value (not type) names imported from "undici" anywhere in gateway/ (tests excluded). */
function gatewayUndiciImports(): string[] {
  const names = new Set<string>();
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".ts") && !e.name.endsWith(".test.ts")) {
        const text = readFileSync(p, "utf8");
        for (const m of text.matchAll(/import\s+(type\s+)?\{([^}]*)\}\s+from\s+"undici"/g)) {
          if (m[1]) continue;
          for (const spec of m[2]!.split(",")) {
            const s = spec.trim();
            if (!s || s.startsWith("type ")) continue;
            names.add(s.split(/\s+as\s+/)[0]!);
          }
        }
        expect(text, `${p}: import undici by name so the check sees it`).not.toMatch(
          /import\s+\*\s+as\s+\w+\s+from\s+"undici"|import\s+\w+\s+from\s+"undici"/,
        );
      }
    }
  };
  walk(join(ROOT, "gateway"));
  return [...names].sort();
}

let server: Server;
let base = "";
beforeAll(async () => {
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (d: Buffer) => {
      body += d.toString();
    });
    req.on("end", () => {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ method: req.method, url: req.url, body, host: req.headers.host }));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const a = server.address();
  base = `http://127.0.0.1:${typeof a === "object" && a ? a.port : 0}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe("undici-gateway.cjs: the part of undici the gateway image bundles", () => {
  it("exports every value the gateway imports from undici", () => {
    const wanted = gatewayUndiciImports();
    expect(wanted).toContain("request");
    for (const name of wanted) expect(typeof (shim as Record<string, unknown>)[name], name).toBe("function");
  });

  it("is undici's own Agent and connector (the same modules, not copies)", () => {
    const req = createRequire(import.meta.url);
    expect(shim.Agent).toBe(req("undici/lib/dispatcher/agent"));
    expect(shim.buildConnector).toBe(req("undici/lib/core/connect"));
  });

  const agent = new undici.Agent();
  afterAll(() => agent.close());
  const cases: [string, () => [string | URL, Record<string, unknown> | undefined]][] = [
    [
      "string URL with a query, POST body, explicit dispatcher",
      () => [`${base}/mcp?x=1&y=2`, { method: "POST", body: "{}", dispatcher: agent }],
    ],
    ["URL object, GET", () => [new URL(`${base}/a/b`), { dispatcher: agent }]],
    ["opts.path with an origin", () => [base, { path: "/servers/x/mcp?a=b", dispatcher: agent }]],
    ["opts.path without a leading slash", () => [base, { path: "p?z=9", dispatcher: agent }]],
    ["body without a method defaults to PUT", () => [`${base}/put`, { body: "x", dispatcher: agent }]],
    [
      "no dispatcher: the global one (the inbound gateway's upstream)",
      () => [`${base}/global`, { method: "DELETE" }],
    ],
    ["no options at all", () => [`${base}/none`, undefined]],
  ];
  for (const [name, make] of cases) {
    it(`answers like undici.request: ${name}`, async () => {
      const [url, opts] = make();
      const mine = await shim.request(url, opts as never);
      const theirs = await undici.request(url, opts as never);
      expect(mine.statusCode).toBe(theirs.statusCode);
      expect(await mine.body.json()).toEqual(await theirs.body.json());
    });
  }

  const attacks: [string, unknown, unknown][] = [
    ["no URL", undefined, {}],
    ["a number as URL", 42, {}],
    ["options that are a string", base, "GET"],
    ["a non-string path", base, { path: 7 }],
    ["opts.path with a URL that has a path of its own", "http://127.0.0.1:9/ignored?q=1", { path: "/x" }],
    ["opts.agent instead of dispatcher", base, { agent: {} }],
    ["a URL that is not one", "not a url", {}],
    ["a non-http scheme", "file:///etc/passwd", {}],
  ];
  for (const [name, url, opts] of attacks) {
    it(`refuses like undici.request: ${name}`, async () => {
      const err = async (f: () => Promise<unknown>) => {
        try {
          await f();
          return "no error";
        } catch (e) {
          return (e as Error).constructor.name + ": " + (e as Error).message;
        }
      };
      const mine = await err(async () => shim.request(url as never, opts as never));
      expect(mine).not.toBe("no error");
      expect(mine).toBe(await err(async () => undici.request(url as never, opts as never)));
    });
  }

  it("agrees with undici.request on the path it sends for any path and query", async () => {
    await fc.assert(
      fc.asyncProperty(fc.webPath(), fc.webQueryParameters(), async (path, query) => {
        const url = `${base}${path.startsWith("/") ? path : `/${path}`}${query ? `?${query}` : ""}`;
        const a = await shim.request(url, { dispatcher: agent }).then(
          (r) => r.body.json(),
          (e: Error) => e.message,
        );
        const b = await undici.request(url, { dispatcher: agent }).then(
          (r) => r.body.json(),
          (e: Error) => e.message,
        );
        expect(a).toEqual(b);
      }),
      { numRuns: 50 },
    );
  });
});

describe("the gateway bundle (as its image holds it)", () => {
  const out = mkdtempSync(join(tmpdir(), "warden-gw-bundle-"));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it("holds no undici fetch/WebSocket/cache/mock code, no zod locales, no undici index, and no ASN.1 library", async () => {
    const gw = COMPONENT_IMAGES.find((i) => i.name === "gateway")!;
    const r = await bundleComponent(gw, out, ROOT, 24);
    const included = r.included;
    expect(included).toContain("scripts/images/undici-gateway.cjs");
    expect(included.filter((f) => f === "node_modules/undici/index.js")).toEqual([]);
    expect(
      included.filter((f) =>
        /node_modules\/undici\/lib\/(web\/(websocket|cache|eventsource|cookies)|mock|cache|interceptor)\//.test(
          f,
        ),
      ),
    ).toEqual([]);
    expect(
      included.filter((f) => f.startsWith("node_modules/zod/v4/locales/") && !/\/(en|index)\.js$/.test(f)),
    ).toEqual([]);
    // Certificates are read by node:crypto and lib/identity/der.ts: no ASN.1 library in the sidecar.
    expect(
      included.filter((f) =>
        /node_modules\/(@peculiar\/|asn1js\/|@noble\/|pvtsutils\/|pvutils\/|tsyringe\/|reflect-metadata\/)/.test(
          f,
        ),
      ),
    ).toEqual([]);
  }, 120_000);

  it("holds the server-message worker beside the bundle, where offload.ts looks for it, and it decides", async () => {
    const gw = COMPONENT_IMAGES.find((i) => i.name === "gateway")!;
    const r = await bundleComponent(gw, join(out, "w"), ROOT, 24);
    expect(r.workers.map((w) => w.out)).toEqual(["gateway/server-message-worker.mjs"]);
    // offload.ts resolves "./server-message-worker.mjs" against the bundle's own URL.
    const main = readFileSync(r.outfile, "utf8");
    expect(main).toContain('"./server-message-worker.mjs"');
    const workerFile = new URL("./server-message-worker.mjs", pathToFileURL(r.outfile));
    expect(existsSync(workerFile)).toBe(true);
    expect(workerFile.href).toBe(pathToFileURL(r.workers[0]!.outfile).href);
    const w = new Worker(workerFile);
    try {
      const answer = await new Promise<{ seq: number; verdict?: { action: string }; error?: string }>(
        (res, rej) => {
          w.once("message", res);
          w.once("error", rej);
          const msg = JSON.stringify({
            jsonrpc: "2.0",
            method: "notifications/message",
            params: { level: "info", data: "x".repeat(300_000) },
          });
          w.postMessage({
            seq: 7,
            bytes: Buffer.from(msg),
            version: "2025-06-18",
            manifest: "web-tools",
            maxDepth: 32,
            maxBytes: 1024 * 1024,
            allowedRequests: [],
          });
        },
      );
      expect(answer.seq).toBe(7);
      expect(answer.error).toBeUndefined();
      expect(answer.verdict?.action).toBeDefined();
    } finally {
      await w.terminate();
    }
  }, 120_000);

  it("carries a V8 compile cache that Node accepts read-only for the bundle and its worker, made reproducibly", async () => {
    const gw = COMPONENT_IMAGES.find((i) => i.name === "gateway")!;
    const a = await bundleComponent(gw, join(out, "cc-a"), ROOT, 24);
    const b = await bundleComponent(gw, join(out, "cc-b"), ROOT, 24);
    // One entry per module, named for the uid the image runs as, and the same bytes in two builds.
    expect(a.compileCache.map((f) => f.path)).toEqual(b.compileCache.map((f) => f.path));
    expect(a.compileCache).toHaveLength(2);
    for (const f of a.compileCache)
      expect(f.path).toMatch(/^gateway\/\.node-compile-cache\/v[\d.]+-\w+-[0-9a-f]+-65532\/[0-9a-f]+$/);
    a.compileCache.forEach((f, i) => {
      expect(readFileSync(f.outfile).equals(readFileSync(b.compileCache[i]!.outfile)), f.path).toBe(true);
    });
    // Run as the image does, from a copy elsewhere (portable keys), with the cache read-only; Node
    // names the directory after the uid, so the copy is named for this test's uid.
    const app = join(out, "cc-run");
    cpSync(join(out, "cc-a"), app, { recursive: true });
    const cacheDir = join(app, gw.compileCache!);
    const [sub] = readdirSync(cacheDir);
    renameSync(join(cacheDir, sub!), join(cacheDir, sub!.replace(/-\d+$/, `-${process.getuid!()}`)));
    chmodSync(join(cacheDir, readdirSync(cacheDir)[0]!), 0o555);
    const env = {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      ...compileCacheEnv(cacheDir),
      NODE_DEBUG_NATIVE: "COMPILE_CACHE",
    };
    const node = join(ROOT, "node_modules", ".bin", "node");
    const main = spawnSync(node, [join(app, gw.bundle.out)], { env, encoding: "utf8" });
    expect(main.stderr).toMatch(/V8 code cache for ESM file:\/\/\S+\/gateway\/main\.mjs was accepted/);
    // The worker, started as offload.ts starts it, by a process that has no cache of its own (as
    // root, Node would otherwise write the starter's entry into the read-only directory).
    const starter = join(out, "start-worker.mjs");
    writeFileSync(
      starter,
      `import { Worker } from "node:worker_threads";
const w = new Worker(new URL(${JSON.stringify(pathToFileURL(join(app, "gateway/server-message-worker.mjs")).href)}), { env: { ...process.env, ...${JSON.stringify(compileCacheEnv(cacheDir))} } });
setTimeout(() => w.terminate(), 2000);
`,
    );
    const worker = spawnSync(node, [starter], {
      env: { PATH: env.PATH, NODE_DEBUG_NATIVE: "COMPILE_CACHE" },
      encoding: "utf8",
    });
    expect(worker.stderr).toMatch(
      /V8 code cache for ESM file:\/\/\S+\/gateway\/server-message-worker\.mjs was accepted/,
    );
    expect(readdirSync(join(cacheDir, readdirSync(cacheDir)[0]!))).toHaveLength(2);
    // The image points Node at it.
    expect(componentEnv(gw)).toEqual(compileCacheEnv("/app/gateway/.node-compile-cache"));
  }, 180_000);
});
