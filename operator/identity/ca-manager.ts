// The CA manager. Every replica loads the CA Secret (all replicas sign) and re-reads it
// periodically; the leader alone bootstraps rotation steps (prepare → activate → retire) and
// writes the Secret with optimistic concurrency. Bootstrap is create-if-absent: two replicas
// starting at once both try to create; the loser gets 409 and adopts the winner's CA.
import type * as k8s from "@kubernetes/client-node";
import { UnavailableError } from "../../lib/errors.ts";
import { createRootCA } from "../../lib/identity/ca.ts";
import { createJWTKey } from "../../lib/identity/jwt-key.ts";
import type { Logger } from "../../lib/log.ts";
import type { EventRecorder } from "../runtime/events.ts";
import type { Authority } from "./authority.ts";
import {
  ACTIVATE_AT_ANNOTATION,
  activatePending,
  authorityStateOf,
  type CASet,
  decodeCASet,
  encodeCASet,
  planRotation,
  prepareNext,
  type RotationConfig,
  retireExpired,
} from "./ca-secret.ts";
import { isConflict, isNotFound } from "./kube-errors.ts";
import type { IdentityMetrics } from "./metrics.ts";

export const CA_SECRET_NAME = "warden-ca";
export const SEQUENCE_ANNOTATION = "warden.dev/ca-sequence";
const DAY = 86_400_000;

export interface CAConfig extends RotationConfig {
  secretName: string;
  /** The Secret is provided by the user (tls.crt/tls.key, optional ca.crt): never created or rotated. */
  bringYourOwn: boolean;
  trustDomain: string;
  /** Lifetime of each self-managed root. */
  ttlMs: number;
  /** How often every replica re-reads the Secret (picks up the leader's rotations). */
  syncIntervalMs: number;
  /**
   * Owner of a self-managed CA Secret (the operator's ServiceAccount): uninstalling removes it. A
   * bring-your-own Secret is the user's and never gets one.
   */
  owner?: k8s.V1OwnerReference;
}

export function defaultCAConfig(trustDomain: string, over: Partial<CAConfig> = {}): CAConfig {
  return {
    secretName: CA_SECRET_NAME,
    bringYourOwn: false,
    trustDomain,
    ttlMs: 90 * DAY,
    rotateAtFraction: 2 / 3,
    // Longer than kubelet's ConfigMap sync plus the replicas' re-read: relying parties hold the new
    // CA before the first SVID it signs.
    propagationMs: 10 * 60_000,
    syncIntervalMs: 30_000,
    ...over,
  };
}

export class CAManager {
  readonly #core: k8s.CoreV1Api;
  readonly #log: Logger;
  readonly #metrics: IdentityMetrics;
  readonly #authority: Authority;
  readonly #namespace: string;
  readonly #cfg: CAConfig;
  readonly #event: EventRecorder;
  readonly #now: () => Date;
  #syncTimer: NodeJS.Timeout | undefined;
  #leaderTimer: NodeJS.Timeout | undefined;
  #stopped = false;
  #busy = false;

  constructor(opts: {
    core: k8s.CoreV1Api;
    log: Logger;
    metrics: IdentityMetrics;
    authority: Authority;
    namespace: string;
    config: CAConfig;
    event: EventRecorder;
    now?: () => Date;
  }) {
    this.#core = opts.core;
    this.#log = opts.log.child({ part: "ca-manager" });
    this.#metrics = opts.metrics;
    this.#authority = opts.authority;
    this.#namespace = opts.namespace;
    this.#cfg = opts.config;
    this.#event = opts.event;
    this.#now = opts.now ?? (() => new Date());
  }

  /** Loads (or creates) the CA Secret; resolves once this replica can sign. */
  async bootstrap(): Promise<void> {
    const name = this.#cfg.secretName;
    let secret = await this.#read();
    if (!secret) {
      if (this.#cfg.bringYourOwn) {
        throw new UnavailableError(
          `CA Secret ${this.#namespace}/${name} not found: create it with tls.crt and tls.key (PKCS#8 P-256) or drop the bring-your-own option`,
        );
      }
      const ca = await createRootCA(this.#rootOptions());
      const { data, annotations } = encodeCASet({
        active: ca,
        retiring: [],
        extraTrust: [],
        jwt: { active: await createJWTKey(), retiring: [] },
      });
      try {
        secret = await this.#core.createNamespacedSecret({
          namespace: this.#namespace,
          body: {
            metadata: {
              name,
              namespace: this.#namespace,
              labels: { "app.kubernetes.io/managed-by": "agent-warden", "app.kubernetes.io/component": "ca" },
              annotations: { ...annotations, [SEQUENCE_ANNOTATION]: "1" },
              ...(this.#cfg.owner ? { ownerReferences: [this.#cfg.owner] } : {}),
            },
            type: "Opaque",
            data,
          },
        });
        this.#log.info("created self-managed root CA", { secret: name, notAfter: ca.notAfter.toISOString() });
        await this.#event(
          this.#ref(secret),
          "Normal",
          "CACreated",
          `Created a self-managed root CA valid until ${ca.notAfter.toISOString()}.`,
        );
      } catch (err) {
        if (!isConflict(err)) throw err;
        // Another replica won the race: adopt its CA so every replica signs under the same root.
        secret = await this.#read();
        if (!secret) throw new UnavailableError(`CA Secret ${name} conflicted on create but cannot be read`);
      }
    }
    if (!this.#cfg.bringYourOwn) secret = await this.#ensureJWTKey(secret);
    await this.#load(secret);
  }

  /**
   * A Secret written before JWT-SVIDs had their own key lacks jwt.key: add one, with the same
   * create-if-absent semantics as the CA (optimistic update; on conflict re-read and adopt the
   * winner's key), so every replica signs JWT-SVIDs with one key.
   */
  async #ensureJWTKey(secret: k8s.V1Secret): Promise<k8s.V1Secret> {
    let current = secret;
    for (let i = 0; i < 5; i++) {
      if (current.data?.["jwt.key"]) return current;
      const set = await decodeCASet(current.data ?? {}, current.metadata?.annotations ?? {});
      const written = await this.#write(current, {
        ...set,
        jwt: { active: await createJWTKey(), retiring: [] },
      });
      if (written) {
        this.#log.info("added a JWT-SVID signing key to the CA Secret", { secret: this.#cfg.secretName });
        await this.#event(
          this.#ref(written),
          "Normal",
          "JWTKeyCreated",
          "Added a JWT-SVID signing key (JWT-SVIDs are no longer signed with the CA key).",
        );
        return written;
      }
      const again = await this.#read();
      if (!again) throw new UnavailableError(`CA Secret ${this.#cfg.secretName} vanished during bootstrap`);
      current = again;
    }
    throw new UnavailableError("could not add a JWT-SVID key to the CA Secret after 5 conflicting writes");
  }

  /** Re-reads the Secret every syncIntervalMs on every replica. */
  startSync(): void {
    const tick = async () => {
      if (this.#stopped) return;
      try {
        const s = await this.#read();
        if (s) await this.#load(s);
      } catch (err) {
        this.#log.warn("CA Secret re-read failed; keeping the CA in memory", { err });
      }
      if (!this.#stopped) this.#syncTimer = setTimeout(tick, this.#cfg.syncIntervalMs);
    };
    this.#syncTimer = setTimeout(tick, this.#cfg.syncIntervalMs);
  }

  /** Starts or stops the rotation loop (leader only). */
  setLeader(leader: boolean): void {
    if (this.#cfg.bringYourOwn) return; // the owner of a bring-your-own CA rotates it
    if (!leader) {
      clearTimeout(this.#leaderTimer);
      this.#leaderTimer = undefined;
      return;
    }
    if (this.#leaderTimer) return;
    const interval = Math.max(
      100,
      Math.min(this.#cfg.syncIntervalMs, this.#cfg.propagationMs / 4, this.#cfg.ttlMs / 20),
    );
    const tick = async () => {
      try {
        await this.rotateOnce();
      } catch (err) {
        this.#log.warn("CA rotation step failed; will retry", { err });
      }
      if (!this.#stopped && this.#leaderTimer) this.#leaderTimer = setTimeout(tick, interval);
    };
    this.#leaderTimer = setTimeout(tick, 0);
  }

  /** Plans and applies rotation steps until none is due. Exposed for tests. */
  async rotateOnce(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      for (let i = 0; i < 4; i++) {
        const secret = await this.#read();
        if (!secret) return;
        const set = await decodeCASet(secret.data ?? {}, secret.metadata?.annotations ?? {});
        const now = this.#now();
        const step = planRotation(set, now, this.#cfg);
        if (step.kind === "none") return;
        let next: CASet;
        let reason: string;
        let message: string;
        switch (step.kind) {
          case "prepare": {
            const ca = await createRootCA(this.#rootOptions());
            // The next JWT key is published with the next CA and starts signing with it.
            next = prepareNext(set, ca, await createJWTKey(), step.activateAt);
            reason = "CAPrepared";
            message = `Published the next CA (serial ${ca.serial})${next.jwt?.pending ? ` and JWT-SVID key (kid ${next.jwt.pending.kid})` : ""} in the trust bundle; they sign from ${step.activateAt.toISOString()}.`;
            break;
          }
          case "activate":
            next = activatePending(set);
            reason = "CARotated";
            message = `The CA with serial ${next.active.serial} now signs; the previous CA stays trusted until ${set.active.notAfter.toISOString()}.`;
            break;
          case "retire":
            next = retireExpired(set, step);
            reason = "CARetired";
            message = `Removed ${step.expired.length} expired CA(s) (serials ${step.expired.map((c) => c.serialNumber).join(", ") || "none"}) and ${step.expiredJwtKids.length} JWT-SVID key(s) from the trust bundle.`;
            break;
          case "replaceExpired": {
            const ca = await createRootCA(this.#rootOptions());
            // Every token the old JWT keys signed expired with the old CA: start afresh.
            next = {
              active: ca,
              retiring: [],
              extraTrust: set.extraTrust,
              jwt: { active: await createJWTKey(), retiring: [] },
            };
            reason = "CAReplacedExpired";
            message =
              "The signing CA had expired (operator down past its rotation window); made a new one at once. Workloads must pick up the new bundle.";
            break;
          }
        }
        const written = await this.#write(secret, next);
        if (!written) return; // conflict: someone else wrote; re-plan on the next tick
        if (step.kind === "activate" || step.kind === "replaceExpired") this.#metrics.caRotations.inc();
        this.#log.info("CA rotation step", { step: step.kind });
        await this.#event(
          this.#ref(written),
          step.kind === "replaceExpired" ? "Warning" : "Normal",
          reason,
          message,
        );
        await this.#load(written);
      }
    } finally {
      this.#busy = false;
    }
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#syncTimer);
    clearTimeout(this.#leaderTimer);
    this.#leaderTimer = undefined;
  }

  #rootOptions() {
    return {
      trustDomain: this.#cfg.trustDomain,
      ttlMs: this.#cfg.ttlMs,
      now: this.#now(),
      backdateMs: Math.min(30_000, this.#cfg.ttlMs / 20),
    };
  }

  async #read(): Promise<k8s.V1Secret | undefined> {
    try {
      return await this.#core.readNamespacedSecret({
        name: this.#cfg.secretName,
        namespace: this.#namespace,
      });
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async #write(current: k8s.V1Secret, next: CASet): Promise<k8s.V1Secret | undefined> {
    const { data, annotations } = encodeCASet(next);
    const seq = Number(current.metadata?.annotations?.[SEQUENCE_ANNOTATION] ?? "0") + 1;
    const kept = { ...(current.metadata?.annotations ?? {}) };
    delete kept[ACTIVATE_AT_ANNOTATION];
    try {
      return await this.#core.replaceNamespacedSecret({
        name: this.#cfg.secretName,
        namespace: this.#namespace,
        body: {
          ...current,
          metadata: {
            ...current.metadata,
            annotations: { ...kept, ...annotations, [SEQUENCE_ANNOTATION]: String(seq) },
          },
          data,
        },
      });
    } catch (err) {
      if (isConflict(err)) return undefined;
      throw err;
    }
  }

  async #load(secret: k8s.V1Secret): Promise<void> {
    const set = await decodeCASet(secret.data ?? {}, secret.metadata?.annotations ?? {});
    const now = this.#now();
    await this.#authority.set(
      authorityStateOf(set, now, Number(secret.metadata?.annotations?.[SEQUENCE_ANNOTATION] ?? "1")),
    );
    this.#metrics.caNotAfter.set({ role: "active" }, set.active.notAfter.getTime() / 1000);
    if (set.pending)
      this.#metrics.caNotAfter.set({ role: "pending" }, set.pending.ca.notAfter.getTime() / 1000);
    else this.#metrics.caNotAfter.remove({ role: "pending" });
  }

  #ref(secret: k8s.V1Secret) {
    return {
      apiVersion: "v1",
      kind: "Secret",
      name: this.#cfg.secretName,
      namespace: this.#namespace,
      uid: secret.metadata?.uid,
    };
  }
}
