// What integration tests share: the cluster handed over by the global setup, a namespace of their
// own per test, and kubectl run as a user runs it.
import { randomBytes } from "node:crypto";
import * as k8s from "@kubernetes/client-node";
import { inject } from "vitest";
import { type CommandResult, run } from "./process.ts";

// Re-exported: integration tests get every command helper from here.
export { type CommandResult, freePort, run } from "./process.ts";

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

/** Runs the kubectl that matches the server (built into the local control plane binary). */
export function kubectl(
  args: string[],
  opts: { input?: string; timeoutMs?: number } = {},
): Promise<CommandResult> {
  const [bin, ...lead] = inject("kubectl");
  return run(bin!, [...lead, `--kubeconfig=${kubeconfigPath()}`, ...args], opts);
}
