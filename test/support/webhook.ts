// Registers the admission webhook's configurations against a cluster for an integration test or
// the demo: built by webhook/configurations.ts, applied with kubectl without a caBundle (the webhook
// publishes its own CA into both when it starts), deleted again by the returned `unregister`.
// No vitest here: the demo passes its own kubectl runner.
import { type WebhookConfigOptions, webhookConfigurations } from "../../webhook/configurations.ts";
import type { CommandResult } from "./process.ts";

/** Runs kubectl against the target cluster; must resolve (not throw) on a non-zero exit. */
export type KubectlRunner = (args: string[], opts?: { input?: string }) => Promise<CommandResult>;

export interface RegisteredWebhookConfigs extends ReturnType<typeof webhookConfigurations> {
  /** Deletes both configurations; ones already gone are fine. */
  unregister(): Promise<void>;
}

export async function registerWebhookConfigs(
  kubectl: KubectlRunner,
  opts: WebhookConfigOptions,
): Promise<RegisteredWebhookConfigs> {
  const { validating, mutating } = webhookConfigurations(opts);
  const reg = await kubectl(["apply", "-f", "-"], {
    input: `${JSON.stringify(validating)}\n${JSON.stringify(mutating)}`,
  });
  if (reg.code !== 0) {
    throw new Error(
      `registering webhook configurations ${opts.name}-*: ${(reg.stderr || reg.stdout).trim()}`,
    );
  }
  return {
    validating,
    mutating,
    unregister: async () => {
      await kubectl([
        "delete",
        "validatingwebhookconfiguration",
        validating.metadata.name,
        "--ignore-not-found",
      ]);
      await kubectl(["delete", "mutatingwebhookconfiguration", mutating.metadata.name, "--ignore-not-found"]);
    },
  };
}
