// How the operator's configuration reaches its parts: the controllers' settings and the identity
// services' dependencies. Pure mappings, kept out of main.ts (which runs on import) so a test can
// check that every flag the chart sets is handed on.
import type { KubeConfig } from "@kubernetes/client-node";
import type { Registry } from "prom-client";
import type { Logger } from "../lib/log.ts";
import type { EngineSettings } from "../webhook/context.ts";
import { engineSettings } from "../webhook/evaluate.ts";
import { sidecarConfigFromEnv } from "../webhook/sidecar-config.ts";
import type { OperatorConfig } from "./config.ts";
import type { ControllerSettings } from "./controllers/context.ts";
import type { IdentityServicesDeps, LeaderState } from "./identity/contract.ts";

export function controllerSettings(config: OperatorConfig): ControllerSettings {
  return {
    trustDomain: config["trust-domain"],
    operatorNamespace: config.namespace,
    serviceAccount: config["service-account"],
    enclaveClusterRole: config["enclave-cluster-role"],
    namespaces: config.namespaces,
    svidMaxTTL: config["svid-max-ttl"],
    network: {
      issuer: {
        namespace: config.namespace,
        podLabels: config["issuer-pod-labels"],
        port: config["issuer-port"],
      },
      dns: { namespace: config["dns-namespace"], podLabels: config["dns-pod-labels"] },
    },
  };
}

export function identityDeps(
  config: OperatorConfig,
  parts: { kc: KubeConfig; log: Logger; registry: Registry; leader: LeaderState; admission: EngineSettings },
): IdentityServicesDeps {
  return {
    ...parts,
    operatorNamespace: config.namespace,
    trustDomain: config["trust-domain"],
    issuer: {
      host: config["issuer-host"],
      port: config["issuer-port"],
      ttlOverride: config["svid-ttl-override"],
      servingDNSNames: config["issuer-dns-names"],
    },
    svid: { maxTTL: config["svid-max-ttl"], renewAt: config["svid-renew-at"] },
    bundleResync: `${config["bundle-resync"]}ms`,
    // With --namespaces the identity services (trust bundles, Secret delivery) stay inside them too.
    namespaces: config.namespaces,
  };
}

/** The variables admissionSettings reads (the chart sets them on the operator for the issuer). */
export const ADMISSION_ENV = [
  "WARDEN_GATEWAY_IMAGE",
  "WARDEN_GATEWAY_PULL_POLICY",
  "WARDEN_ISSUER_URL",
  "WARDEN_TRUST_DOMAIN",
  "WARDEN_GATEWAY_CPU_REQUEST",
  "WARDEN_GATEWAY_MEMORY_REQUEST",
  "WARDEN_GATEWAY_CPU_LIMIT",
  "WARDEN_GATEWAY_MEMORY_LIMIT",
  "WARDEN_SVID_RENEW_AT",
  "WARDEN_GATEWAY_APPROVALS_SECRET",
  "WARDEN_GATEWAY_AUDIT_REDACT",
  "WARDEN_GATEWAY_EXTRA_HASHES",
] as const;

/**
 * What the issuer compares pods with: the sidecar the webhook injects, read from the same
 * WARDEN_GATEWAY_* variables as the webhook (the chart sets them on both Deployments), and the
 * template hashes still accepted after an upgrade (WARDEN_GATEWAY_EXTRA_HASHES, comma-separated).
 */
export function admissionSettings(env: NodeJS.ProcessEnv): EngineSettings {
  const extra = (env.WARDEN_GATEWAY_EXTRA_HASHES ?? "")
    .split(",")
    .map((h) => h.trim())
    .filter(Boolean);
  return engineSettings(sidecarConfigFromEnv(env), extra);
}
