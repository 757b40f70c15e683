// What every reconciler gets: the caches to read, the writer to write, and the settings.
import type { Logger } from "../../lib/log.ts";
import type { OperatorMetrics } from "../runtime/metrics.ts";
import type { Caches } from "./caches.ts";
import type { NetworkSettings } from "./netpol.ts";
import type { SecretReader, Writer } from "./writer.ts";

export interface ControllerSettings {
  trustDomain: string;
  operatorNamespace: string;
  /** The operator's own ServiceAccount, bound to the enclave role in each enclave namespace. */
  serviceAccount: string;
  /** ClusterRole with the operator's write rights inside enclave namespaces; "" = do not bind. */
  enclaveClusterRole: string;
  /** Only these namespaces are reconciled (empty = all). */
  namespaces: ReadonlySet<string>;
  /** Cluster-wide SVID TTL cap (--svid-max-ttl), applied after the enclave's; absent = none. */
  svidMaxTTL?: string;
  /** Where the issuer and cluster DNS run, for the enclave NetworkPolicies. */
  network: NetworkSettings;
}

export interface ControllerContext {
  caches: Caches;
  writer: Writer;
  /** GET of named Secrets (no cache: the operator cannot list or watch them). */
  secrets: SecretReader;
  log: Logger;
  metrics: OperatorMetrics;
  settings: ControllerSettings;
  now(): Date;
  /** A namespace was labelled as an enclave's (its trust bundle is published at once). */
  enclaveNamespaceLabelled?(namespace: string): void;
}

export const ROLE_BINDING_NAME = "agent-warden-operator";
