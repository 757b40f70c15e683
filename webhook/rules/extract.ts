// Finds the pod spec inside the objects admission covers: a Pod, or the pod template of a
// Deployment, StatefulSet, DaemonSet, ReplicaSet, Job or CronJob, with the path prefix under which
// the user wrote it (so a violation names spec.template.spec.containers[1]..., not a pod path).
import { formatPath } from "../../lib/errors.ts";
import { isPodSpecShape, isPodTemplateMetaShape, podSpec, podTemplateMeta } from "./podspec.ts";
import type { PodView, Violation } from "./types.ts";

/** Where the pod template sits in each workload kind (API group/version ignored on purpose). */
const TEMPLATE_PATHS: Record<string, readonly string[]> = {
  Pod: [],
  Deployment: ["spec", "template"],
  StatefulSet: ["spec", "template"],
  DaemonSet: ["spec", "template"],
  ReplicaSet: ["spec", "template"],
  ReplicationController: ["spec", "template"],
  Job: ["spec", "template"],
  CronJob: ["spec", "jobTemplate", "spec", "template"],
};

export const POD_KINDS: readonly string[] = Object.keys(TEMPLATE_PATHS);

export function isPodKind(kind: unknown): boolean {
  return typeof kind === "string" && Object.hasOwn(TEMPLATE_PATHS, kind);
}

/** Segments leading to the pod template ([] for a Pod), or undefined for other kinds. */
export function templatePath(kind: unknown): string[] | undefined {
  return isPodKind(kind) ? [...TEMPLATE_PATHS[kind as string]!] : undefined;
}

export type Extracted = { ok: true; pod: PodView } | { ok: false; violation: Violation };

function get(obj: unknown, path: readonly string[]): unknown {
  let cur = obj;
  for (const p of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur;
}

/**
 * Extracts the PodView of a pod-bearing object. `namespace` is where the object lives (the
 * request's namespace in the webhook, metadata.namespace or --namespace in the CLI).
 */
export function extractPod(obj: unknown, namespace: string): Extracted {
  const kind = get(obj, ["kind"]);
  if (typeof kind !== "string" || !isPodKind(kind)) {
    return invalid("kind", `kind ${String(kind)} carries no pod template`, "check a Pod or a workload kind");
  }
  const prefix = TEMPLATE_PATHS[kind]!;
  const name = get(obj, ["metadata", "name"]);
  const metaSegs = prefix.length === 0 ? ["metadata"] : [...prefix, "metadata"];
  const specSegs = [...prefix, "spec"];
  // Well-typed input (what the API server sends) is used as it is; anything else goes through zod,
  // which also names the offending field (podspec.ts explains the guards).
  const rawMeta = get(obj, metaSegs) ?? {};
  const meta = isPodTemplateMetaShape(rawMeta)
    ? ({ success: true, data: rawMeta } as const)
    : podTemplateMeta.safeParse(rawMeta);
  if (!meta.success) {
    const issue = meta.error.issues[0]!;
    return invalid(
      [formatPath(metaSegs), formatPath(issue.path)].filter(Boolean).join("."),
      issue.message,
      "labels and annotations must map strings to strings",
    );
  }
  const rawSpec = get(obj, specSegs);
  const spec = isPodSpecShape(rawSpec)
    ? ({ success: true, data: rawSpec } as const)
    : podSpec.safeParse(rawSpec);
  if (!spec.success) {
    const issue = spec.error.issues[0]!;
    const rest = formatPath(issue.path);
    return invalid(
      rest ? `${formatPath(specSegs)}${rest.startsWith("[") ? "" : "."}${rest}` : formatPath(specSegs),
      issue.message,
      "write a valid pod spec (kubectl apply --dry-run=server shows the API server's own errors)",
    );
  }
  return {
    ok: true,
    pod: {
      kind,
      name: typeof name === "string" ? name : "",
      namespace,
      template: kind !== "Pod",
      metadata: meta.data,
      spec: spec.data,
      metaPath: formatPath(metaSegs),
      specPath: formatPath(specSegs),
    },
  };
}

function invalid(path: string, message: string, fix: string): Extracted {
  return { ok: false, violation: { rule: "object.invalid", path, message, fix } };
}
