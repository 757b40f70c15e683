// The webhook's own serving certificate: a private CA (P-256, lib/identity) signs a short-lived
// serving certificate; both rotate at 2/3 of their life (cert-manager's habit), the server swaps the
// certificate live, and the caBundle of our webhook configurations is kept current.
//
// caBundle handling works for several replicas without sharing a key: each replica merges its CA
// into the bundle already there and drops expired certificates, so every replica's CA stays trusted
// until it expires, which also gives a rotated CA its overlap period for free.
import * as k8s from "@kubernetes/client-node";
import { type CA, createRootCA } from "../lib/identity/ca.ts";
import { certsFromPem, certsToPem } from "../lib/identity/crypto.ts";
import { issueServingCert } from "../lib/identity/serving-cert.ts";
import type { Logger } from "../lib/log.ts";
import type { TlsMaterial } from "./server.ts";

export interface CertKeeperOptions {
  dnsNames: string[];
  ipAddresses: string[];
  caTTLms: number;
  certTTLms: number;
  /** Fraction of life after which a certificate is replaced. */
  renewAt?: number;
  /** Called with the merged CA bundle (PEM) whenever this replica's CA changes. */
  publishCABundle?: (caPem: string) => Promise<void>;
  /** Called with new serving material (after the bundle is published). */
  onRotate?: (tls: TlsMaterial) => void;
  log: Logger;
  now?: () => Date;
  /** How often to look at expiry; defaults to a tenth of the certificate TTL, at most a minute. */
  checkEveryMs?: number;
  /**
   * After publishing a new CA, keep serving from the old one this long: the API server applies a
   * changed webhook configuration asynchronously. Default 10 s (capped at a tenth of the CA TTL).
   */
  propagationDelayMs?: number;
}

export class CertKeeper {
  #ca: CA | undefined;
  #tls: (TlsMaterial & { notBefore: Date; notAfter: Date }) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #busy = false;
  readonly #o: CertKeeperOptions;

  constructor(opts: CertKeeperOptions) {
    this.#o = opts;
  }

  #now(): Date {
    return this.#o.now?.() ?? new Date();
  }

  get caPem(): string {
    return this.#ca?.certPem ?? "";
  }

  get tls(): TlsMaterial {
    if (!this.#tls) throw new Error("CertKeeper not started");
    return { keyPem: this.#tls.keyPem, certPem: this.#tls.certPem };
  }

  /** Makes CA + serving certificate, publishes the bundle, starts the rotation timer. */
  async start(): Promise<TlsMaterial> {
    await this.#rotateCA();
    await this.#issue();
    const every = this.#o.checkEveryMs ?? Math.min(60_000, Math.max(200, this.#o.certTTLms / 10));
    this.#timer = setInterval(() => void this.check(), every);
    this.#timer.unref();
    return this.tls;
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
  }

  /** One rotation check; exposed for tests. Errors are logged and retried on the next tick. */
  async check(): Promise<void> {
    if (this.#busy || !this.#ca || !this.#tls) return;
    this.#busy = true;
    try {
      const renewAt = this.#o.renewAt ?? 2 / 3;
      const now = this.#now().getTime();
      const elapsed = (nb: Date, na: Date) => (now - nb.getTime()) / (na.getTime() - nb.getTime());
      if (elapsed(this.#ca.notBefore, this.#ca.notAfter) >= renewAt) {
        await this.#rotateCA();
        await this.#issue();
      } else if (elapsed(this.#tls.notBefore, this.#tls.notAfter) >= renewAt) {
        await this.#issue();
      }
    } catch (err) {
      this.#o.log.error("serving certificate rotation failed; retrying", { err });
    } finally {
      this.#busy = false;
    }
  }

  async #rotateCA(): Promise<void> {
    const ca = await createRootCA({
      trustDomain: "webhook.agent-warden.local",
      commonName: "agent-warden webhook CA",
      ttlMs: this.#o.caTTLms,
      now: this.#now(),
      backdateMs: Math.min(30_000, this.#o.caTTLms / 10),
    });
    // Publish first: the API server must trust the new CA before we serve a certificate from it.
    await this.#o.publishCABundle?.(ca.certPem);
    if (this.#ca && this.#o.publishCABundle) {
      const delay = Math.min(this.#o.propagationDelayMs ?? 10_000, this.#o.caTTLms / 10);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
    this.#ca = ca;
    this.#o.log.info("webhook CA created", { notAfter: ca.notAfter.toISOString() });
  }

  async #issue(): Promise<void> {
    const ca = this.#ca!;
    const now = this.#now();
    const cert = await issueServingCert({
      ca,
      dnsNames: this.#o.dnsNames,
      ipAddresses: this.#o.ipAddresses,
      ttlMs: this.#o.certTTLms,
      now,
    });
    const leaf = certsFromPem(cert.certChainPem)[0]!;
    this.#tls = {
      keyPem: cert.keyPem,
      certPem: cert.certChainPem,
      notBefore: leaf.notBefore,
      notAfter: leaf.notAfter,
    };
    this.#o.onRotate?.(this.tls);
    this.#o.log.info("webhook serving certificate issued", { notAfter: leaf.notAfter.toISOString() });
  }
}

/** The union of `existing` and `added` PEM bundles, minus expired and duplicate certificates. */
export function mergeBundle(existingPem: string, addedPem: string, now: Date): string {
  const seen = new Set<string>();
  const keep = [...certsFromPem(existingPem), ...certsFromPem(addedPem)].filter((c) => {
    if (c.notAfter.getTime() <= now.getTime()) return false;
    const fp = Buffer.from(c.rawData).toString("base64");
    if (seen.has(fp)) return false;
    seen.add(fp);
    return true;
  });
  return keep.length ? certsToPem(keep) : "";
}

/**
 * Returns a publishCABundle function that merges a CA into the caBundle of every webhook of the
 * named Validating/MutatingWebhookConfigurations (read-modify-replace, retried on conflict).
 */
export function caBundlePublisher(
  kc: k8s.KubeConfig,
  names: { validating: string[]; mutating: string[] },
  log: Logger,
  now: () => Date = () => new Date(),
) {
  const api = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
  const update = async <T extends { webhooks?: { clientConfig: { caBundle?: string } }[] }>(
    read: () => Promise<T>,
    replace: (body: T) => Promise<unknown>,
    caPem: string,
  ) => {
    for (let attempt = 0; attempt < 5; attempt++) {
      const cfg = await read();
      for (const wh of cfg.webhooks ?? []) {
        const existing = wh.clientConfig.caBundle
          ? Buffer.from(wh.clientConfig.caBundle, "base64").toString()
          : "";
        wh.clientConfig.caBundle = Buffer.from(mergeBundle(existing, caPem, now())).toString("base64");
      }
      try {
        await replace(cfg);
        return;
      } catch (err) {
        if ((err as { code?: number }).code !== 409) throw err;
      }
    }
    throw new Error("caBundle update kept conflicting");
  };
  return async (caPem: string) => {
    for (const name of names.validating) {
      await update(
        () => api.readValidatingWebhookConfiguration({ name }),
        (body) => api.replaceValidatingWebhookConfiguration({ name, body }),
        caPem,
      );
    }
    for (const name of names.mutating) {
      await update(
        () => api.readMutatingWebhookConfiguration({ name }),
        (body) => api.replaceMutatingWebhookConfiguration({ name, body }),
        caPem,
      );
    }
    log.info("caBundle published", { validating: names.validating, mutating: names.mutating });
  };
}
