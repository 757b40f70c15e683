// node scripts/images/measure-gateway.ts [--runs N] [--settle-ms MS]
//
// Idle resident memory of the gateway three ways, each started the same way with the same inbound
// configuration and the same Node binary, measured after it is ready and has sat idle:
//   image      the gateway image (dist/images/gateway.oci.tar, from `npm run images`), run from its own
//              unpacked layers, read-only, as 65532 (scripts/images/rootfs.ts);
//   bundle     the same bundle as a host process;
//   sources    `node gateway/main.ts` (the unbundled TypeScript sources, type stripping).
// Prints one JSON object: per way, VmRSS / RssAnon / RssFile in MiB per run and the medians. RssFile
// counts resident pages of the Node binary, which depends on what the page cache holds (a binary just
// unpacked is fully cached); RssAnon is the process's own memory. Needs root (for the image).
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { adminPortFromLogs, inboundGatewayFiles } from "./gateway-fixture.ts";
import { inspectOciArchive } from "./inspect.ts";
import { startImage, unpackImage } from "./rootfs.ts";
import { NONROOT } from "./runtime.ts";

const ROOT = resolve(import.meta.dirname, "..", "..");

interface Running {
  pid(): number | undefined;
  /** The process's log (the project's logger writes JSON lines to stderr). */
  logs(): string;
  stop(): Promise<unknown>;
}

interface Rss {
  /** VmRSS: all resident pages, including the mapped parts of the Node binary. */
  total: number;
  /** RssAnon: the process's own memory (heaps, stacks): what grows with work. */
  anon: number;
  /** RssFile: resident pages of mapped files, mostly the Node binary (their count depends on the page cache). */
  file: number;
}

function rssMiB(pid: number): Rss {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name: string) => {
    const kb = Number(new RegExp(`^${name}:\\s+(\\d+) kB$`, "m").exec(status)?.[1]);
    return Math.round((kb / 1024) * 10) / 10;
  };
  return { total: field("VmRSS"), anon: field("RssAnon"), file: field("RssFile") };
}

async function waitReady(run: Running, what: string): Promise<void> {
  // Bounded: 600 polls of 200 ms. A loaded machine may take a while to start Node.
  for (let i = 0; i < 600; i++) {
    const port = adminPortFromLogs(run.logs());
    if (port !== undefined) {
      const r = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined);
      if (r?.status === 200) return;
    }
    await sleep(200);
  }
  throw new Error(`${what}: not ready; log:\n${run.logs()}`);
}

async function measure(run: Running, what: string, settleMs: number): Promise<Rss> {
  try {
    await waitReady(run, what);
    await sleep(settleMs);
    const samples: Rss[] = [];
    for (let i = 0; i < 5; i++) {
      samples.push(rssMiB(run.pid()!));
      await sleep(500);
    }
    return {
      total: median(samples.map((x) => x.total)),
      anon: median(samples.map((x) => x.anon)),
      file: median(samples.map((x) => x.file)),
    };
  } finally {
    await run.stop();
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function hostProcess(args: string[], env: Record<string, string>): Running {
  const child = spawn(join(ROOT, "node_modules", ".bin", "node"), args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", NODE_ENV: "production", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stderr.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stdout.resume();
  const exited = new Promise((r) => child.on("close", r));
  return {
    pid: () => child.pid,
    logs: () => out,
    stop: async () => {
      child.kill("SIGTERM");
      await exited;
    },
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { runs: { type: "string", default: "3" }, "settle-ms": { type: "string", default: "10000" } },
  });
  const runs = Number(values.runs);
  const settleMs = Number(values["settle-ms"]);
  const archive = join(ROOT, "dist", "images", "gateway.oci.tar");
  const image = inspectOciArchive(archive);
  const work = mkdtempSync(join(ROOT, ".cache", "images", "measure-"));
  try {
    const rootfs = join(work, "rootfs");
    mkdirSync(rootfs);
    unpackImage(image, rootfs);
    const bundle = join(rootfs, "app", "gateway", "main.mjs");
    const result: Record<string, { runs: Rss[]; median?: Rss }> = {
      image: { runs: [] },
      bundle: { runs: [] },
      sources: { runs: [] },
    };
    for (let i = 0; i < runs; i++) {
      for (const way of Object.keys(result)) {
        const files = mkdtempSync(join(work, `files-${way}-`));
        let run: Running;
        if (way === "image") {
          const env = await inboundGatewayFiles(files, "/tmp", NONROOT);
          const started = startImage(image, rootfs, { env, volumes: [{ host: files, path: "/tmp" }] });
          run = { pid: started.entrypointPid, logs: () => started.output().stderr, stop: started.stop };
        } else {
          const env = await inboundGatewayFiles(files, files, process.getuid?.() ?? 0);
          run = hostProcess([way === "bundle" ? bundle : "gateway/main.ts"], env);
        }
        result[way]!.runs.push(await measure(run, way, settleMs));
        rmSync(files, { recursive: true, force: true });
      }
    }
    for (const r of Object.values(result)) {
      r.median = {
        total: median(r.runs.map((x) => x.total)),
        anon: median(r.runs.map((x) => x.anon)),
        file: median(r.runs.map((x) => x.file)),
      };
    }
    process.stdout.write(
      `${JSON.stringify({ unit: "MiB (VmRSS, RssAnon, RssFile), idle after ready", settleMs, node: process.version, ...result }, null, 2)}\n`,
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
