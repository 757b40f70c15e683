// What the product e2e tests share: the images imported into the node, Helm against the node's
// API server, kubectl helpers that return JSON, exec into pods, and a bounded wait on a condition.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildImages, chartAppVersion } from "../../scripts/images/build.ts";
import { cacheDir, PROJECT_ROOT } from "../cluster/local-cluster.ts";
import { importImageInto } from "../cluster/node.ts";
import { helmBinary, helmEnv } from "../helm/helm.ts";
import { mustKubectl, nodeKubectl, providedNode } from "../support/node.ts";
import { type CommandResult, run } from "../support/process.ts";
import { buildToolsImage } from "./tools/image.ts";

export const CHART = join(PROJECT_ROOT, "charts", "agent-warden");

export interface ProductImages {
  tag: string;
  registry: string;
  tools: string;
  /** name → compressed bytes of its layers. */
  sizes: Record<string, number>;
  buildMs: number;
  importMs: number;
}

/** `npm run images` (operator, webhook, gateway) plus the e2e tools image, imported into the node. */
export async function productImages(log: (line: string) => void): Promise<ProductImages> {
  const node = providedNode();
  const out = join(node.dir, "images");
  mkdirSync(out, { recursive: true });
  const registry = "ghcr.io/agent-warden";
  const tag = chartAppVersion(PROJECT_ROOT);
  const started = Date.now();
  const built = await buildImages({
    out,
    registry,
    tag,
    only: ["operator", "webhook", "gateway"],
    cacheDir: join(cacheDir(), "images"),
    root: PROJECT_ROOT,
    log,
  });
  const tools = await buildToolsImage(cacheDir(), out);
  const buildMs = Date.now() - started;
  const imported = Date.now();
  for (const archive of [...built.images.map((i) => i.archive), tools.archive])
    importImageInto(node, archive);
  const sizes = Object.fromEntries(
    built.images.map((i) => [i.name, i.layers.reduce((n, l) => n + l.bytes, 0)]),
  );
  return { tag, registry, tools: tools.ref, sizes, buildMs, importMs: Date.now() - imported };
}

/** The API server's address as pods see it after the kubernetes Service's DNAT. */
export async function apiServerEndpoint(): Promise<{ ip: string; port: number }> {
  const eps = JSON.parse(
    await mustKubectl([
      "-n",
      "default",
      "get",
      "endpointslices",
      "-l",
      "kubernetes.io/service-name=kubernetes",
      "-o",
      "json",
    ]),
  ) as { items: { endpoints: { addresses: string[] }[]; ports: { port: number }[] }[] };
  const slice = eps.items[0];
  const ip = slice?.endpoints[0]?.addresses[0];
  const port = slice?.ports[0]?.port;
  if (!ip || !port) throw new Error(`no endpoint for the kubernetes Service: ${JSON.stringify(eps)}`);
  return { ip, port };
}

/** Helm 3 against the node's API server, with a cache of its own. */
export async function helm(args: string[], timeoutMs = 900_000): Promise<CommandResult> {
  const bin = await helmBinary(3);
  return run(bin, args, { env: helmEnv({ KUBECONFIG: providedNode().kubeconfig }), timeoutMs });
}

export async function mustHelm(args: string[], timeoutMs?: number): Promise<string> {
  const r = await helm(args, timeoutMs);
  if (r.code !== 0) throw new Error(`helm ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

export function writeValues(file: string, values: unknown): string {
  writeFileSync(file, JSON.stringify(values, null, 2));
  return file;
}

export async function apply(...docs: unknown[]): Promise<void> {
  await mustKubectl(["apply", "--server-side", "--force-conflicts", "-f", "-"], {
    input: docs.map((d) => JSON.stringify(d)).join("\n"),
  });
}

export async function getJson<T = Record<string, unknown>>(args: string[]): Promise<T> {
  return JSON.parse(await mustKubectl([...args, "-o", "json"])) as T;
}

/** `kubectl exec` into one container; the e2e tools print one JSON line, returned parsed. */
export async function execJson<T = Record<string, unknown>>(
  ns: string,
  pod: string,
  container: string,
  argv: string[],
  timeoutMs = 120_000,
): Promise<T> {
  const r = await nodeKubectl(["-n", ns, "exec", pod, "-c", container, "--", ...argv], { timeoutMs });
  const line = r.stdout.trim().split("\n").pop() ?? "";
  try {
    return JSON.parse(line) as T;
  } catch {
    throw new Error(
      `exec ${argv.join(" ")} in ${ns}/${pod}/${container} (${r.code}): ${r.stdout}${r.stderr}`,
    );
  }
}

/**
 * Polls `probe` until it returns a value other than undefined/false, at most `timeoutMs`. The pause
 * between tries grows from 100 ms to 2 s: fast when things are fast, gentle on a loaded machine.
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 240_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let pause = 100;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, pause));
    pause = Math.min(2000, pause * 2);
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`,
  );
}

/** The one pod of a Deployment (by its selector labels), once it exists and is Ready. */
export async function readyPod(ns: string, selector: string, timeoutMs = 300_000): Promise<PodInfo> {
  return waitFor(
    `a Ready pod ${selector} in ${ns}`,
    async () => {
      const list = await getJson<{ items: PodInfo[] }>(["-n", ns, "get", "pods", "-l", selector]);
      return list.items.find(
        (p) =>
          !p.metadata.deletionTimestamp &&
          p.status.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
      );
    },
    timeoutMs,
  );
}

export interface PodInfo {
  metadata: {
    name: string;
    creationTimestamp: string;
    deletionTimestamp?: string;
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
  };
  spec: {
    initContainers?: {
      name: string;
      restartPolicy?: string;
      image: string;
      env?: { name: string; value?: string }[];
      resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
    }[];
    containers: {
      name: string;
      env?: { name: string; value?: string }[];
      volumeMounts?: { name: string }[];
    }[];
  };
  status: {
    podIP?: string;
    conditions?: { type: string; status: string; lastTransitionTime?: string }[];
    initContainerStatuses?: {
      name: string;
      restartCount: number;
      containerID?: string;
      state?: Record<string, unknown>;
      lastState?: Record<string, unknown>;
    }[];
    containerStatuses?: { name: string; restartCount: number }[];
  };
}
