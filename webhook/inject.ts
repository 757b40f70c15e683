// The mutating half: adds the gateway as a native sidecar plus its volumes, points the agent
// containers at it and records the template hash. Pure and idempotent (inject(inject(x)) equals
// inject(x)); every change is also recorded as an RFC 6902 op against the original object.
import { ANNOTATION_GATEWAY_STATUS, LABEL_AGENT, LABEL_TOOL_SERVER } from "../api/v1alpha1/labels.ts";
import { AGENT_ENV, GATEWAY_CONTAINER_NAME, GATEWAY_OUTBOUND_PORT } from "../api/v1alpha1/sidecar.ts";
import { type PatchOp, pointer } from "./jsonpatch.ts";
import { templatePath } from "./rules/extract.ts";
import type { SidecarConfig } from "./sidecar-config.ts";
import {
  containerHash,
  GATEWAY_PORTS,
  gatewayContainer,
  gatewayInboundContainer,
  gatewayInboundVolumes,
  gatewayVolumes,
  type JsonObject,
  SIDECAR_TEMPLATE_VERSION,
} from "./sidecar-template.ts";

/** Annotation of a tool-server pod naming its MCP port (the inbound gateway's upstream). */
export const ANNOTATION_TOOL_SERVER_PORT = "warden.dev/tool-server-port";

/** A port annotation's value, or undefined when it is not a whole number from 1 to 65535. */
export function parsePort(value: unknown): number | undefined {
  if (typeof value !== "string" || !/^[1-9][0-9]{0,4}$/.test(value)) return undefined;
  const n = Number(value);
  return n <= 65535 ? n : undefined;
}

export interface InjectOptions {
  /** spec.server.port of the named ToolManifest, when the caller knows it. */
  toolServerPort?: (manifest: string) => number | undefined;
}

/**
 * The tool server's port for the inbound gateway: the pod's warden.dev/tool-server-port
 * annotation, else the ToolManifest's spec.server.port. Undefined when neither is known.
 */
export function toolServerUpstreamPort(
  annotations: Record<string, unknown> | undefined,
  manifest: string,
  opts: InjectOptions,
): number | undefined {
  const raw = annotations?.[ANNOTATION_TOOL_SERVER_PORT];
  if (raw !== undefined) return parsePort(raw);
  return opts.toolServerPort?.(manifest);
}

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
export function injectGateway<T>(input: T, cfg: SidecarConfig, opts: InjectOptions = {}): InjectResult<T> {
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
  const toolServer = labels?.[LABEL_TOOL_SERVER];
  const spec = get(specSegs) as Obj | undefined;
  const unchanged = { object: input, patch: [], mutated: false };
  if (!spec || !Array.isArray(spec.containers)) return unchanged;
  if (typeof agent !== "string" || !agent) {
    if (typeof toolServer !== "string" || !toolServer) return unchanged;
    // A tool server: the inbound gateway in front of it. Without a known port there is no correct
    // sidecar to write; the validator then refuses the pod (gateway.inboundPresent) with the fix.
    const annotations = get([...metaSegs, "annotations"]) as Record<string, unknown> | undefined;
    const port = toolServerUpstreamPort(annotations, toolServer, opts);
    if (port === undefined || GATEWAY_PORTS.includes(port)) return unchanged;
    const rec = new Recorder(root);
    addSidecar(
      rec,
      spec,
      specSegs,
      metaSegs,
      gatewayInboundContainer(cfg, port),
      gatewayInboundVolumes(toolServer),
    );
    return { object: root as T, patch: rec.ops, mutated: rec.ops.length > 0 };
  }
  const rec = new Recorder(root);
  addSidecar(rec, spec, specSegs, metaSegs, gatewayContainer(cfg), gatewayVolumes(agent, cfg));

  // 3. Point every agent container at the sidecar.
  const url = `http://127.0.0.1:${GATEWAY_OUTBOUND_PORT}`;
  (spec.containers as Obj[]).forEach((c, i) => {
    if (!c || typeof c !== "object") return;
    if (listNames(c.env).includes(AGENT_ENV.gatewayURL)) return;
    rec.insert([...specSegs, "containers", String(i)], "env", { name: AGENT_ENV.gatewayURL, value: url });
  });

  return { object: root as T, patch: rec.ops, mutated: rec.ops.length > 0 };
}

/**
 * Steps 1 and 2: the sidecar (first init container) with its status annotation, and its volumes.
 * If a container named warden-gateway exists, it is left for the validator to judge: overwriting it
 * would hide tampering, and skipping it keeps reinvocation idempotent.
 */
function addSidecar(
  rec: Recorder,
  spec: Obj,
  specSegs: string[],
  metaSegs: string[],
  container: JsonObject,
  volumes: JsonObject[],
): void {
  const names = [
    ...listNames(spec.initContainers),
    ...listNames(spec.containers),
    ...listNames(spec.ephemeralContainers),
  ];
  if (!names.includes(GATEWAY_CONTAINER_NAME)) {
    // First, so the gateway is up before any other init container and every other container.
    rec.insert(specSegs, "initContainers", container, 0);
    rec.set(
      [...metaSegs, "annotations"],
      ANNOTATION_GATEWAY_STATUS,
      JSON.stringify({ version: SIDECAR_TEMPLATE_VERSION, templateHash: containerHash(container) }),
    );
  }
  // Its volumes: token, trust bundle, policy, audit scratch space (+ credentials, approvers).
  const volumeNames = listNames(spec.volumes);
  for (const vol of volumes) {
    if (!volumeNames.includes(vol.name as string)) rec.insert(specSegs, "volumes", vol);
  }
}
