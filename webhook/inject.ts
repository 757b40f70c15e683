// The mutating half: adds the gateway as a native sidecar plus its volumes, points the agent
// containers at it and records the template hash. Pure and idempotent (inject(inject(x)) equals
// inject(x)); every change is also recorded as an RFC 6902 op against the original object.
import { ANNOTATION_GATEWAY_STATUS, LABEL_AGENT } from "../api/v1alpha1/labels.ts";
import { AGENT_ENV, GATEWAY_CONTAINER_NAME, GATEWAY_OUTBOUND_PORT } from "../api/v1alpha1/sidecar.ts";
import { type PatchOp, pointer } from "./jsonpatch.ts";
import { templatePath } from "./rules/extract.ts";
import type { SidecarConfig } from "./sidecar-config.ts";
import {
  gatewayContainer,
  gatewayVolumes,
  SIDECAR_TEMPLATE_VERSION,
  templateHash,
} from "./sidecar-template.ts";

export interface InjectResult<T> {
  object: T;
  patch: PatchOp[];
  /** True when the object was changed. */
  mutated: boolean;
}

type Obj = Record<string, unknown>;

/** Records ops while it edits a deep copy, creating missing parents as it goes. */
class Recorder {
  readonly ops: PatchOp[] = [];
  readonly root: Obj;
  constructor(root: Obj) {
    this.root = root;
  }

  /** The object at `segs`, created (and recorded) when missing. */
  ensureObject(segs: string[]): Obj {
    let cur = this.root;
    const done: string[] = [];
    for (const s of segs) {
      done.push(s);
      const next = cur[s];
      if (next === undefined || next === null) {
        cur[s] = {};
        this.ops.push({ op: "add", path: pointer(done), value: {} });
      }
      cur = cur[s] as Obj;
    }
    return cur;
  }

  /** Sets obj[key] at segs (object path) to value. */
  set(segs: string[], key: string, value: unknown): void {
    const parent = this.ensureObject(segs);
    parent[key] = structuredClone(value);
    this.ops.push({ op: "add", path: pointer([...segs, key]), value });
  }

  /** Inserts into the array obj[key] at index (or appends), creating the array when missing. */
  insert(segs: string[], key: string, value: unknown, index?: number): void {
    const parent = this.ensureObject(segs);
    const arr = parent[key];
    if (!Array.isArray(arr)) {
      parent[key] = [structuredClone(value)];
      this.ops.push({ op: "add", path: pointer([...segs, key]), value: [value] });
      return;
    }
    const at = index ?? arr.length;
    arr.splice(at, 0, structuredClone(value));
    this.ops.push({ op: "add", path: pointer([...segs, key, index === undefined ? "-" : at]), value });
  }
}

function listNames(list: unknown): string[] {
  return Array.isArray(list)
    ? list.map((c) => (c as { name?: unknown })?.name).filter((n) => typeof n === "string")
    : [];
}

/**
 * Injects the gateway into an agent pod (or the pod template of a workload). Objects without the
 * warden.dev/agent label, or of other kinds, come back unchanged with an empty patch.
 */
export function injectGateway<T>(input: T, cfg: SidecarConfig): InjectResult<T> {
  const kind = (input as { kind?: unknown })?.kind;
  const prefix = templatePath(kind);
  if (!prefix) return { object: input, patch: [], mutated: false };
  const root = structuredClone(input) as Obj;
  const metaSegs = prefix.length === 0 ? ["metadata"] : [...prefix, "metadata"];
  const specSegs = [...prefix, "spec"];
  const get = (segs: string[]): unknown =>
    segs.reduce<unknown>((o, s) => (o && typeof o === "object" ? (o as Obj)[s] : undefined), root);
  const labels = get([...metaSegs, "labels"]) as Record<string, unknown> | undefined;
  const agent = labels?.[LABEL_AGENT];
  const spec = get(specSegs) as Obj | undefined;
  if (typeof agent !== "string" || !agent || !spec || !Array.isArray(spec.containers)) {
    return { object: input, patch: [], mutated: false };
  }
  const rec = new Recorder(root);

  // 1. The sidecar itself. If a container of that name exists, it is left for the validator to
  //    judge: overwriting it would hide tampering, and skipping it keeps reinvocation idempotent.
  const names = [
    ...listNames(spec.initContainers),
    ...listNames(spec.containers),
    ...listNames(spec.ephemeralContainers),
  ];
  if (!names.includes(GATEWAY_CONTAINER_NAME)) {
    // First, so the gateway is up before any other init container and every agent container.
    rec.insert(specSegs, "initContainers", gatewayContainer(cfg), 0);
    rec.set(
      [...metaSegs, "annotations"],
      ANNOTATION_GATEWAY_STATUS,
      JSON.stringify({
        version: SIDECAR_TEMPLATE_VERSION,
        templateHash: templateHash(cfg),
      }),
    );
  }

  // 2. Its volumes: token, trust bundle, policy, audit scratch space.
  const volumeNames = listNames(spec.volumes);
  for (const vol of gatewayVolumes(agent)) {
    if (!volumeNames.includes(vol.name as string)) rec.insert(specSegs, "volumes", vol);
  }

  // 3. Point every agent container at the sidecar.
  const url = `http://127.0.0.1:${GATEWAY_OUTBOUND_PORT}`;
  (spec.containers as Obj[]).forEach((c, i) => {
    if (!c || typeof c !== "object") return;
    if (listNames(c.env).includes(AGENT_ENV.gatewayURL)) return;
    rec.insert([...specSegs, "containers", String(i)], "env", { name: AGENT_ENV.gatewayURL, value: url });
  });

  return { object: root as T, patch: rec.ops, mutated: rec.ops.length > 0 };
}
