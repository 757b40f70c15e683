// The seam between the operator runtime (operator/main.ts) and the identity services (CA, issuer,
// trust-bundle publisher, Secret delivery). The issuer runs on every replica (signing needs no
// leader); CA rotation, bundle publishing and Secret delivery run on the leader only.
import type { KubeConfig } from "@kubernetes/client-node";
import type { Registry } from "prom-client";
import type { Logger } from "../../lib/log.ts";
import type { EngineSettings } from "../../webhook/context.ts";

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
  /**
   * Owner of what the operator creates in its own namespace (its ServiceAccount): a self-managed CA
   * Secret then goes with the installation (`helm uninstall`). Absent when it cannot be read.
   */
  installationOwner?: import("@kubernetes/client-node").V1OwnerReference;
  trustDomain: string;
  issuer: {
    host: string;
    port: number;
    /** Test-only cap on SVID TTLs (e.g. "30s"), below the API's 5m minimum. */
    ttlOverride?: string;
    /** Extra DNS names for the serving certificate (e.g. warden-issuer.<ns>.svc). */
    servingDNSNames?: string[];
    /** Per-identity issuance rate limit (token bucket). Default 1/s, burst 10. */
    rateLimit?: { perSecond: number; burst: number };
    /** Minimum time between status.lastIssued writes for one identity (Go duration). Default 10m. */
    statusInterval?: string;
  };
  /** CA options; everything optional. Durations are Go durations ("90s", "720h"). */
  ca?: {
    /** Secret in operatorNamespace holding the CA. Default warden-ca. */
    secretName?: string;
    /** The Secret is user-provided (tls.crt/tls.key, optional ca.crt): never created or rotated. */
    bringYourOwn?: boolean;
    /** Lifetime of each self-managed root. Default 2160h (90 days). */
    ttl?: string;
    /** Fraction of the CA's life after which the next CA is prepared. Default 2/3. */
    rotateAtFraction?: number;
    /** Time the next CA is in the bundle before it signs. Default 10m. */
    propagation?: string;
    /** How often every replica re-reads the CA Secret. Default 30s. */
    syncInterval?: string;
  };
  /** SVID policy of the whole cluster; everything optional. */
  svid?: {
    /**
     * Cluster-wide cap on every SVID's lifetime (Go duration, 5m–24h), applied after the identity's
     * spec.svid.ttl and its enclave's maxSvidTTL. The operator's --svid-max-ttl. Default: no cap.
     */
    maxTTL?: string;
    /** Fraction of the lifetime after which Secret delivery renews (0.1–0.9, ±10% jitter). Default 0.5. */
    renewAt?: number;
  };
  /**
   * Restrict leader-only work (trust-bundle ConfigMaps, Secret delivery) to these namespaces; empty
   * or absent means every enclave namespace. Pass the operator's --namespaces here: two operators
   * on one cluster (tests) must not publish into each other's namespaces.
   */
  namespaces?: ReadonlySet<string>;
  /** How often the leader re-lists enclave namespaces for the trust bundle ConfigMap. Default 30s. */
  bundleResync?: string;
  leader: LeaderState;
  /**
   * The sidecar the webhook injects (its template hashes, image and UID), from the same
   * WARDEN_GATEWAY_* settings the webhook reads: the issuer re-checks every pod against it.
   */
  admission: EngineSettings;
}

export interface IdentityServices {
  /** https URL of this replica's issuer. */
  issuerURL: string;
  /** PEM of the CA(s) that verify the issuer's serving certificate (the trust bundle). */
  bundlePem(): string;
  /** Expiry of the current signing CA, for metrics. */
  caNotAfter(): Date | undefined;
  /**
   * Publishes the trust bundle now (leader only; a no-op elsewhere): a namespace that just became an
   * enclave's gets its ConfigMap at once, so its first pods do not wait for the next resync with
   * their trust-bundle volume failing to mount.
   */
  publishBundleNow(): void;
  stop(): Promise<void>;
}

export type StartIdentityServices = (deps: IdentityServicesDeps) => Promise<IdentityServices>;
