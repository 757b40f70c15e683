// A real one-node Kubernetes cluster for the e2e tests, the demo and `npm run cluster:up`: the
// control plane and a node (containerd, runc, kubelet, kube-proxy, bridge CNI, kube-router as the
// NetworkPolicy controller, CoreDNS as a pod) inside a network namespace of their own, reachable from
// the host at 127.0.0.1:<port> through a bridge. See test/cluster/README.md for the interface and
// docs/adr/0013-real-node.md for the decisions.
//
//   const support = nodeSupport();            // { ok: true } or { ok: false, why }
//   const node = await startNodeCluster({ dir, log });
//   ... node.kubeconfig, node.kubectl, node.importImage(archive), node.execInNetns(["curl", ...]) ...
//   const left = await node.stop();           // Leftovers: all empty when nothing is left
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { buildClusterBinary } from "./local-cluster.ts";
import {
  clusterIdSchema,
  cniConflist,
  containerdConfig,
  corednsManifest,
  kubeletConfig,
  NODE_NAME,
  NODE_NETWORK,
  type NodeLayout,
  nodeLayout,
  nodePaths,
  resolvConf,
} from "./node/config.ts";
import { ensureDebianPackages, missingDebianPackages } from "./node/debian.ts";
import { nodeImageArchives } from "./node/images.ts";
import { buildNodeParts } from "./node/parts.ts";
import { readStatus, type SupervisorConfig } from "./node/supervisor.ts";
import {
  cgroupDirs,
  deleteNetns,
  isClean,
  killAndWait,
  type Leftovers,
  mountsMatching,
  netnsExists,
  processesInCgroupRoot,
  processesInNamespace,
  removeCgroupTrees,
} from "./node/sweep.ts";

export { NODE_NAME, NODE_NETWORK } from "./node/config.ts";
export type { Leftovers } from "./node/sweep.ts";

const HERE = dirname(fileURLToPath(import.meta.url));
const SUPERVISOR = join(HERE, "node", "supervisor.ts");
const BRIDGE = join(HERE, "node", "bridge.ts");
/** Debian packages the node runs with (its build needs more: see parts.ts). */
const RUNTIME_DEBS = ["iptables", "ipset"];

export type NodeSupport = { ok: true } | { ok: false; why: string };

/**
 * Whether this machine can run a node, and if not, why, in words a person can act on. Checks what
 * the node needs, not what it would be nice to have: root, network and mount namespaces, the tools
 * that enter them, cgroups, and Go/gcc or the Debian packages that build the parts.
 */
export function nodeSupport(): NodeSupport {
  if (process.platform !== "linux")
    return { ok: false, why: `a node needs Linux; this is ${process.platform}` };
  if (process.getuid?.() !== 0) {
    return {
      ok: false,
      why:
        "a node needs root (it creates a network namespace, mounts, cgroups and iptables rules); this process runs as uid " +
        `${process.getuid?.()}`,
    };
  }
  for (const ns of ["net", "mnt"]) {
    if (!existsSync(`/proc/self/ns/${ns}`))
      return { ok: false, why: `the kernel offers no ${ns} namespaces (/proc/self/ns/${ns})` };
  }
  for (const tool of ["ip", "nsenter", "unshare", "setsid", "mount"]) {
    if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0) {
      return { ok: false, why: `\`${tool}\` is not on PATH (Debian: iproute2 / util-linux / mount)` };
    }
  }
  if (cgroupDirs("/").length === 0)
    return { ok: false, why: "no cgroup hierarchy is mounted under /sys/fs/cgroup" };
  try {
    accessSync("/sys/fs/cgroup", constants.W_OK);
  } catch {
    // Each hierarchy is checked below; a read-only tmpfs over them is fine.
  }
  for (const h of cgroupDirs("/")) {
    try {
      accessSync(h.hierarchy, constants.W_OK);
    } catch {
      return {
        ok: false,
        why: `the cgroup hierarchy ${h.hierarchy} is not writable (a container without cgroup access?)`,
      };
    }
  }
  const probe = spawnSync("unshare", ["--mount", "--net", "--", "true"], { encoding: "utf8" });
  if (probe.status !== 0) {
    return {
      ok: false,
      why: `cannot create network and mount namespaces here: unshare says ${probe.stderr.trim()}`,
    };
  }
  if (spawnSync("go", ["version"]).status !== 0)
    return { ok: false, why: "the node's parts are built with Go >= 1.26: `go` is not on PATH" };
  if (spawnSync("gcc", ["--version"]).status !== 0)
    return { ok: false, why: "the pause image is built with gcc: `gcc` is not on PATH" };
  const missing = missingDebianPackages([...RUNTIME_DEBS, "libseccomp-dev", "pkg-config"]);
  if (missing.length && spawnSync("apt-get", ["--version"]).status !== 0) {
    return {
      ok: false,
      why: `the Debian packages ${missing.join(", ")} are missing and there is no apt-get to install them`,
    };
  }
  return { ok: true };
}

export interface NodeCluster {
  id: string;
  dir: string;
  /** Host kubeconfig: https://127.0.0.1:<port>, bridged into the node's namespace. */
  kubeconfig: string;
  /** kubectl at the server's exact version: [binary, "kubectl"]. */
  kubectl: string[];
  /** The node's address inside its namespace (the API server's advertised address). */
  nodeIP: string;
  nodeName: string;
  /** `ip netns` name of the node's network namespace. */
  netns: string;
  /** The containerd socket (usable from the host: `ctr --address`). */
  containerdSocket: string;
  /** containerd's ctr at the node's version. */
  ctr: string;
  /** Imports an OCI archive into the node's containerd (namespace k8s.io); pods use it by its ref. */
  importImage(ociArchivePath: string): void;
  /** Runs a command in the node's network namespace (the host's mount namespace). */
  execInNetns(
    cmd: string[],
    opts?: { timeoutMs?: number; input?: string },
  ): { status: number | null; stdout: string; stderr: string };
  /** Timings of this start, in seconds. */
  timings: Record<string, number>;
  /** Stops everything and returns what is left (all empty when clean). Idempotent. */
  stop(): Promise<Leftovers>;
}

/** What the host side needs to tear a node down, written before anything is started. */
const nodeRecordSchema = z.strictObject({
  id: clusterIdSchema,
  dir: z.string(),
  runDir: z.string(),
  netns: z.string().regex(/^warden-[a-z0-9]{4,12}$/),
  cgroupRoot: z.string().regex(/^\/warden-[a-z0-9]{4,12}$/),
  /** The namespaces of the process that started the node: never swept. */
  hostNs: z.strictObject({ mnt: z.string(), net: z.string() }),
  bridgePid: z.number().optional(),
  apiPort: z.number().optional(),
  kubectl: z.array(z.string()),
});
type NodeRecord = z.infer<typeof nodeRecordSchema>;

const recordFile = (dir: string) => join(dir, "node.json");

export interface StartNodeOptions {
  /** Work directory (created); keep it short-ish, it holds etcd, containerd content and logs. */
  dir: string;
  log?: (line: string) => void;
  /** How long to wait for the node to be Ready with CoreDNS serving. */
  timeoutMs?: number;
}

function sh(cmd: string, args: string[], what: string): string {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${what}: ${cmd} ${args.join(" ")} failed: ${r.stderr || r.error}`);
  return r.stdout;
}

/** The node's network namespace: lo, and a veth pair whose both ends stay inside; no way out. */
function createNetns(l: NodeLayout): void {
  const ns = l.netns;
  sh("ip", ["netns", "add", ns], "creating the node's network namespace");
  const ipn = (...a: string[]) => sh("ip", ["-n", ns, ...a], `configuring ${ns}`);
  ipn("link", "set", "lo", "up");
  // This kernel has no dummy driver: a veth pair, both ends inside, carries the node's address.
  ipn("link", "add", "wnode0", "type", "veth", "peer", "name", "wnode1");
  ipn("addr", "add", NODE_NETWORK.nodeCIDR, "dev", "wnode0");
  ipn("link", "set", "wnode0", "up");
  ipn("link", "set", "wnode1", "up");
  // Service IPs from the node itself (the API server calling a webhook Service) need a route for
  // the output chain's DNAT to apply; it never leaves the namespace.
  ipn("route", "add", NODE_NETWORK.serviceCIDR, "dev", "wnode0");
}

async function waitFor(
  what: string,
  check: () => boolean,
  timeoutMs: number,
  failure?: () => string | undefined,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    const failed = failure?.();
    if (failed) throw new Error(failed);
    if (Date.now() > deadline) throw new Error(`${what}: not done after ${Math.round(timeoutMs / 1000)}s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function tail(file: string, lines = 25): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/**
 * Builds what is missing (cached by input hash), then starts a node cluster under `dir` and resolves
 * once the Node is Ready and CoreDNS answers. On failure, everything started is torn down first.
 */
export async function startNodeCluster(opts: StartNodeOptions): Promise<NodeCluster> {
  const log = opts.log ?? console.error;
  const support = nodeSupport();
  if (!support.ok) throw new Error(`cannot run a node here: ${support.why}`);
  const t0 = Date.now();
  const timings: Record<string, number> = {};
  const mark = (k: string) => {
    timings[k] = Math.round((Date.now() - t0) / 100) / 10;
  };

  await ensureDebianPackages(RUNTIME_DEBS, "running the node (kube-proxy, kube-router)");
  const [clusterBinary, { dirs }] = await Promise.all([buildClusterBinary(log), buildNodeParts(log)]);
  const images = await nodeImageArchives(dirs);
  mark("built");

  const dir = resolve(opts.dir);
  // A node left in this directory by a crashed run goes first (its record says what to remove).
  if (existsSync(recordFile(dir))) await stopNodeClusterAt(dir, log);
  const id = randomBytes(6)
    .toString("base64url")
    .toLowerCase()
    .replace(/[^a-z0-9]/g, "")
    .padEnd(8, "0")
    .slice(0, 8);
  const layout = nodeLayout(id, dir);
  const p = nodePaths(layout);
  rmSync(dir, { recursive: true, force: true });
  for (const d of [
    p.logs,
    p.controlPlaneDir,
    dirname(p.kubeletConfig),
    p.cniConfDir,
    dirname(p.containerdConfig),
    layout.runDir,
  ]) {
    mkdirSync(d, { recursive: true, mode: 0o700 });
  }
  writeFileSync(
    p.containerdConfig,
    containerdConfig(layout, { runc: join(dirs.runc, "runc"), cniBinDir: dirs["cni-plugins"] }),
  );
  writeFileSync(p.cniConflist, cniConflist());
  writeFileSync(p.kubeletConfig, kubeletConfig(layout));
  writeFileSync(p.resolvConf, resolvConf());
  writeFileSync(p.corednsManifest, corednsManifest());
  const kubectl = [clusterBinary, "kubectl"];
  const hostNs = { mnt: readlinkSync("/proc/self/ns/mnt"), net: readlinkSync("/proc/self/ns/net") };
  const record: NodeRecord = { ...layout, kubectl, hostNs };
  const saveRecord = () => writeFileSync(recordFile(dir), JSON.stringify(record, null, 2));
  saveRecord();

  let bridge: ChildProcess | undefined;
  const fail = async (err: unknown): Promise<never> => {
    const left = await stopNodeClusterAt(dir, log);
    const leftNote = isClean(left) ? "" : `\nteardown left: ${JSON.stringify(left)}`;
    throw new Error(`${err instanceof Error ? err.message : String(err)}${leftNote}`);
  };
  try {
    // The host side of the API bridge first: its port is the API server's port inside the node.
    const portFile = join(dir, "bridge.port");
    const bridgeLog = openSync(join(p.logs, "bridge.log"), "a");
    bridge = spawn(process.execPath, [BRIDGE, "--to", p.apiSocket, "--port-file", portFile], {
      stdio: ["ignore", bridgeLog, bridgeLog],
      detached: true,
    });
    bridge.unref();
    record.bridgePid = bridge.pid;
    saveRecord();
    await waitFor(
      "the API bridge",
      () => existsSync(portFile),
      30_000,
      () =>
        bridge?.exitCode != null ? `the API bridge exited: ${tail(join(p.logs, "bridge.log"))}` : undefined,
    );
    const apiPort = Number(readFileSync(portFile, "utf8"));
    record.apiPort = apiPort;
    saveRecord();

    createNetns(layout);
    const cfg: SupervisorConfig = { layout, clusterBinary, parts: dirs, apiPort, images, hostNs };
    const cfgFile = join(dir, "supervisor.json");
    writeFileSync(cfgFile, JSON.stringify(cfg, null, 2));
    // setsid -f: the supervisor outlives this process (cluster:up) and its shell job. nsenter --net
    // (not `ip netns exec`, which remounts /sys and hides the cgroup mounts); unshare --mount with
    // slave propagation: every mount the node makes stays in its own mount namespace.
    const outFd = openSync(join(p.logs, "supervisor.out"), "a");
    const launcher = spawn(
      "setsid",
      [
        "-f",
        "nsenter",
        `--net=/run/netns/${layout.netns}`,
        "unshare",
        "--mount",
        "--propagation",
        "slave",
        "--",
        process.execPath,
        SUPERVISOR,
        cfgFile,
      ],
      { stdio: ["ignore", outFd, outFd] },
    );
    await new Promise((r) => launcher.on("close", r));
    mark("launched");
    log(`[node] ${layout.netns}: starting the control plane and the node (logs in ${p.logs})`);

    const failure = () => {
      const st = readStatus(p.status);
      if (st?.phase === "failed" || st?.phase === "stopped") {
        return `the node failed at step ${st.step}: ${st.error}\n--- supervisor.out\n${tail(join(p.logs, "supervisor.out"))}`;
      }
      return undefined;
    };
    const timeoutMs = opts.timeoutMs ?? 600_000;
    await waitFor(
      "the node's supervisor",
      () => readStatus(p.status)?.phase === "running",
      timeoutMs,
      failure,
    );
    mark("supervisorRunning");
    const kc = (args: string[]) =>
      spawnSync(clusterBinary, ["kubectl", `--kubeconfig=${p.kubeconfig}`, ...args], {
        encoding: "utf8",
        timeout: 30_000,
      });
    await waitFor(
      "Node Ready",
      () =>
        kc(["get", "node", NODE_NAME, "-o", 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'])
          .stdout === "True",
      timeoutMs,
      failure,
    );
    mark("nodeReady");
    await waitFor(
      "CoreDNS available",
      () =>
        kc(["-n", "kube-system", "get", "deploy", "coredns", "-o", "jsonpath={.status.availableReplicas}"])
          .stdout === "1",
      timeoutMs,
      failure,
    );
    mark("dnsReady");
    log(
      `[node] ${NODE_NAME} Ready ${((timings.nodeReady ?? 0) - (timings.built ?? 0)).toFixed(1)}s after launch; CoreDNS serving`,
    );
  } catch (err) {
    return fail(err);
  }

  let stopped: Promise<Leftovers> | undefined;
  return {
    id,
    dir,
    kubeconfig: p.kubeconfig,
    kubectl,
    nodeIP: NODE_NETWORK.nodeIP,
    nodeName: NODE_NAME,
    netns: layout.netns,
    containerdSocket: p.containerdSocket,
    ctr: join(dirs.containerd, "ctr"),
    timings,
    importImage: (archive: string) =>
      importImageInto({ ctr: join(dirs.containerd, "ctr"), containerdSocket: p.containerdSocket }, archive),
    execInNetns: (cmd, o = {}) => execInNetns(layout.netns, cmd, o),
    stop() {
      stopped ??= stopNodeClusterAt(dir, log);
      return stopped;
    },
  };
}

/** Imports an OCI archive into a node's containerd (namespace k8s.io), from the host. */
export function importImageInto(node: { ctr: string; containerdSocket: string }, archive: string): void {
  const r = spawnSync(
    node.ctr,
    [`--address=${node.containerdSocket}`, "-n", "k8s.io", "images", "import", archive],
    {
      encoding: "utf8",
      timeout: 300_000,
    },
  );
  if (r.status !== 0) throw new Error(`importing ${archive} into the node failed: ${r.stderr || r.error}`);
}

/** Runs a command in a node's network namespace (with the host's mount namespace and files). */
export function execInNetns(
  netns: string,
  cmd: string[],
  o: { timeoutMs?: number; input?: string } = {},
): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync("nsenter", [`--net=/run/netns/${netns}`, "--", ...cmd], {
    encoding: "utf8",
    timeout: o.timeoutMs ?? 60_000,
    input: o.input,
  });
  return { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? String(r.error ?? "") };
}

/**
 * Stops the node cluster whose work directory is `dir` and removes what it left: works whether its
 * supervisor is healthy, half-started, or was SIGKILLed. Returns what could not be removed.
 */
export async function stopNodeClusterAt(
  dir: string,
  log: (line: string) => void = console.error,
): Promise<Leftovers> {
  const started = Date.now();
  let record: NodeRecord;
  try {
    record = nodeRecordSchema.parse(JSON.parse(readFileSync(recordFile(dir), "utf8")));
  } catch {
    return { processes: [], cgroupDirs: [], netns: [], mounts: [] };
  }
  const p = nodePaths(record);
  const status = readStatus(p.status);
  // 1. The supervisor's own ordered teardown (pods first, controllers before the API server).
  if (status && alive(status.pid)) {
    try {
      process.kill(status.pid, "SIGTERM");
    } catch {
      // gone meanwhile
    }
    await waitFor("the node supervisor to stop", () => !alive(status.pid), 120_000).catch(() => {
      log(`[node] the supervisor (pid ${status.pid}) did not stop in 120s; killing what is left`);
    });
  }
  // 2. Whatever is left, by namespace and cgroup: also what a SIGKILLed supervisor left running.
  const refuse = [record.hostNs.mnt, record.hostNs.net];
  const strays = () => [
    ...processesInCgroupRoot(record.cgroupRoot),
    ...(status ? processesInNamespace("mnt", status.mntNs, { refuse }) : []),
    ...(status ? processesInNamespace("net", status.netNs, { refuse }) : []),
  ];
  await killAndWait(strays, 20_000);
  await removeCgroupTrees(record.cgroupRoot);
  if (record.bridgePid && alive(record.bridgePid)) {
    const pid = record.bridgePid;
    process.kill(pid, "SIGTERM");
    await waitFor("the API bridge to stop", () => !alive(pid), 10_000).catch(async () => {
      process.kill(pid, "SIGKILL");
      await waitFor("the API bridge to die", () => !alive(pid), 10_000).catch(() => {});
    });
  }
  try {
    deleteNetns(record.netns);
  } catch (err) {
    log(`[node] ${err instanceof Error ? err.message : String(err)}`);
  }
  rmSync(record.runDir, { recursive: true, force: true });
  const left = leftoversOf(record, status?.mntNs, status?.netNs);
  log(
    `[node] ${record.netns} stopped in ${((Date.now() - started) / 1000).toFixed(1)}s` +
      (isClean(left) ? "; nothing left" : `; LEFT: ${JSON.stringify(left)}`),
  );
  return left;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A zombie is not alive for our purposes.
    return !readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.startsWith("Z");
  } catch {
    return false;
  }
}

function leftoversOf(record: NodeRecord, mntNs?: string, netNs?: string): Leftovers {
  const refuse = [record.hostNs.mnt, record.hostNs.net];
  const processes = new Set([
    ...processesInCgroupRoot(record.cgroupRoot),
    ...(mntNs ? processesInNamespace("mnt", mntNs, { refuse }) : []),
    ...(netNs ? processesInNamespace("net", netNs, { refuse }) : []),
  ]);
  if (record.bridgePid && alive(record.bridgePid)) processes.add(record.bridgePid);
  return {
    processes: [...processes],
    cgroupDirs: cgroupDirs(record.cgroupRoot)
      .map((c) => c.path)
      .filter((d) => existsSync(d)),
    netns: netnsExists(record.netns) ? [record.netns] : [],
    mounts: mountsMatching([record.dir, record.runDir, `/run/netns/${record.netns}`]),
  };
}

/** What a node at `dir` left behind (for tests that assert a clean teardown). */
export function nodeLeftovers(dir: string, mntNs?: string, netNs?: string): Leftovers {
  const record = nodeRecordSchema.parse(JSON.parse(readFileSync(recordFile(dir), "utf8")));
  const st = readStatus(nodePaths(record).status);
  return leftoversOf(record, mntNs ?? st?.mntNs, netNs ?? st?.netNs);
}
