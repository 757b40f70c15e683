// The seam between the operator runtime (operator/main.ts) and the identity services (CA, issuer,
// trust-bundle publisher, Secret delivery). The issuer runs on every replica (signing needs no
// leader); CA rotation, bundle publishing and Secret delivery run on the leader only.
import type { KubeConfig } from "@kubernetes/client-node";
import type { Registry } from "prom-client";
import type { Logger } from "../../lib/log.ts";

export interface LeaderState {
  isLeader(): boolean;
  /** Called on every change; the identity services start/stop leader-only work from it. */
  onChange(cb: (leader: boolean) => void): void;
}

export interface IdentityServicesDeps {
  kc: KubeConfig;
  log: Logger;
  registry: Registry;
  /** Namespace the operator runs in; the CA Secret lives here. */
  operatorNamespace: string;
  trustDomain: string;
  issuer: {
    host: string;
    port: number;
    /** Test-only cap on SVID TTLs (e.g. "30s"), below the API's 5m minimum. */
    ttlOverride?: string;
  };
  leader: LeaderState;
}

export interface IdentityServices {
  /** https URL of this replica's issuer. */
  issuerURL: string;
  /** PEM of the CA(s) that verify the issuer's serving certificate (the trust bundle). */
  bundlePem(): string;
  /** Expiry of the current signing CA, for metrics. */
  caNotAfter(): Date | undefined;
  stop(): Promise<void>;
}

export type StartIdentityServices = (deps: IdentityServicesDeps) => Promise<IdentityServices>;
