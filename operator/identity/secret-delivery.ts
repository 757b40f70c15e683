// Secret delivery — the weaker, opt-in mode for workloads that cannot run the sidecar
// (spec.svid.delivery: Secret): the operator makes the key and writes a kubernetes.io/tls Secret
// (tls.crt chain, tls.key, ca.crt bundle, bundle.jwks.json) owned by the AgentIdentity. Renewals
// are driven by a min-heap keyed by the next renewal time (renewAt of the life, default half-life,
// ±10%), not by a periodic
// resync; each renewal is exactly one API write (a server-side apply of the Secret). Suspension
// deletes the Secret (+ an Event). Leader only: the informer and the heap run while leading.
import * as k8s from "@kubernetes/client-node";
import { PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import * as z from "zod";
import { API_VERSION, GROUP, VERSION } from "../../api/v1alpha1/common.ts";
import { KINDS } from "../../api/v1alpha1/kinds.ts";
import { LABEL_AGENT, LABEL_MANAGED_BY, MANAGED_BY } from "../../api/v1alpha1/labels.ts";
import { certsFromPem, generateP256, privateKeyToPem } from "../../lib/identity/crypto.ts";
import { workloadID } from "../../lib/identity/spiffe-id.ts";
import { checkRenewAt, renewDelayMs } from "../../lib/identity/svid-client.ts";
import { signX509SVID, verifyX509SVID } from "../../lib/identity/x509-svid.ts";
import type { Logger } from "../../lib/log.ts";
import type { EventRecorder } from "../runtime/events.ts";
import type { Authority } from "./authority.ts";
import { BUNDLE_JWKS_KEY, IDENTITY_FIELD_MANAGER, TRUST_DOMAIN_ANNOTATION } from "./bundle-publisher.ts";
import { effectiveTTLms } from "./duration.ts";
import { identityMetadataView, identitySpecView } from "./identity-view.ts";
import { isNotFound } from "./kube-errors.ts";
import type { IdentityMetrics } from "./metrics.ts";
import { DueHeap } from "./min-heap.ts";
import type { IssuanceStatusRecorder } from "./status-recorder.ts";

/** Delivery needs the namespace and uid (Secret owner reference) that authorization does not. */
const deliveryView = z.object({
  metadata: identityMetadataView.extend({ namespace: z.string(), uid: z.string() }),
  spec: identitySpecView,
});
type Delivered = z.infer<typeof deliveryView>;

export function svidSecretName(identity: Pick<Delivered, "metadata" | "spec">): string {
  return identity.spec.svid?.secretName ?? `${identity.metadata.name}-svid`;
}

export interface SecretDeliveryOptions {
  kc: k8s.KubeConfig;
  authority: Authority;
  log: Logger;
  metrics: IdentityMetrics;
  event: EventRecorder;
  trustDomain: string;
  ttlOverride?: string;
  /** Cluster-wide TTL cap (the operator's --svid-max-ttl). */
  maxTTL?: string;
  /** Fraction of the lifetime after which a Secret's SVID is renewed (0.1–0.9). Default 0.5. */
  renewAt?: number;
  statusRecorder?: IssuanceStatusRecorder;
  /** Only identities in these namespaces (when non-empty). */
  namespaces?: ReadonlySet<string>;
  random?: () => number;
  now?: () => number;
}

export class SecretDelivery {
  readonly #o: SecretDeliveryOptions;
  readonly #core: k8s.CoreV1Api;
  readonly #custom: k8s.CustomObjectsApi;
  readonly #log: Logger;
  readonly #heap = new DueHeap();
  readonly #identities = new Map<string, Delivered>();
  #informer: k8s.Informer<k8s.KubernetesObject> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #active = false;
  #working = false;
  #unsubscribe: (() => void) | undefined;
  writes = 0;

  constructor(opts: SecretDeliveryOptions) {
    if (opts.renewAt !== undefined) checkRenewAt(opts.renewAt, "svid.renewAt");
    this.#o = opts;
    this.#core = opts.kc.makeApiClient(k8s.CoreV1Api);
    this.#custom = opts.kc.makeApiClient(k8s.CustomObjectsApi);
    this.#log = opts.log.child({ part: "secret-delivery" });
  }

  #now(): number {
    return (this.#o.now ?? Date.now)();
  }

  async start(): Promise<void> {
    if (this.#active) return;
    this.#active = true;
    const path = `/apis/${GROUP}/${VERSION}/${KINDS.AgentIdentity.plural}`;
    const informer = k8s.makeInformer<k8s.KubernetesObject>(this.#o.kc, path, () =>
      this.#custom.listClusterCustomObject({
        group: GROUP,
        version: VERSION,
        plural: KINDS.AgentIdentity.plural,
      }),
    );
    informer.on("add", (o) => void this.#observe(o));
    informer.on("update", (o) => void this.#observe(o));
    informer.on("delete", (o) => this.#forget(o));
    // client-node's informer stops on errors other than 410: restart it with a pause.
    informer.on("error", (err) => {
      if (!this.#active) return; // stop() aborts the watch
      this.#log.warn("AgentIdentity watch failed; restarting", { err });
      setTimeout(() => {
        if (this.#active) void informer.start().catch(() => undefined);
      }, 2000).unref();
    });
    this.#informer = informer;
    // A new bundle (CA rotation) must reach every delivered Secret's ca.crt: renew them all now.
    this.#unsubscribe = this.#o.authority.onChange(() => {
      for (const key of this.#identities.keys()) this.#heap.set(key, this.#now());
      this.#arm();
    });
    await informer.start();
  }

  async stop(): Promise<void> {
    this.#active = false;
    this.#unsubscribe?.();
    clearTimeout(this.#timer);
    await this.#informer?.stop().catch(() => undefined);
    this.#informer = undefined;
    this.#identities.clear();
    for (const k of this.#heap.popDue(Number.POSITIVE_INFINITY)) this.#heap.delete(k);
  }

  /** Next renewal time of an identity's Secret (for tests and debugging). */
  nextRenewal(namespace: string, name: string): Date | undefined {
    const due = this.#heap.dueOf(`${namespace}/${name}`);
    return due === undefined ? undefined : new Date(due);
  }

  async #observe(obj: k8s.KubernetesObject): Promise<void> {
    const parsed = deliveryView.safeParse(obj);
    if (!parsed.success) return;
    const id = parsed.data;
    if (this.#o.namespaces && this.#o.namespaces.size > 0 && !this.#o.namespaces.has(id.metadata.namespace))
      return;
    const key = `${id.metadata.namespace}/${id.metadata.name}`;
    const wanted = id.spec.svid?.delivery === "Secret" && !id.metadata.deletionTimestamp;
    const prev = this.#identities.get(key);
    if (!wanted) {
      this.#identities.delete(key);
      this.#heap.delete(key);
      if (prev && !id.metadata.deletionTimestamp)
        await this.#removeSecret(prev, "SVIDSecretRemoved", "delivery is no longer Secret");
      return;
    }
    this.#identities.set(key, id);
    if (id.spec.suspended) {
      this.#heap.delete(key);
      await this.#removeSecret(
        id,
        "SVIDSecretRemovedSuspended",
        "the identity is suspended; its SVID Secret was deleted",
      );
      return;
    }
    const secretChanged = prev && svidSecretName(prev) !== svidSecretName(id);
    if (!prev || prev.spec.suspended || secretChanged || this.#heap.dueOf(key) === undefined) {
      // First sight (or resumed): adopt an existing valid Secret's schedule, else issue now.
      const due = await this.#dueFromExistingSecret(id);
      if (due === undefined) {
        this.#identities.delete(key);
        return;
      }
      this.#heap.set(key, due);
      this.#arm();
    }
  }

  #forget(obj: k8s.KubernetesObject): void {
    const key = `${obj.metadata?.namespace}/${obj.metadata?.name}`;
    this.#identities.delete(key);
    this.#heap.delete(key); // the Secret goes with its owner (garbage collector)
  }

  /**
   * When to renew an identity's Secret on first sight: its existing valid SVID's renewal point, else
   * now; undefined when the Secret belongs to another trust domain's operator (never overwritten).
   */
  async #dueFromExistingSecret(id: Delivered): Promise<number | undefined> {
    const now = this.#now();
    let s: k8s.V1Secret;
    try {
      s = await this.#core.readNamespacedSecret({
        name: svidSecretName(id),
        namespace: id.metadata.namespace,
      });
    } catch {
      return now;
    }
    const owner = s.metadata?.annotations?.[TRUST_DOMAIN_ANNOTATION];
    if (owner && owner !== this.#o.trustDomain) {
      this.#log.warn("SVID Secret belongs to another trust domain; not managing it", {
        identity: `${id.metadata.namespace}/${id.metadata.name}`,
        owner,
      });
      return undefined;
    }
    try {
      const pem = Buffer.from(s.data?.["tls.crt"] ?? "", "base64").toString("utf8");
      const chain = certsFromPem(pem);
      const want = workloadID(
        this.#o.trustDomain,
        id.metadata.namespace,
        id.spec.serviceAccountName ?? id.metadata.name,
      );
      const v = await verifyX509SVID({
        chain,
        bundle: this.#o.authority.state().trusted,
        expectedID: want,
        now: new Date(now),
      });
      const lifetime = v.notAfter.getTime() - v.notBefore.getTime();
      return v.notBefore.getTime() + renewDelayMs(lifetime, this.#o.random ?? Math.random, this.#o.renewAt);
    } catch {
      return now;
    }
  }

  #arm(): void {
    if (!this.#active) return;
    clearTimeout(this.#timer);
    const top = this.#heap.peek();
    if (!top) return;
    this.#timer = setTimeout(
      () => void this.#work(),
      Math.max(0, Math.min(top.due - this.#now(), 2 ** 31 - 1)),
    );
    this.#timer.unref();
  }

  async #work(): Promise<void> {
    if (this.#working || !this.#active) return;
    this.#working = true;
    try {
      for (const key of this.#heap.popDue(this.#now())) {
        const id = this.#identities.get(key);
        if (!id || id.spec.suspended) continue;
        try {
          const nextDue = await this.#renew(id);
          if (this.#identities.has(key) && this.#heap.dueOf(key) === undefined) this.#heap.set(key, nextDue);
        } catch (err) {
          this.#log.warn("SVID Secret renewal failed; retrying soon", { identity: key, err });
          this.#o.metrics.deliveredSecrets.inc({ result: "error" });
          if (this.#identities.has(key)) this.#heap.set(key, this.#now() + 5000);
        }
      }
    } finally {
      this.#working = false;
      this.#arm();
    }
  }

  /** Makes a key, signs, applies the Secret (one write). Returns the next renewal time. */
  async #renew(id: Delivered): Promise<number> {
    const ns = id.metadata.namespace;
    const sa = id.spec.serviceAccountName ?? id.metadata.name;
    const spiffeID = workloadID(this.#o.trustDomain, ns, sa);
    const enclave = await this.#readEnclaveMaxTTL(ns, id.spec.enclave);
    const ttlMs = effectiveTTLms({
      identityTTL: id.spec.svid?.ttl,
      enclaveMaxTTL: enclave,
      clusterMaxTTL: this.#o.maxTTL,
      override: this.#o.ttlOverride,
    });
    const keys = await generateP256();
    const { ca } = this.#o.authority.signer();
    const now = new Date(this.#now());
    const svid = await signX509SVID({ ca, publicKey: keys.publicKey, spiffeID, ttlMs, now });
    const name = svidSecretName(id);
    const b64 = (s: string) => Buffer.from(s).toString("base64");
    this.writes++;
    await this.#core.patchNamespacedSecret(
      {
        name,
        namespace: ns,
        fieldManager: IDENTITY_FIELD_MANAGER,
        force: true,
        body: {
          apiVersion: "v1",
          kind: "Secret",
          type: "kubernetes.io/tls",
          metadata: {
            name,
            namespace: ns,
            labels: {
              [LABEL_MANAGED_BY]: MANAGED_BY,
              [LABEL_AGENT]: id.metadata.name,
              "app.kubernetes.io/component": "svid",
            },
            annotations: {
              "warden.dev/spiffe-id": spiffeID,
              "warden.dev/svid-not-after": svid.notAfter.toISOString(),
            },
            ownerReferences: [
              {
                apiVersion: API_VERSION,
                kind: "AgentIdentity",
                name: id.metadata.name,
                uid: id.metadata.uid,
                controller: true,
                blockOwnerDeletion: false,
              },
            ],
          },
          data: {
            "tls.crt": b64(svid.chainPem),
            "tls.key": b64(await privateKeyToPem(keys.privateKey)),
            "ca.crt": b64(this.#o.authority.bundlePem()),
            [BUNDLE_JWKS_KEY]: b64(JSON.stringify(this.#o.authority.bundleJWKS())),
          },
        },
      },
      setHeaderOptions("Content-Type", PatchStrategy.ServerSideApply),
    );
    this.#o.metrics.deliveredSecrets.inc({ result: "ok" });
    this.#o.metrics.issued.inc({ kind: "x509" });
    this.#o.statusRecorder?.record(ns, id.metadata.name, {
      serial: svid.serial,
      notAfter: svid.notAfter,
      issuedAt: now,
    });
    const lifetime = svid.notAfter.getTime() - now.getTime();
    return now.getTime() + renewDelayMs(lifetime, this.#o.random ?? Math.random, this.#o.renewAt);
  }

  async #readEnclaveMaxTTL(namespace: string, enclave: string): Promise<string | undefined> {
    try {
      const obj = (await this.#custom.getNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace,
        plural: KINDS.AgentEnclave.plural,
        name: enclave,
      })) as { spec?: { maxSvidTTL?: string } };
      return obj.spec?.maxSvidTTL;
    } catch (err) {
      if (isNotFound(err))
        throw new Error(
          `AgentEnclave ${namespace}/${enclave} does not exist; no SVID is delivered outside an enclave`,
        );
      throw err;
    }
  }

  async #removeSecret(id: Delivered, reason: string, message: string): Promise<void> {
    try {
      await this.#core.deleteNamespacedSecret({ name: svidSecretName(id), namespace: id.metadata.namespace });
    } catch (err) {
      if (isNotFound(err)) return; // nothing to remove, no event
      this.#log.warn("could not delete SVID Secret", {
        identity: `${id.metadata.namespace}/${id.metadata.name}`,
        err,
      });
      return;
    }
    await this.#o.event(
      {
        apiVersion: API_VERSION,
        kind: "AgentIdentity",
        name: id.metadata.name,
        namespace: id.metadata.namespace,
        uid: id.metadata.uid,
      },
      "Normal",
      reason,
      `${message} (Secret ${svidSecretName(id)}).`,
    );
  }
}
