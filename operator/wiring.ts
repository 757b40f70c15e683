// How the operator's configuration reaches its parts: the controllers' settings and the identity
// services' dependencies. Pure mappings, kept out of main.ts (which runs on import) so a test can
// check that every flag the chart sets is handed on.
import type { KubeConfig } from "@kubernetes/client-node";
import type { Registry } from "prom-client";
import type { Logger } from "../lib/log.ts";
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
  parts: { kc: KubeConfig; log: Logger; registry: Registry; leader: LeaderState },
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
    // With --namespaces the identity services (trust bundles, Secret delivery) stay inside them too.
    namespaces: config.namespaces,
  };
}
