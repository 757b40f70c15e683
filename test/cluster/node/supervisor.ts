// The node supervisor: runs INSIDE the node's network namespace and a private mount namespace
// (started by node.ts as `setsid -f nsenter --net=/run/netns/NAME unshare --mount --propagation slave
// -- node supervisor.ts CONFIG`), starts the control plane and the node's components in order, and on
// SIGTERM takes them down in the order that leaves nothing behind. Progress and PIDs go to
// status.json, which the host side reads; logs go to DIR/logs/<component>.log.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import {
  appendFileSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { z } from "zod";
import {
  certKubeconfig,
  controllerManagerArgs,
  kubeletArgs,
  kubeProxyArgs,
  kubeRouterArgs,
  NODE_NAME,
  NODE_NETWORK,
  type NodeLayout,
  nodePaths,
  schedulerArgs,
} from "./config.ts";
import {
  cgroupDirs,
  killAndWait,
  processesInCgroupRoot,
  processesInNamespace,
  removeCgroupTrees,
} from "./sweep.ts";

export const supervisorConfigSchema = z.strictObject({
  layout: z.strictObject({
    id: z.string(),
    dir: z.string(),
    runDir: z.string(),
    netns: z.string(),
    cgroupRoot: z.string(),
  }),
  clusterBinary: z.string(),
  parts: z.strictObject({
    runc: z.string(),
    containerd: z.string(),
    "cni-plugins": z.string(),
    "kube-router": z.string(),
    coredns: z.string(),
    pause: z.string(),
  }),
  apiPort: z.number().int().min(1).max(65535),
  images: z.array(z.string()),
  /** The host's namespaces, which this supervisor must not be in and must never sweep. */
  hostNs: z.strictObject({ mnt: z.string(), net: z.string() }),
});
export type SupervisorConfig = z.infer<typeof supervisorConfigSchema>;

export const statusSchema = z.object({
  phase: z.enum(["starting", "running", "stopping", "stopped", "failed"]),
  step: z.string(),
  pid: z.number(),
  mntNs: z.string(),
  netNs: z.string(),
  pids: z.record(z.string(), z.number()),
  error: z.string().optional(),
  timings: z.record(z.string(), z.number()),
});
export type NodeStatus = z.infer<typeof statusSchema>;

const SYSCTLS: Record<string, string> = {
  // The kubelet checks these and would rewrite them machine-wide; it sees its values here only.
  "vm/overcommit_memory": "1",
  "kernel/panic": "10",
  "kernel/panic_on_oops": "1",
};

class Supervisor {
  private readonly p;
  private readonly children = new Map<string, ChildProcess>();
  readonly status: NodeStatus;
  private readonly started = Date.now();
  private stopping = false;
  private apiBridge?: net.Server;

  private readonly cfg: SupervisorConfig;

  constructor(cfg: SupervisorConfig) {
    this.cfg = cfg;
    this.p = nodePaths(cfg.layout as NodeLayout);
    this.status = {
      phase: "starting",
      step: "mounts",
      pid: process.pid,
      mntNs: readlinkSync("/proc/self/ns/mnt"),
      netNs: readlinkSync("/proc/self/ns/net"),
      pids: {},
      timings: {},
    };
  }

  private log(line: string): void {
    const text = `${new Date().toISOString()} ${line}\n`;
    appendFileSync(join(this.p.logs, "supervisor.log"), text);
  }

  write(): void {
    const tmp = `${this.p.status}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.status, null, 2));
    renameSync(tmp, this.p.status);
  }

  private step(name: string): void {
    this.status.step = name;
    this.status.timings[name] = (Date.now() - this.started) / 1000;
    this.log(`step ${name}`);
    this.write();
  }

  /** Private mounts: nothing here is visible outside this mount namespace. */
  private mounts(): void {
    const run = (args: string[]) => {
      const r = spawnSync(args[0] as string, args.slice(1), { encoding: "utf8" });
      if (r.status !== 0) throw new Error(`${args.join(" ")} failed: ${r.stderr}`);
    };
    // libcni keeps its cache under the hard-coded /var/lib/cni: give it a tmpfs of its own.
    mkdirSync("/var/lib/cni", { recursive: true });
    run(["mount", "-t", "tmpfs", "-o", "mode=0755,size=64m", "warden-cni", "/var/lib/cni"]);
    mkdirSync(this.p.sysctlDir, { recursive: true });
    for (const [key, value] of Object.entries(SYSCTLS)) {
      const file = join(this.p.sysctlDir, key.replace("/", "."));
      writeFileSync(file, `${value}\n`);
      run(["mount", "--bind", file, `/proc/sys/${key}`]);
    }
  }

  /** The kubelet's cgroupRoot must exist in every hierarchy before it starts. */
  private cgroups(): void {
    for (const dir of cgroupDirs(this.cfg.layout.cgroupRoot)) {
      mkdirSync(dir.path, { recursive: true });
      if (dir.controller === "cpuset") {
        // cgroup v1 cpuset children start empty; a process can join only once cpus/mems are set.
        for (const f of ["cpuset.cpus", "cpuset.mems"]) {
          writeFileSync(join(dir.path, f), readFileSync(join(dir.hierarchy, f)));
        }
      }
    }
  }

  private spawnChild(name: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
    const fd = openSync(join(this.p.logs, `${name}.log`), "a");
    const child = spawn(cmd, args, {
      stdio: ["ignore", fd, fd],
      env: { ...process.env, ...env },
    });
    closeSync(fd);
    this.children.set(name, child);
    if (child.pid) this.status.pids[name] = child.pid;
    child.on("exit", (code, signal) => {
      this.log(`${name} exited (code ${code}, signal ${signal})`);
      if (!this.stopping) {
        this.status.error = `${name} exited unexpectedly (code ${code}, signal ${signal}); see logs/${name}.log`;
        this.write();
      }
    });
    this.write();
    return child;
  }

  private async waitFor(
    what: string,
    check: () => boolean | Promise<boolean>,
    timeoutMs: number,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (this.status.error) throw new Error(`while waiting for ${what}: ${this.status.error}`);
      if (Date.now() > deadline) throw new Error(`${what} not ready after ${timeoutMs / 1000}s`);
      await sleep(200);
    }
  }

  // Asynchronous on purpose: this process also serves the host's API bridge, which must not stall.
  private kubectl(args: string[], timeoutMs = 60_000): Promise<Result> {
    return runAsync(
      this.cfg.clusterBinary,
      ["kubectl", `--kubeconfig=${this.p.kubeconfig}`, ...args],
      timeoutMs,
    );
  }

  async start(): Promise<void> {
    mkdirSync(this.p.logs, { recursive: true });
    // Refuse to run in the host's namespaces: every mount and every sweep assumes private ones.
    for (const kind of ["mnt", "net"] as const) {
      if (readlinkSync(`/proc/self/ns/${kind}`) === this.cfg.hostNs[kind]) {
        throw new Error(
          `the supervisor runs in the host's ${kind} namespace; start it through nsenter and unshare`,
        );
      }
    }
    this.write();
    this.mounts();
    this.cgroups();
    const bin = this.cfg.clusterBinary;
    const parts = this.cfg.parts;

    this.step("apiserver");
    this.spawnChild("control-plane", bin, [
      "up",
      `--dir=${this.p.controlPlaneDir}`,
      `--node-ip=${NODE_NETWORK.nodeIP}`,
      `--node-name=${NODE_NAME}`,
      `--api-port=${this.cfg.apiPort}`,
      "--no-controller-manager",
    ]);
    await this.waitFor("kube-apiserver", () => existsSync(this.p.kubeconfig), 240_000);

    // The host's bridge forwards 127.0.0.1:<apiPort> on the host to this socket (unix sockets
    // cross network namespaces), and this forwards it to the API server in the node's namespace.
    mkdirSync(this.cfg.layout.runDir, { recursive: true });
    rmSync(this.p.apiSocket, { force: true });
    this.apiBridge = net.createServer((client) => {
      const upstream = net.connect(this.cfg.apiPort, "127.0.0.1");
      client.pipe(upstream).pipe(client);
      client.on("error", () => upstream.destroy());
      upstream.on("error", () => client.destroy());
    });
    await new Promise<void>((res, rej) =>
      this.apiBridge?.once("error", rej).listen(this.p.apiSocket, () => res()),
    );

    writeFileSync(
      this.p.kubeletKubeconfig,
      certKubeconfig(
        `https://${NODE_NETWORK.nodeIP}:${this.cfg.apiPort}`,
        this.p.caCert,
        this.p.kubeletClientCert,
        this.p.kubeletClientKey,
        `system:node:${NODE_NAME}`,
      ),
    );

    this.step("controllers");
    this.spawnChild("kube-controller-manager", bin, [
      "kube-controller-manager",
      ...controllerManagerArgs(this.p.controlPlaneDir, this.p.kubeconfig),
    ]);
    this.spawnChild("kube-scheduler", bin, ["kube-scheduler", ...schedulerArgs(this.p.kubeconfig)]);

    this.step("containerd");
    const path = [parts.containerd, parts.runc, process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin"].join(
      ":",
    );
    this.spawnChild(
      "containerd",
      join(parts.containerd, "containerd"),
      [`--config=${this.p.containerdConfig}`],
      {
        PATH: path,
      },
    );
    const ctr = (args: string[]) =>
      runAsync(
        join(parts.containerd, "ctr"),
        [`--address=${this.p.containerdSocket}`, "-n", "k8s.io", ...args],
        300_000,
      );
    await this.waitFor(
      "containerd",
      async () => existsSync(this.p.containerdSocket) && (await ctr(["version"])).status === 0,
      60_000,
    );

    this.step("images");
    for (const archive of this.cfg.images) {
      const r = await ctr(["images", "import", archive]);
      if (r.status !== 0) throw new Error(`ctr images import ${archive} failed: ${r.stderr}`);
    }

    this.step("kubelet");
    this.spawnChild("kubelet", bin, ["kubelet", ...kubeletArgs(this.cfg.layout as NodeLayout)], {
      PATH: path,
    });
    this.spawnChild("kube-proxy", bin, ["kube-proxy", ...kubeProxyArgs(this.p.kubeconfig)]);
    await this.waitFor(
      "the Node object",
      async () => (await this.kubectl(["get", "node", NODE_NAME, "-o", "name"])).status === 0,
      180_000,
    );

    this.step("kube-router");
    this.spawnChild(
      "kube-router",
      join(parts["kube-router"], "kube-router"),
      kubeRouterArgs(this.p.kubeconfig),
    );

    this.step("coredns");
    const applied = await this.kubectl(["apply", "-f", this.p.corednsManifest]);
    if (applied.status !== 0) throw new Error(`applying CoreDNS failed: ${applied.stderr}`);

    this.status.phase = "running";
    this.step("running");
  }

  private async stopChild(name: string, graceMs: number): Promise<void> {
    const child = this.children.get(name);
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const done = new Promise<void>((r) => child.once("exit", () => r()));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await done;
    clearTimeout(timer);
  }

  /** Teardown order from shared/REAL-NODE.md: see the numbered comments. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.status.phase = "stopping";
    this.step("stopping");
    // 1. Nothing may recreate pods while they go: controllers and scheduler first.
    await Promise.all([
      this.stopChild("kube-controller-manager", 10_000),
      this.stopChild("kube-scheduler", 10_000),
    ]);
    // 2. Pods deleted through the kubelet, so it stops containers and releases their networks.
    const kubeletUp = this.children.get("kubelet")?.exitCode === null;
    if (kubeletUp && existsSync(this.p.kubeconfig)) {
      const r = await this.kubectl([
        "delete",
        "pods",
        "--all",
        "--all-namespaces",
        "--grace-period=1",
        "--wait=true",
        "--timeout=40s",
      ]);
      this.log(`delete pods: ${r.status} ${r.stdout.trim()} ${r.stderr.trim()}`);
    }
    // 3. The node's agents, then the runtime.
    await Promise.all(["kube-router", "kube-proxy", "kubelet"].map((n) => this.stopChild(n, 10_000)));
    await this.stopChild("containerd", 10_000);
    // 4. Strays: containers in the node's cgroups, then shims (and anything else) in this mount
    //    namespace, by PID. The control plane stays until the node's clients are gone.
    const cp = this.children.get("control-plane")?.pid;
    await killAndWait(() => processesInCgroupRoot(this.cfg.layout.cgroupRoot), 10_000);
    await killAndWait(
      () =>
        processesInNamespace("mnt", this.status.mntNs, {
          allowOwn: true,
          refuse: [this.cfg.hostNs.mnt],
        }).filter((pid) => pid !== process.pid && pid !== cp),
      10_000,
    );
    // 5. The API server last: no controller holds a watch open, so it shuts down at once.
    await this.stopChild("control-plane", 30_000);
    this.apiBridge?.close();
    // 6. The cgroup trees, deepest first.
    const left = await removeCgroupTrees(this.cfg.layout.cgroupRoot);
    if (left.length) this.log(`cgroup dirs left: ${left.join(", ")}`);
    this.status.phase = "stopped";
    this.step("stopped");
  }
}

interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
}

function runAsync(cmd: string, args: string[], timeoutMs: number): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr?.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (err) => {
      clearTimeout(timer);
      resolve({ status: null, stdout, stderr: String(err) });
    });
    child.on("close", (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function main(): Promise<void> {
  const file = process.argv[2];
  if (!file) throw new Error("usage: supervisor.ts CONFIG.json");
  const cfg = supervisorConfigSchema.parse(JSON.parse(readFileSync(file, "utf8")));
  const sup = new Supervisor(cfg);
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    void sup.stop().then(() => process.exit(0));
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  process.on("SIGHUP", stop);
  try {
    await sup.start();
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    // Leave nothing behind: a failed start tears down what it started, then reports "failed".
    await sup.stop().catch(() => {});
    sup.status.phase = "failed";
    sup.status.error = message;
    sup.write();
    process.exit(1);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  void main();
}

// For readers of status.json on the host.
export function readStatus(file: string): NodeStatus | undefined {
  try {
    return statusSchema.parse(JSON.parse(readFileSync(file, "utf8")));
  } catch {
    return undefined;
  }
}
