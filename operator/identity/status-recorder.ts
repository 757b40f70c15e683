// Records the last issuance per AgentIdentity in status.lastIssued, COALESCED: at most one write
// per identity per `minIntervalMs`, none when nothing new was issued since the last write. The
// write is a server-side apply of that one field on the status subresource with the issuer's own
// field manager, so it never fights the AgentIdentity controller over the other status fields.
import type * as k8s from "@kubernetes/client-node";
import { PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { API_VERSION, GROUP, VERSION } from "../../api/v1alpha1/common.ts";
import { KINDS } from "../../api/v1alpha1/kinds.ts";
import type { Logger } from "../../lib/log.ts";
import { isNotFound } from "./kube-errors.ts";
import type { IdentityMetrics } from "./metrics.ts";

export const ISSUER_FIELD_MANAGER = "agent-warden-issuer";

export interface Issuance {
  serial: string;
  notAfter: Date;
  issuedAt: Date;
}

interface Entry {
  latest?: Issuance;
  writtenSerial?: string;
  writtenAt: number;
  timer?: NodeJS.Timeout;
}

const rfc3339 = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, "Z");

export class IssuanceStatusRecorder {
  readonly #custom: k8s.CustomObjectsApi;
  readonly #log: Logger;
  readonly #metrics: IdentityMetrics;
  readonly #minIntervalMs: number;
  readonly #now: () => number;
  readonly #entries = new Map<string, Entry>();
  #stopped = false;
  writes = 0;

  constructor(opts: {
    custom: k8s.CustomObjectsApi;
    log: Logger;
    metrics: IdentityMetrics;
    minIntervalMs?: number;
    now?: () => number;
  }) {
    this.#custom = opts.custom;
    this.#log = opts.log.child({ part: "status-recorder" });
    this.#metrics = opts.metrics;
    this.#minIntervalMs = opts.minIntervalMs ?? 10 * 60_000;
    this.#now = opts.now ?? Date.now;
  }

  record(namespace: string, name: string, issuance: Issuance): void {
    if (this.#stopped) return;
    const key = `${namespace}/${name}`;
    const e = this.#entries.get(key) ?? { writtenAt: Number.NEGATIVE_INFINITY };
    e.latest = issuance;
    this.#entries.set(key, e);
    if (e.timer) return; // a write is already scheduled; it will carry this issuance
    const delay = Math.max(0, e.writtenAt + this.#minIntervalMs - this.#now());
    e.timer = setTimeout(() => void this.#flush(namespace, name, e), delay);
    e.timer.unref?.();
  }

  async #flush(namespace: string, name: string, e: Entry): Promise<void> {
    e.timer = undefined;
    const latest = e.latest;
    if (!latest || latest.serial === e.writtenSerial || this.#stopped) return;
    e.writtenAt = this.#now();
    e.writtenSerial = latest.serial;
    try {
      this.writes++;
      await this.#custom.patchNamespacedCustomObjectStatus(
        {
          group: GROUP,
          version: VERSION,
          namespace,
          plural: KINDS.AgentIdentity.plural,
          name,
          fieldManager: ISSUER_FIELD_MANAGER,
          force: true,
          body: {
            apiVersion: API_VERSION,
            kind: "AgentIdentity",
            metadata: { name, namespace },
            status: {
              lastIssued: {
                serial: latest.serial,
                notAfter: rfc3339(latest.notAfter),
                issuedAt: rfc3339(latest.issuedAt),
              },
            },
          },
        },
        setHeaderOptions("Content-Type", PatchStrategy.ServerSideApply),
      );
      this.#metrics.statusWrites.inc({ result: "ok" });
    } catch (err) {
      this.#metrics.statusWrites.inc({ result: "error" });
      if (isNotFound(err)) {
        this.#entries.delete(`${namespace}/${name}`);
        return;
      }
      this.#log.warn("could not record lastIssued", { identity: `${namespace}/${name}`, err });
      e.writtenSerial = undefined; // retry with the next issuance
    }
  }

  stop(): void {
    this.#stopped = true;
    for (const e of this.#entries.values()) clearTimeout(e.timer);
    this.#entries.clear();
  }
}
