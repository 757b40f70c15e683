// agent-warden on a real node, as a user drives it: the images built here imported into the node,
// Helm and kubectl against its API server, exec into pods, port-forward to a sidecar. One
// implementation for the product e2e (test/e2e, bound to the node its global setup provides) and
// for `npm run demo` (bound to the node the demo starts): no vitest here.
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildImages, chartAppVersion } from "../../scripts/images/build.ts";
import { cacheDir, PROJECT_ROOT } from "../cluster/local-cluster.ts";
import { importImageInto } from "../cluster/node.ts";
import { buildToolsImage } from "../e2e/tools/image.ts";
import { helmBinary, helmEnv } from "../helm/helm.ts";
import { type CommandResult, run } from "./process.ts";

export const CHART = join(PROJECT_ROOT, "charts", "agent-warden");
/** Helm's `--wait` bound: below the e2e tier's 600 s test timeout (see helmInstall). */
const HELM_WAIT = "8m";

/** What is needed of a node to drive it from the host (a NodeCluster or the e2e's ProvidedNode). */
export interface NodeTarget {
  /** Its work directory: images and copied-out files go under it, and go with it. */
  dir: string;
  kubeconfig: string;
  /** kubectl at the server's version: [binary, ...leading args]. */
  kubectl: string[];
  ctr: string;
  containerdSocket: string;
}

export interface ProductImages {
  tag: string;
  registry: string;
  /** The test/demo image (test/e2e/tools): MCP tool server, agent-side MCP client, network probes. */
  tools: string;
  /** name → compressed bytes of its layers. */
  sizes: Record<string, number>;
  /** name → manifest digest. */
  digests: Record<string, string>;
  buildMs: number;
  importMs: number;
}

/** The argv that runs the tools image's entrypoint through `kubectl exec` (a command, not the entrypoint). */
export const TOOLS_ENTRYPOINT = ["/usr/bin/node", "/app/e2e-tools.mjs"];

/** A restricted-profile security context for application containers (non-root, read-only root). */
export const APP_UID = 10001;
export const RESTRICTED = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  runAsNonRoot: true,
  runAsUser: APP_UID,
  runAsGroup: APP_UID,
  capabilities: { drop: ["ALL"] },
  seccompProfile: { type: "RuntimeDefault" },
} as const;

export interface PodInfo {
  metadata: {
    name: string;
    creationTimestamp: string;
    deletionTimestamp?: string;
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
  };
  spec: {
    nodeName?: string;
    initContainers?: {
      name: string;
      restartPolicy?: string;
      image: string;
      env?: { name: string; value?: string }[];
      resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
    }[];
    containers: {
      name: string;
      image?: string;
      env?: { name: string; value?: string }[];
      volumeMounts?: { name: string }[];
    }[];
  };
  status: {
    podIP?: string;
    phase?: string;
    conditions?: { type: string; status: string; lastTransitionTime?: string }[];
    initContainerStatuses?: {
      name: string;
      ready?: boolean;
      restartCount: number;
      containerID?: string;
      state?: Record<string, unknown>;
      lastState?: Record<string, unknown>;
    }[];
    containerStatuses?: { name: string; ready?: boolean; restartCount: number }[];
  };
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

/** Everything that drives one node, bound to it. */
export function wardenOn(node: NodeTarget) {
  const kubectl = (
    args: string[],
    opts: { input?: string; timeoutMs?: number } = {},
  ): Promise<CommandResult> => {
    const [bin, ...lead] = node.kubectl;
    return run(bin as string, [...lead, `--kubeconfig=${node.kubeconfig}`, ...args], opts);
  };
  const mustKubectl = async (
    args: string[],
    opts: { input?: string; timeoutMs?: number } = {},
  ): Promise<string> => {
    const r = await kubectl(args, opts);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  };
  const getJson = async <T = Record<string, unknown>>(args: string[]): Promise<T> =>
    JSON.parse(await mustKubectl([...args, "-o", "json"])) as T;

  /** Helm 3 against the node's API server, with a cache of its own. */
  const helm = async (args: string[], timeoutMs = 900_000): Promise<CommandResult> => {
    const bin = await helmBinary(3);
    return run(bin, args, { env: helmEnv({ KUBECONFIG: node.kubeconfig }), timeoutMs });
  };
  const mustHelm = async (args: string[], timeoutMs?: number): Promise<string> => {
    const r = await helm(args, timeoutMs);
    if (r.code !== 0) throw new Error(`helm ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  };

  /**
   * `helm <args> --wait --timeout HELM_WAIT` on the chart's release in `namespace`; if it fails, the
   * error carries what the namespace's workloads were doing, which is what `--wait` waited for (pods
   * not Ready, their container states, the latest events).
   */
  const helmWaiting = async (namespace: string, args: string[]): Promise<string> => {
    try {
      return await mustHelm([...args, "--wait", "--timeout", HELM_WAIT]);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${await workloadState(namespace)}`);
    }
  };
  const workloadState = async (namespace: string): Promise<string> => {
    const sections: { title: string; args: string[]; lastLines?: number }[] = [
      {
        title: "deployments, replica sets, pods",
        args: ["-n", namespace, "get", "deploy,rs,pods", "-o", "wide"],
      },
      { title: "pods (conditions, container states)", args: ["-n", namespace, "describe", "pods"] },
      { title: "latest events", args: ["get", "events", "-A", "--sort-by=.lastTimestamp"], lastLines: 60 },
      { title: "nodes", args: ["get", "nodes", "-o", "wide"] },
    ];
    const out: string[] = [];
    for (const { title, args, lastLines } of sections) {
      const r = await kubectl(args, { timeoutMs: 60_000 }).catch((e: Error) => ({
        stdout: "",
        stderr: e.message,
      }));
      const text = `${r.stdout}${r.stderr}`.trim().split("\n");
      out.push(`--- ${title} (kubectl ${args.join(" ")}):`, ...(lastLines ? text.slice(-lastLines) : text));
    }
    return out.join("\n");
  };

  return {
    node,
    kubectl,
    mustKubectl,
    getJson,
    helm,
    mustHelm,

    /**
     * `helm install <release> charts/agent-warden -n <ns> --create-namespace -f <values> --wait`.
     * Helm's own timeout stays below the e2e tier's test timeout (600 s): a test that times out
     * first would leave helm running and the release `pending-install`, and the next helm command
     * on it would fail with "another operation is in progress" instead of saying what was wrong.
     * When the install fails, the error carries what it was waiting for (workloads, pods, events).
     */
    helmInstall(release: string, namespace: string, valuesFile: string): Promise<string> {
      return helmWaiting(namespace, [
        "install",
        release,
        CHART,
        "-n",
        namespace,
        "--create-namespace",
        "-f",
        valuesFile,
      ]);
    },

    /** `helm upgrade` with the same bound and the same account of the namespace when it fails. */
    helmUpgrade(release: string, namespace: string, args: string[]): Promise<string> {
      return helmWaiting(namespace, ["upgrade", release, CHART, "-n", namespace, ...args]);
    },

    async apply(...docs: unknown[]): Promise<void> {
      await mustKubectl(["apply", "--server-side", "--force-conflicts", "-f", "-"], {
        input: docs.map((d) => JSON.stringify(d)).join("\n"),
      });
    },

    /** `kubectl exec` into one container; the tools image prints one JSON line, returned parsed. */
    async execJson<T = Record<string, unknown>>(
      ns: string,
      pod: string,
      container: string,
      argv: string[],
      timeoutMs = 120_000,
    ): Promise<T> {
      const r = await kubectl(["-n", ns, "exec", pod, "-c", container, "--", ...argv], { timeoutMs });
      const line = r.stdout.trim().split("\n").pop() ?? "";
      try {
        return JSON.parse(line) as T;
      } catch {
        throw new Error(
          `exec ${argv.join(" ")} in ${ns}/${pod}/${container} (${r.code}): ${r.stdout}${r.stderr}`,
        );
      }
    },

    /** The audit log as the sidecar of `pod` writes it in its volume (the images have no cat). */
    readAuditLog(ns: string, pod: string): Promise<CommandResult> {
      return kubectl([
        "-n",
        ns,
        "exec",
        pod,
        "-c",
        "warden-gateway",
        "--",
        "/usr/bin/node",
        "-e",
        "process.stdout.write(require('fs').readFileSync('/var/run/warden/audit/audit.jsonl'))",
      ]);
    },

    /**
     * What of a credential the agent container of `pod` could read: the file the sidecar holds it in,
     * were it mounted there too, and the container's own environment (printed for the caller to search).
     */
    whatTheAgentSees(ns: string, pod: string, manifest: string): Promise<CommandResult> {
      const script = `const fs=require('fs');const seen=[];for(const f of ['/var/run/warden/credentials/${manifest}','/proc/self/environ']){try{seen.push(fs.readFileSync(f,'utf8'))}catch{}}process.stdout.write(seen.join('\\n'))`;
      return kubectl(["-n", ns, "exec", pod, "-c", "agent", "--", "/usr/bin/node", "-e", script]);
    },

    /** The SPIFFE trust bundle the operator publishes into an enclave namespace (PEM). */
    async trustBundle(ns: string): Promise<string> {
      const cm = await getJson<{ data: Record<string, string> }>([
        "-n",
        ns,
        "get",
        "configmap",
        "warden-trust-bundle",
      ]);
      return cm.data["bundle.pem"] ?? "";
    },

    /** The one pod matching `selector`, once it exists and is Ready. */
    readyPod(ns: string, selector: string, timeoutMs = 300_000): Promise<PodInfo> {
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
    },

    /** `npm run images` (operator, webhook, gateway) plus the tools image, imported into the node. */
    async productImages(log: (line: string) => void): Promise<ProductImages> {
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
      const digests = Object.fromEntries([
        ...built.images.map((i) => [i.name, i.digest]),
        ["tools", tools.digest],
      ]);
      return {
        tag,
        registry,
        tools: tools.ref,
        sizes,
        digests,
        buildMs,
        importMs: Date.now() - imported,
      };
    },

    /** The API server's address as pods see it after the kubernetes Service's DNAT. */
    async apiServerEndpoint(): Promise<{ ip: string; port: number }> {
      const eps = await getJson<{
        items: { endpoints: { addresses: string[] }[]; ports: { port: number }[] }[];
      }>(["-n", "default", "get", "endpointslices", "-l", "kubernetes.io/service-name=kubernetes"]);
      const slice = eps.items[0];
      const ip = slice?.endpoints[0]?.addresses[0];
      const port = slice?.ports[0]?.port;
      if (!ip || !port) throw new Error(`no endpoint for the kubernetes Service: ${JSON.stringify(eps)}`);
      return { ip, port };
    },

    /**
     * `kubectl port-forward pod/<pod> :<port>`: resolves with the local port once it forwards; stop()
     * ends it. The documented way to reach a sidecar's admin listener (approvals) from outside.
     */
    portForward(ns: string, pod: string, port: number, timeoutMs = 120_000) {
      const [bin, ...lead] = node.kubectl;
      const pf = spawn(
        bin as string,
        [...lead, `--kubeconfig=${node.kubeconfig}`, "-n", ns, "port-forward", `pod/${pod}`, `:${port}`],
        { stdio: ["ignore", "pipe", "pipe"] },
      );
      const stop = () => {
        if (pf.exitCode === null && pf.signalCode === null) pf.kill("SIGTERM");
      };
      const local = new Promise<number>((resolve, reject) => {
        let buf = "";
        const timer = setTimeout(() => reject(new Error(`port-forward did not start: ${buf}`)), timeoutMs);
        const onData = (d: Buffer) => {
          buf += d.toString();
          const m = new RegExp(`127\\.0\\.0\\.1:(\\d+) -> ${port}`).exec(buf);
          if (m) {
            clearTimeout(timer);
            resolve(Number(m[1]));
          }
        };
        pf.stdout.on("data", onData);
        pf.stderr.on("data", onData);
        pf.once("exit", (code) => {
          clearTimeout(timer);
          reject(new Error(`port-forward exited ${code}: ${buf}`));
        });
      });
      local.catch(stop);
      return { local, stop };
    },
  };
}

export type Warden = ReturnType<typeof wardenOn>;

/**
 * The chart's values for images imported into the node (never pulled) and the API server's
 * post-DNAT address in the enclave egress policies; `extra` adds top-level sections.
 */
export function nodeChartValues(
  images: Pick<ProductImages, "registry" | "tag">,
  api: { ip: string; port: number },
  extra: { operatorEnv?: { name: string; value: string }[] } = {},
): Record<string, unknown> {
  const image = (name: string) => ({
    repository: `${images.registry}/${name}`,
    tag: images.tag,
    pullPolicy: "Never",
  });
  return {
    operator: { image: image("operator"), ...(extra.operatorEnv ? { extraEnv: extra.operatorEnv } : {}) },
    webhook: { image: image("webhook") },
    gateway: { image: image("gateway") },
    // The API server as pods reach it after the kubernetes Service's DNAT.
    networkPolicy: { apiServer: { cidrs: [`${api.ip}/32`], ports: [api.port] } },
  };
}

export function writeValues(file: string, values: unknown): string {
  writeFileSync(file, JSON.stringify(values, null, 2));
  return file;
}

/** Pod-level security every application pod here uses (the containers add RESTRICTED). */
export const APP_POD_SECURITY = { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } } as const;
/** Modest requests and limits for the tools image's containers. */
export const APP_RESOURCES = {
  requests: { cpu: "20m", memory: "48Mi" },
  limits: { cpu: "500m", memory: "192Mi" },
} as const;

/** The labels the webhook reads on an agent pod. */
export function agentLabels(o: { identity: string; agentType: string; enclave: string }) {
  return {
    "warden.dev/agent": o.identity,
    "warden.dev/agent-type": o.agentType,
    "warden.dev/enclave": o.enclave,
  };
}

/**
 * A tool server as its ToolManifest describes it: a Deployment of the tools image (`serve` on
 * `port`, labelled warden.dev/tool-server=<manifest>, so the webhook injects the inbound gateway)
 * and a Service whose `servicePort` targets the inbound gateway (15443), never the server's port.
 */
export function toolServerWorkload(o: {
  namespace: string;
  manifest: string;
  serviceAccountName: string;
  image: string;
  port: number;
  servicePort: number;
  env?: { name: string; value: string }[];
}): unknown[] {
  const labels = { "warden.dev/tool-server": o.manifest };
  return [
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: o.manifest, namespace: o.namespace },
      spec: {
        selector: labels,
        ports: [{ name: "mcp", port: o.servicePort, targetPort: 15443, protocol: "TCP" }],
      },
    },
    {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: o.manifest, namespace: o.namespace },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: o.serviceAccountName,
            automountServiceAccountToken: false,
            securityContext: APP_POD_SECURITY,
            containers: [
              {
                name: "server",
                image: o.image,
                imagePullPolicy: "Never",
                args: ["serve"],
                ...(o.env ? { env: o.env } : {}),
                ports: [{ containerPort: o.port }],
                securityContext: RESTRICTED,
                resources: APP_RESOURCES,
              },
            ],
          },
        },
      },
    },
  ];
}

/**
 * An agent Deployment for an AgentIdentity (its ServiceAccount has the identity's name): the
 * tools image idling in container "agent", which tests and the demo `kubectl exec` into.
 */
export function agentDeployment(o: {
  namespace: string;
  identity: string;
  agentType: string;
  enclave: string;
  image: string;
}): unknown {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: o.identity, namespace: o.namespace },
    spec: {
      replicas: 1,
      selector: { matchLabels: { "warden.dev/agent": o.identity } },
      template: {
        metadata: { labels: agentLabels(o) },
        spec: {
          serviceAccountName: o.identity,
          automountServiceAccountToken: false,
          securityContext: APP_POD_SECURITY,
          containers: [
            {
              name: "agent",
              image: o.image,
              imagePullPolicy: "Never",
              args: ["idle"],
              securityContext: RESTRICTED,
              resources: APP_RESOURCES,
            },
          ],
        },
      },
    },
  };
}

export function secret(namespace: string, name: string, stringData: Record<string, string>): unknown {
  return { apiVersion: "v1", kind: "Secret", metadata: { name, namespace }, stringData };
}

/** The Secret the injected sidecar reads approvers from: `<approver> <token>` per line. */
export function approversSecret(namespace: string, tokens: Record<string, string>): unknown {
  const lines = Object.entries(tokens).map(([approver, token]) => `${approver} ${token}\n`);
  return secret(namespace, "warden-approvers", { tokens: lines.join("") });
}

/** A ServiceAccount whose token is never mounted by default (a tool server's, here). */
export function serviceAccount(namespace: string, name: string): unknown {
  return {
    apiVersion: "v1",
    kind: "ServiceAccount",
    metadata: { name, namespace },
    automountServiceAccountToken: false,
  };
}
