// What integration tests share: the cluster handed over by the global setup, a namespace of their
// own per test, and kubectl run as a user runs it.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as k8s from "@kubernetes/client-node";
import { inject } from "vitest";

export function kubeconfigPath(): string {
  return inject("kubeconfig");
}

export function kubeConfig(): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfigPath());
  return kc;
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString("hex")}`;
}

/** Creates a fresh namespace; the returned function deletes it (without waiting). */
export async function createNamespace(
  prefix: string,
  labels: Record<string, string> = {},
): Promise<{ name: string; cleanup: () => Promise<void> }> {
  const core = kubeConfig().makeApiClient(k8s.CoreV1Api);
  const name = uniqueName(prefix);
  await core.createNamespace({ body: { metadata: { name, labels } } });
  return {
    name,
    cleanup: async () => {
      await core.deleteNamespace({ name }).catch(() => undefined);
    },
  };
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the kubectl that matches the server (built into the local control plane binary). */
export function kubectl(
  args: string[],
  opts: { input?: string; timeoutMs?: number } = {},
): Promise<CommandResult> {
  const [bin, ...lead] = inject("kubectl");
  return run(bin!, [...lead, `--kubeconfig=${kubeconfigPath()}`, ...args], opts);
}

export function run(
  bin: string,
  args: string[],
  opts: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 60_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, stdout, stderr });
    });
    child.stdin.end(opts.input ?? "");
  });
}
