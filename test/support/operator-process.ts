// The operator as a real child process, for the integration tests and the demo alike: the shipped
// RBAC applied under unique names, a kubeconfig that authenticates as the operator's ServiceAccount
// (TokenRequest API), and the operator run with its logs and metrics at hand. No vitest imports
// here: `npm run demo` loads this module outside a test run.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import * as k8s from "@kubernetes/client-node";
import YAML from "yaml";

export const ROOT = resolve(import.meta.dirname, "..", "..");
const NODE = join(ROOT, "node_modules", ".bin", "node");

export interface OperatorRBAC {
  namespace: string;
  serviceAccount: string;
  clusterRole: string;
  enclaveClusterRole: string;
  kubeconfig: string;
  cleanup(): Promise<void>;
}

/**
 * The operator's manifests under manifests/rbac, renamed for this test (cluster-scoped names get
 * the suffix). Only operator-rbac.yaml: the other files there (e.g. the webhook's) bind other
 * ServiceAccounts and are not the operator's to install.
 */
export function renderRBAC(suffix: string, namespace: string): k8s.KubernetesObject[] {
  const dir = join(ROOT, "manifests", "rbac");
  const docs = readdirSync(dir)
    .filter((f) => f === "operator-rbac.yaml")
    .flatMap((f) =>
      YAML.parseAllDocuments(readFileSync(join(dir, f), "utf8")).map(
        (d) => d.toJSON() as k8s.KubernetesObject,
      ),
    )
    .filter(Boolean);
  const text = JSON.stringify(docs)
    .replaceAll('"agent-warden-system"', JSON.stringify(namespace))
    .replaceAll('"agent-warden-enclave"', JSON.stringify(`agent-warden-enclave-${suffix}`));
  const out = JSON.parse(text) as (k8s.KubernetesObject & { roleRef?: { kind: string; name: string } })[];
  for (const o of out) {
    if (
      (o.kind === "ClusterRole" || o.kind === "ClusterRoleBinding") &&
      o.metadata?.name === "agent-warden-operator"
    ) {
      o.metadata.name = `agent-warden-operator-${suffix}`;
    }
    if (o.kind === "ClusterRoleBinding" && o.roleRef) o.roleRef.name = `agent-warden-operator-${suffix}`;
  }
  return out;
}

/** Applies the shipped RBAC into `namespace` and returns a kubeconfig for the operator's SA. */
export async function installOperatorRBAC(
  adminKubeconfig: string,
  kubectl: string[],
  namespace: string,
  suffix: string,
): Promise<OperatorRBAC> {
  const docs = renderRBAC(suffix, namespace);
  const [bin, ...lead] = kubectl;
  const applied = spawnSync(
    bin!,
    [...lead, `--kubeconfig=${adminKubeconfig}`, "apply", "--server-side", "-f", "-"],
    { input: docs.map((d) => JSON.stringify(d)).join("\n"), encoding: "utf8", timeout: 120_000 },
  );
  if (applied.status !== 0) throw new Error(`applying RBAC failed: ${applied.stderr || applied.error}`);
  const admin = new k8s.KubeConfig();
  admin.loadFromFile(adminKubeconfig);
  const core = admin.makeApiClient(k8s.CoreV1Api);
  const token = await core.createNamespacedServiceAccountToken({
    name: "agent-warden-operator",
    namespace,
    body: { spec: { audiences: [], expirationSeconds: 7200 } },
  });
  const cluster = admin.getCurrentCluster()!;
  const kubeconfig = join(mkdtempSync(join(tmpdir(), "warden-op-")), "kubeconfig");
  writeFileSync(
    kubeconfig,
    YAML.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [
        { name: "c", cluster: { server: cluster.server, "certificate-authority-data": caData(admin) } },
      ],
      users: [{ name: "operator", user: { token: token.status?.token } }],
      contexts: [{ name: "c", context: { cluster: "c", user: "operator", namespace } }],
      "current-context": "c",
    }),
    { mode: 0o600 },
  );
  const rbac = admin.makeApiClient(k8s.RbacAuthorizationV1Api);
  return {
    namespace,
    serviceAccount: "agent-warden-operator",
    clusterRole: `agent-warden-operator-${suffix}`,
    enclaveClusterRole: `agent-warden-enclave-${suffix}`,
    kubeconfig,
    cleanup: async () => {
      await rbac.deleteClusterRoleBinding({ name: `agent-warden-operator-${suffix}` }).catch(() => undefined);
      await rbac.deleteClusterRole({ name: `agent-warden-operator-${suffix}` }).catch(() => undefined);
      await rbac.deleteClusterRole({ name: `agent-warden-enclave-${suffix}` }).catch(() => undefined);
      rmSync(dirname(kubeconfig), { recursive: true, force: true });
    },
  };
}

function caData(kc: k8s.KubeConfig): string {
  const c = kc.getCurrentCluster()!;
  if (c.caData) return c.caData;
  if (c.caFile) return readFileSync(c.caFile).toString("base64");
  throw new Error("the admin kubeconfig has no CA");
}

export interface RunningOperator {
  process: ChildProcess;
  logs: string[];
  probePort(): Promise<number>;
  metrics(): Promise<string>;
  /** Sum of a counter/gauge's samples matching every given label. */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function startOperator(opts: {
  kubeconfig: string;
  namespace: string;
  enclaveClusterRole: string;
  watchNamespaces: string[];
  args?: string[];
  instance?: string;
}): RunningOperator {
  const args = [
    join(ROOT, "operator", "main.ts"),
    `--kubeconfig=${opts.kubeconfig}`,
    `--namespace=${opts.namespace}`,
    `--enclave-cluster-role=${opts.enclaveClusterRole}`,
    `--namespaces=${opts.watchNamespaces.join(",")}`,
    "--probe-host=127.0.0.1",
    "--probe-port=0",
    "--issuer-host=127.0.0.1",
    "--issuer-port=0",
    ...(opts.instance ? [`--instance-id=${opts.instance}`] : []),
    ...(opts.args ?? []),
  ];
  const child = spawn(NODE, args, {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, KUBECONFIG: "" },
  });
  const logs: string[] = [];
  let buf = "";
  const onData = (d: Buffer) => {
    buf += d.toString();
    const lines = buf.split("\n");
    buf = lines.pop() ?? "";
    logs.push(...lines);
    if (process.env.WARDEN_TEST_OPERATOR_LOGS)
      for (const l of lines) process.stderr.write(`[op ${opts.instance ?? ""}] ${l}\n`);
  };
  child.stdout.on("data", onData);
  child.stderr.on("data", onData);
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  const probePort = async () => {
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      for (const l of logs) {
        if (l.includes("probe server listening")) return (JSON.parse(l) as { port: number }).port;
      }
      if (child.exitCode !== null)
        throw new Error(`operator exited (${child.exitCode}):\n${logs.slice(-20).join("\n")}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`operator did not start its probe server:\n${logs.slice(-20).join("\n")}`);
  };
  const metrics = async () => (await fetch(`http://127.0.0.1:${await probePort()}/metrics`)).text();
  return {
    process: child,
    logs,
    probePort,
    metrics,
    metric: async (name, labels = {}) => sumMetric(await metrics(), name, labels),
    exited,
    stop: async (signal = "SIGTERM") => {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      return exited;
    },
  };
}

export function sumMetric(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const l = m[2] ?? "";
    if (Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`))) sum += Number(m[3]);
  }
  return sum;
}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 60_000,
  everyMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      lastErr = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? `: ${String(lastErr)}` : ""}`,
  );
}
