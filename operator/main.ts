// The operator's entrypoint: config → clients (rate-limited) → informers → leader election →
// controllers on the leader; identity services (the issuer) on every replica; probes and metrics;
// graceful shutdown on SIGTERM (drain the queues, release the Lease, stop the issuer).
import * as k8s from "@kubernetes/client-node";
import { ValidationError } from "../lib/errors.ts";
import { loadKubeConfig } from "../lib/kube.ts";
import { createLogger } from "../lib/log.ts";
import { TokenBucket } from "../lib/token-bucket.ts";
import { loadConfig, type OperatorConfig } from "./config.ts";
import { createCaches } from "./controllers/caches.ts";
import type { ControllerContext } from "./controllers/context.ts";
import { ControllerManager } from "./controllers/manager.ts";
import { createSecretReader, createWriter } from "./controllers/writer.ts";
import type { IdentityServices, StartIdentityServices } from "./identity/contract.ts";
import { rateLimitedClients } from "./runtime/client.ts";
import { kubeLeaseStore, LeaderElector } from "./runtime/leader.ts";
import { createMetrics } from "./runtime/metrics.ts";
import { startProbeServer } from "./runtime/server.ts";
import { admissionSettings, controllerSettings, identityDeps } from "./wiring.ts";

const log = createLogger("operator");

/**
 * The operator's own ServiceAccount as an owner reference: what the operator creates in its
 * namespace at run time (the leader Lease, a self-managed CA Secret) then goes when the
 * installation does (`helm uninstall` deletes the ServiceAccount, the garbage collector the rest).
 * Not blocking deletion, so no extra RBAC is needed. Undefined (and logged) when it cannot be read.
 */
async function installationOwner(
  core: k8s.CoreV1Api,
  namespace: string,
  name: string,
): Promise<k8s.V1OwnerReference | undefined> {
  try {
    const sa = await core.readNamespacedServiceAccount({ name, namespace });
    const uid = sa.metadata?.uid;
    if (!uid) return undefined;
    return { apiVersion: "v1", kind: "ServiceAccount", name, uid, blockOwnerDeletion: false };
  } catch (err) {
    log.warn("cannot read the operator's ServiceAccount: its Lease and CA Secret will outlive an uninstall", {
      serviceAccount: `${namespace}/${name}`,
      err: (err as Error).message,
    });
    return undefined;
  }
}

async function main(config: OperatorConfig): Promise<void> {
  const kc = loadKubeConfig(config.kubeconfig);
  const metrics = createMetrics();
  const limiter = new TokenBucket(config["kube-api-qps"], config["kube-api-burst"]);
  const clients = rateLimitedClients(kc, limiter, metrics);
  const caches = createCaches(kc, clients, {
    log,
    metrics,
    resyncMs: config["resync-period"],
    namespaces: config.namespaces,
  });

  const owner = await installationOwner(
    clients.make(k8s.CoreV1Api),
    config.namespace,
    config["service-account"],
  );
  const elector = new LeaderElector({
    identity: config["instance-id"],
    store: kubeLeaseStore(
      clients.make(k8s.CoordinationV1Api),
      config["leader-election-namespace"] ?? config.namespace,
      config["leader-election-id"],
      // Only in its own namespace: an owner must live in the namespace of its dependents.
      (config["leader-election-namespace"] ?? config.namespace) === config.namespace ? owner : undefined,
    ),
    log: log.child({ subsystem: "leader-election" }),
    leaseDurationMs: config["lease-duration"],
    renewDeadlineMs: config["renew-deadline"],
    retryPeriodMs: config["retry-period"],
  });
  const leaderState = config["leader-elect"]
    ? elector
    : { isLeader: () => true, onChange: (_cb: (leader: boolean) => void) => {} };

  let identity: IdentityServices | undefined;
  const probe = await startProbeServer({
    host: config["probe-host"],
    port: config["probe-port"],
    registry: metrics.registry,
    checks: {
      informers: () => {
        const waiting = caches.all().filter((i) => !i.synced());
        if (waiting.length > 0)
          return {
            ok: false,
            detail: `waiting for the first LIST of ${waiting.map((i) => i.resource).join(", ")}`,
          };
        // A broken watch leaves the cache stale until it re-lists: not ready until then.
        const broken = caches.all().filter((i) => !i.healthy());
        return {
          ok: broken.length === 0,
          detail: `watch broken, re-listing: ${broken.map((i) => i.resource).join(", ")}`,
        };
      },
      identity: () => ({
        ok: !config.identity || identity !== undefined,
        detail: "identity services starting",
      }),
    },
  });
  log.info("probe server listening", { host: config["probe-host"], port: probe.port });

  const ctx: ControllerContext = {
    caches,
    writer: createWriter(clients, log),
    secrets: createSecretReader(clients),
    log,
    metrics,
    now: () => new Date(),
    settings: controllerSettings(config),
    // The identity services start after this context; until then there is no bundle to publish.
    enclaveNamespaceLabelled: () => identity?.publishBundleNow(),
  };
  const manager = new ControllerManager(ctx, { workers: { AgentIdentity: config["identity-workers"] } });

  let shuttingDown = false;
  const shutdown = async (code: number, why: string) => {
    if (shuttingDown) return;
    shuttingDown = true;
    log.info("shutting down", { why });
    const hardStop = setTimeout(() => process.exit(code || 1), 20_000);
    hardStop.unref();
    await manager.stop().catch(() => undefined);
    metrics.leader.set(0);
    if (config["leader-elect"]) await elector.stop();
    await identity
      ?.stop()
      .catch((err: unknown) => log.warn("identity services did not stop cleanly", { err }));
    await Promise.all(caches.all().map((i) => i.stop()));
    await probe.close();
    log.info("stopped", { code });
    process.exit(code);
  };
  process.on("SIGTERM", () => void shutdown(0, "SIGTERM"));
  process.on("SIGINT", () => void shutdown(0, "SIGINT"));

  if (config.identity) {
    // The identity services (operator/identity/index.ts, contract: ./identity/contract.ts) load only
    // when enabled, so `--identity=off` runs without them. A literal specifier, so the image bundler
    // sees and includes the module.
    const mod: { startIdentityServices: StartIdentityServices } = await import("./identity/index.ts");
    identity = await mod.startIdentityServices({
      ...identityDeps(config, {
        kc,
        log: log.child({ subsystem: "identity" }),
        registry: metrics.registry,
        leader: leaderState,
        admission: admissionSettings(process.env),
      }),
      ...(owner ? { installationOwner: owner } : {}),
    });
    log.info("identity services started", { issuerURL: identity.issuerURL });
  } else {
    log.warn("identity services are off (--identity=off): no issuer, no CA, no SVID Secrets");
  }

  // Informers run on every replica, so a standby that takes over starts from a warm cache.
  await Promise.all(caches.all().map((i) => i.start()));
  log.info("informers synced");

  // Leadership changes are serialised: a new term starts only after the previous one drained.
  let transition: Promise<void> = Promise.resolve();
  const lead = (leader: boolean) => {
    transition = transition.then(async () => {
      if (shuttingDown) return;
      if (leader) {
        log.info("leading: starting controllers", { instance: config["instance-id"] });
        manager.start();
        metrics.leader.set(1);
      } else {
        // Could not renew within the renew deadline (e.g. the API server is down): stop writing at
        // once, keep the informers and keep campaigning. The Lease still names us while nobody
        // could take it, so we lead again as soon as a renewal succeeds.
        metrics.leader.set(0);
        log.error("lost the leader Lease: controllers stopped until it is regained");
        await manager.stop();
      }
    });
  };
  if (config["leader-elect"]) {
    elector.onChange(lead);
    elector.start();
  } else lead(true);
}

let config: OperatorConfig;
try {
  config = loadConfig(process.argv.slice(2));
} catch (err) {
  if (err instanceof ValidationError) {
    process.stderr.write(`agent-warden operator: ${err.message}\n`);
    process.exit(2);
  }
  throw err;
}
main(config).catch((err: unknown) => {
  if (err instanceof ValidationError) {
    process.stderr.write(`agent-warden operator: ${err.message}\n`);
    process.exit(2);
  }
  log.error("operator failed to start", { err: err instanceof Error ? err : new Error(String(err)) });
  process.exit(1);
});
