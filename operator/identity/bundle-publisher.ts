// Publishes the trust bundle as ConfigMap warden-trust-bundle (bundle.pem + bundle.jwks.json) in
// every namespace labelled warden.dev/enclave. Leader only. Runs on every bundle change (CA
// rotation) and every resyncMs to pick up new enclave namespaces; skips namespaces whose ConfigMap
// already holds this exact content (remembered per namespace), so steady state costs one LIST.
import { createHash } from "node:crypto";
import type * as k8s from "@kubernetes/client-node";
import { PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import {
  LABEL_ENCLAVE,
  LABEL_MANAGED_BY,
  MANAGED_BY,
  TRUST_BUNDLE_CONFIGMAP,
} from "../../api/v1alpha1/labels.ts";
import type { Logger } from "../../lib/log.ts";
import type { Authority } from "./authority.ts";
import { isNotFound } from "./kube-errors.ts";

export const IDENTITY_FIELD_MANAGER = "agent-warden-identity";
export const BUNDLE_PEM_KEY = "bundle.pem";
export const BUNDLE_JWKS_KEY = "bundle.jwks.json";
/** Which trust domain's operator owns a published object; another trust domain's is never overwritten. */
export const TRUST_DOMAIN_ANNOTATION = "warden.dev/trust-domain";

export class BundlePublisher {
  readonly #core: k8s.CoreV1Api;
  readonly #authority: Authority;
  readonly #log: Logger;
  readonly #resyncMs: number;
  readonly #scope: ReadonlySet<string> | undefined;
  readonly #trustDomain: string;
  readonly #warned = new Set<string>();
  readonly #published = new Map<string, string>();
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #again = false;
  #active = false;
  #unsubscribe: (() => void) | undefined;
  #passes = 0;

  constructor(opts: {
    core: k8s.CoreV1Api;
    authority: Authority;
    log: Logger;
    resyncMs?: number;
    trustDomain: string;
    /** Only these namespaces (when non-empty). */
    namespaces?: ReadonlySet<string>;
  }) {
    this.#trustDomain = opts.trustDomain;
    this.#scope = opts.namespaces && opts.namespaces.size > 0 ? opts.namespaces : undefined;
    this.#core = opts.core;
    this.#authority = opts.authority;
    this.#log = opts.log.child({ part: "bundle-publisher" });
    this.#resyncMs = opts.resyncMs ?? 30_000;
  }

  start(): void {
    if (this.#active) return;
    this.#active = true;
    this.#published.clear(); // a new leader re-checks everything once
    this.#unsubscribe = this.#authority.onChange(() => void this.publishNow());
    void this.publishNow();
  }

  stop(): void {
    this.#active = false;
    this.#unsubscribe?.();
    clearTimeout(this.#timer);
  }

  /** Publishes now (coalescing concurrent calls into one more pass). */
  async publishNow(): Promise<void> {
    if (!this.#active) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = true;
    clearTimeout(this.#timer);
    try {
      do {
        this.#again = false;
        await this.#pass();
      } while (this.#again && this.#active);
    } catch (err) {
      this.#log.warn("publishing the trust bundle failed; will retry", { err });
    } finally {
      this.#running = false;
      if (this.#active) {
        this.#timer = setTimeout(() => void this.publishNow(), this.#resyncMs);
        this.#timer.unref();
      }
    }
  }

  async #pass(): Promise<void> {
    if (!this.#authority.ready) return;
    const data = {
      [BUNDLE_PEM_KEY]: this.#authority.bundlePem(),
      [BUNDLE_JWKS_KEY]: `${JSON.stringify(this.#authority.bundleJWKS(), null, 2)}\n`,
    };
    const hash = createHash("sha256").update(JSON.stringify(data)).digest("hex");
    // Forget what was published now and then, so a ConfigMap someone deleted or edited comes back.
    if (++this.#passes % 10 === 0) this.#published.clear();
    const list = await this.#core.listNamespace({ labelSelector: LABEL_ENCLAVE });
    const seen = new Set<string>();
    for (const ns of list.items) {
      const name = ns.metadata?.name;
      if (!name || ns.metadata?.deletionTimestamp) continue;
      if (this.#scope && !this.#scope.has(name)) continue;
      seen.add(name);
      if (this.#published.get(name) === hash) continue;
      try {
        if (await this.#ownedByOtherTrustDomain(name)) continue;
        await this.#core.patchNamespacedConfigMap(
          {
            name: TRUST_BUNDLE_CONFIGMAP,
            namespace: name,
            fieldManager: IDENTITY_FIELD_MANAGER,
            force: true,
            body: {
              apiVersion: "v1",
              kind: "ConfigMap",
              metadata: {
                name: TRUST_BUNDLE_CONFIGMAP,
                namespace: name,
                labels: { [LABEL_MANAGED_BY]: MANAGED_BY, "app.kubernetes.io/component": "trust-bundle" },
                annotations: {
                  "warden.dev/bundle-sha256": hash,
                  [TRUST_DOMAIN_ANNOTATION]: this.#trustDomain,
                },
              },
              data,
            },
          },
          setHeaderOptions("Content-Type", PatchStrategy.ServerSideApply),
        );
        this.#published.set(name, hash);
      } catch (err) {
        this.#log.warn("could not publish the trust bundle", { namespace: name, err });
      }
    }
    for (const ns of this.#published.keys()) if (!seen.has(ns)) this.#published.delete(ns);
  }

  /**
   * Two operators of different trust domains must not fight over one namespace's bundle (each
   * would break the other's workloads in turn): the first one to publish keeps it, the other warns.
   */
  async #ownedByOtherTrustDomain(namespace: string): Promise<boolean> {
    let owner: string | undefined;
    try {
      const cm = await this.#core.readNamespacedConfigMap({ name: TRUST_BUNDLE_CONFIGMAP, namespace });
      owner = cm.metadata?.annotations?.[TRUST_DOMAIN_ANNOTATION];
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
    if (!owner || owner === this.#trustDomain) return false;
    if (!this.#warned.has(namespace)) {
      this.#warned.add(namespace);
      this.#log.warn("trust bundle ConfigMap belongs to another trust domain; not overwriting it", {
        namespace,
        owner,
      });
    }
    return true;
  }
}
