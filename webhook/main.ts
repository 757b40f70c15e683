#!/usr/bin/env node
// The webhook process: configuration from the environment (validated), its own CA and serving
// certificate (rotated, caBundle kept current), the HTTPS server, graceful shutdown.
import { Registry } from "prom-client";
import * as z from "zod";
import { parseOrThrow } from "../lib/errors.ts";
import { loadKubeConfig } from "../lib/kube.ts";
import { createLogger, type Logger } from "../lib/log.ts";
import { ApiContextSource } from "./api-context.ts";
import { CertKeeper, caBundlePublisher } from "./certs.ts";
import type { ContextSource } from "./context.ts";
import { engineSettings } from "./evaluate.ts";
import { startWebhookServer, type WebhookServer } from "./server.ts";
import { type SidecarConfig, sidecarConfigFromEnv } from "./sidecar-config.ts";

const list = z
  .string()
  .default("")
  .transform((s) =>
    s
      .split(",")
      .map((x) => x.trim())
      .filter(Boolean),
  );

export const webhookEnv = z.object({
  WARDEN_WEBHOOK_HOST: z.string().default("127.0.0.1"),
  WARDEN_WEBHOOK_PORT: z.coerce.number().int().min(0).max(65535).default(9443),
  /** Plain-HTTP port for /healthz, /readyz, /metrics (also served on the HTTPS port); unset: none. */
  WARDEN_WEBHOOK_PROBE_PORT: z.coerce
    .number({ message: "WARDEN_WEBHOOK_PROBE_PORT must be a port number such as 8080" })
    .int()
    .min(0)
    .max(65535)
    .optional(),
  WARDEN_OPERATOR_NAMESPACE: z.string().default("agent-warden"),
  /** Names of the configurations whose caBundle we keep current (empty: none, e.g. local runs). */
  WARDEN_WEBHOOK_VALIDATING_CONFIGS: list,
  WARDEN_WEBHOOK_MUTATING_CONFIGS: list,
  WARDEN_WEBHOOK_DNS_NAMES: list,
  WARDEN_WEBHOOK_IPS: z
    .string()
    .default("127.0.0.1")
    .transform((s) =>
      s
        .split(",")
        .map((x) => x.trim())
        .filter(Boolean),
    ),
  WARDEN_WEBHOOK_CA_TTL: z.coerce
    .number()
    .positive()
    .default(7 * 24 * 3600 * 1000),
  WARDEN_WEBHOOK_CERT_TTL: z.coerce
    .number()
    .positive()
    .default(24 * 3600 * 1000),
  WARDEN_WEBHOOK_CA_PROPAGATION_MS: z.coerce.number().int().min(0).default(10_000),
  WARDEN_WEBHOOK_CACHE_TTL_MS: z.coerce.number().int().min(0).default(2000),
  WARDEN_WEBHOOK_BODY_LIMIT: z.coerce
    .number()
    .int()
    .min(1024)
    .default(8 * 1024 * 1024),
  /** Template hashes of earlier gateway versions still accepted on new pods (comma-separated). */
  WARDEN_GATEWAY_EXTRA_HASHES: list,
  /** Writes the PEM of this replica's CA here once it exists (tests and local runs). */
  WARDEN_WEBHOOK_CA_FILE: z.string().optional(),
});
export type WebhookEnv = z.infer<typeof webhookEnv>;

export interface RunningWebhook {
  server: WebhookServer;
  certs: CertKeeper;
  stop(): Promise<void>;
}

export async function runWebhook(opts: {
  env: WebhookEnv;
  sidecar: SidecarConfig;
  source: ContextSource;
  log: Logger;
  publishCABundle?: (caPem: string) => Promise<void>;
  registry?: Registry;
}): Promise<RunningWebhook> {
  const { env, log } = opts;
  const registry = opts.registry ?? new Registry();
  let server: WebhookServer | undefined;
  const certs = new CertKeeper({
    dnsNames: env.WARDEN_WEBHOOK_DNS_NAMES,
    ipAddresses: env.WARDEN_WEBHOOK_IPS,
    caTTLms: env.WARDEN_WEBHOOK_CA_TTL,
    certTTLms: env.WARDEN_WEBHOOK_CERT_TTL,
    propagationDelayMs: env.WARDEN_WEBHOOK_CA_PROPAGATION_MS,
    log,
    ...(opts.publishCABundle ? { publishCABundle: opts.publishCABundle } : {}),
    onRotate: (tls) => server?.setCertificate(tls),
  });
  const tls = await certs.start();
  if (env.WARDEN_WEBHOOK_CA_FILE) {
    const { writeFileSync } = await import("node:fs");
    writeFileSync(env.WARDEN_WEBHOOK_CA_FILE, certs.caPem);
  }
  server = await startWebhookServer({
    host: env.WARDEN_WEBHOOK_HOST,
    port: env.WARDEN_WEBHOOK_PORT,
    tls,
    source: opts.source,
    sidecar: opts.sidecar,
    settings: {
      ...engineSettings(opts.sidecar, env.WARDEN_GATEWAY_EXTRA_HASHES),
      operatorNamespace: env.WARDEN_OPERATOR_NAMESPACE,
    },
    registry,
    log,
    bodyLimitBytes: env.WARDEN_WEBHOOK_BODY_LIMIT,
    ...(env.WARDEN_WEBHOOK_PROBE_PORT !== undefined ? { probePort: env.WARDEN_WEBHOOK_PROBE_PORT } : {}),
  });
  server.setReady(true);
  log.info("webhook listening", { url: server.url });
  const s = server;
  return {
    server: s,
    certs,
    stop: async () => {
      s.setReady(false);
      certs.stop();
      await s.close();
    },
  };
}

async function main(): Promise<void> {
  const log = createLogger("webhook");
  const env = parseOrThrow(webhookEnv, process.env, "webhook environment");
  const sidecar = sidecarConfigFromEnv(process.env);
  const kc = loadKubeConfig();
  const names = {
    validating: env.WARDEN_WEBHOOK_VALIDATING_CONFIGS,
    mutating: env.WARDEN_WEBHOOK_MUTATING_CONFIGS,
  };
  const publish =
    names.validating.length + names.mutating.length > 0 ? caBundlePublisher(kc, names, log) : undefined;
  const running = await runWebhook({
    env,
    sidecar,
    source: new ApiContextSource(kc, { ttlMs: env.WARDEN_WEBHOOK_CACHE_TTL_MS }),
    log,
    ...(publish ? { publishCABundle: publish } : {}),
  });
  // Print the URL on stdout once ready: the tests (and scripts) wait for this line.
  process.stdout.write(`${JSON.stringify({ url: running.server.url })}\n`);
  const shutdown = () => {
    log.info("shutting down");
    void running.stop().then(() => process.exit(0));
  };
  process.once("SIGTERM", shutdown);
  process.once("SIGINT", shutdown);
}

if (process.argv[1] && import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err: unknown) => {
    process.stderr.write(`webhook: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
