// AdmissionReview v1 at the edge: parsed with zod, answered for /validate and /mutate. Nothing in
// here writes anywhere, so dry-run requests are safe by construction (sideEffects: None).
import * as z from "zod";
import { LABEL_AGENT, LABEL_TOOL_SERVER } from "../api/v1alpha1/labels.ts";
import { formatPath } from "../lib/errors.ts";
import type { ContextSource, EngineSettings } from "./context.ts";
import { evaluateObject, type ObjectVerdict } from "./evaluate.ts";
import { injectGateway } from "./inject.ts";
import { formatViolation } from "./rules/index.ts";
import type { SidecarConfig } from "./sidecar-config.ts";

const groupVersionKind = z.object({ group: z.string(), version: z.string(), kind: z.string() });
const groupVersionResource = z.object({ group: z.string(), version: z.string(), resource: z.string() });

export const admissionRequest = z.looseObject({
  uid: z.string({ message: "request.uid is required (the API server always sends one)" }).min(1, {
    message: "request.uid must not be empty",
  }),
  kind: groupVersionKind,
  resource: groupVersionResource,
  subResource: z.string().optional(),
  name: z.string().optional(),
  namespace: z.string().optional(),
  operation: z.enum(["CREATE", "UPDATE", "DELETE", "CONNECT"]),
  object: z.unknown().optional(),
  oldObject: z.unknown().optional(),
  dryRun: z.boolean().optional(),
});
export type AdmissionRequest = z.infer<typeof admissionRequest>;

export const admissionReview = z.object({
  apiVersion: z.literal("admission.k8s.io/v1", {
    message:
      "apiVersion must be admission.k8s.io/v1 (register the webhook with admissionReviewVersions: [v1])",
  }),
  kind: z.literal("AdmissionReview", { message: "kind must be AdmissionReview" }),
  request: admissionRequest
    .nullable()
    .refine((r) => r !== null, { message: "request must be an object, not null" }),
});

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: {
    code: number;
    reason?: string;
    message: string;
    /** One cause per violation: reason = rule id, field = path (metav1.StatusDetails). */
    details?: { causes: { reason: string; message: string; field: string }[] };
  };
  warnings?: string[];
  patchType?: "JSONPatch";
  patch?: string;
}

export interface ReviewOutcome {
  response: AdmissionResponse;
  /** For metrics: allowed | denied | patched | error. */
  result: "allowed" | "denied" | "patched" | "error";
  rules: string[];
}

/** Parses a request body; on failure returns a message naming the field and the fix. */
export function parseReview(
  body: unknown,
): { ok: true; request: AdmissionRequest } | { ok: false; message: string; uid?: string } {
  if (body === undefined || body === null || (typeof body === "object" && Object.keys(body).length === 0)) {
    return {
      ok: false,
      message: "empty request body: expected an AdmissionReview (admission.k8s.io/v1) JSON object",
    };
  }
  const r = admissionReview.safeParse(body);
  if (!r.success) {
    const message = r.error.issues
      .slice(0, 5)
      .map((i) => `${formatPath(i.path) || "body"}: ${i.message}`)
      .join("; ");
    const uid = (body as { request?: { uid?: unknown } })?.request?.uid;
    return {
      ok: false,
      message: `invalid AdmissionReview: ${message}`,
      ...(typeof uid === "string" && uid ? { uid } : {}),
    };
  }
  return { ok: true, request: r.data.request! };
}

export function reviewEnvelope(response: AdmissionResponse) {
  return { apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", response };
}

/** Longest message we return: the API server relays it to the user's terminal. */
const MAX_MESSAGE = 4000;

export function denialMessage(obj: unknown, verdict: ObjectVerdict): string {
  const o = obj as { kind?: string; metadata?: { name?: string; generateName?: string } };
  const who = `${o?.kind ?? "object"} ${o?.metadata?.name ?? o?.metadata?.generateName ?? ""}`.trim();
  const lines = verdict.violations.map(formatViolation);
  const msg = `agent-warden: ${who} violates ${lines.length} rule(s): ${lines.join("; ")}`;
  return msg.length > MAX_MESSAGE
    ? `${msg.slice(0, MAX_MESSAGE - 40)}… (run warden check for the full list)`
    : msg;
}

export interface ValidateDeps {
  source: ContextSource;
  settings: EngineSettings;
  now?: () => Date;
}

export async function validate(req: AdmissionRequest, deps: ValidateDeps): Promise<ReviewOutcome> {
  const allow = (warnings: string[] = []): ReviewOutcome => ({
    response: { uid: req.uid, allowed: true, ...(warnings.length ? { warnings } : {}) },
    result: "allowed",
    rules: [],
  });
  if (req.operation !== "CREATE" && req.operation !== "UPDATE") return allow();
  // Only the ephemeralcontainers subresource carries pod content we must check.
  if (req.subResource && req.subResource !== "ephemeralcontainers") return allow();
  const obj = req.object;
  if (!obj || typeof obj !== "object") {
    return error(req.uid, 400, "request.object is missing for a CREATE/UPDATE review");
  }
  const namespace = req.namespace ?? (obj as { metadata?: { namespace?: string } }).metadata?.namespace ?? "";
  let snapshot: Awaited<ReturnType<ContextSource["snapshot"]>>;
  try {
    snapshot = await deps.source.snapshot(namespace);
  } catch (err) {
    // Fail closed: without the identity and enclave we cannot tell a good agent pod from a bad one.
    return error(
      req.uid,
      503,
      `agent-warden cannot read AgentIdentity/AgentEnclave in ${namespace}: ${(err as Error).message}`,
    );
  }
  const verdict = evaluateObject(obj, {
    snapshot,
    settings: deps.settings,
    now: deps.now?.() ?? new Date(),
    oldObject: req.operation === "UPDATE" ? req.oldObject : undefined,
  });
  const warnings = [
    ...verdict.warnings,
    ...verdict.waived.map(
      (w) =>
        `[${w.violation.rule}] ${w.violation.path} waived by exemption ${w.exemption} until ${w.expiresAt.toISOString()}`,
    ),
  ];
  if (verdict.violations.length === 0) return allow(warnings);
  return {
    response: {
      uid: req.uid,
      allowed: false,
      status: {
        code: 403,
        reason: "Forbidden",
        message: denialMessage(obj, verdict),
        details: {
          causes: verdict.violations.map((v) => ({
            reason: v.rule,
            message: `${v.message} (fix: ${v.fix})`,
            field: v.path,
          })),
        },
      },
      ...(warnings.length ? { warnings } : {}),
    },
    result: "denied",
    rules: verdict.violations.map((v) => v.rule),
  };
}

/**
 * Mutation: inject the gateway into agent Pods (outbound) and tool-server Pods (inbound) on CREATE.
 * Only a tool-server pod without the warden.dev/tool-server-port annotation needs a read (its
 * ToolManifest's spec.server.port); if that read fails the pod is left alone and the validating
 * webhook refuses it, so mutation cannot fail open.
 */
export async function mutate(
  req: AdmissionRequest,
  cfg: SidecarConfig,
  source?: ContextSource,
): Promise<ReviewOutcome> {
  const none: ReviewOutcome = { response: { uid: req.uid, allowed: true }, result: "allowed", rules: [] };
  if (req.operation !== "CREATE" || req.subResource || req.kind.kind !== "Pod") return none;
  const obj = req.object;
  if (!obj || typeof obj !== "object")
    return error(req.uid, 400, "request.object is missing for a CREATE review");
  const meta = (obj as { metadata?: { labels?: Record<string, unknown>; namespace?: string } }).metadata;
  let ports: Map<string, number> | undefined;
  const server = meta?.labels?.[LABEL_TOOL_SERVER];
  if (source && typeof server === "string" && !meta?.labels?.[LABEL_AGENT]) {
    try {
      const snap = await source.snapshot(req.namespace ?? meta?.namespace ?? "");
      const m = snap.toolManifests.get(server);
      ports = new Map(m ? [[server, m.spec.server.port]] : []);
    } catch {
      // Leave the pod as it is: gateway.inboundPresent refuses it at validation.
    }
  }
  const { patch, mutated } = injectGateway(obj, cfg, { toolServerPort: (name) => ports?.get(name) });
  if (!mutated) return none;
  return {
    response: {
      uid: req.uid,
      allowed: true,
      patchType: "JSONPatch",
      patch: Buffer.from(JSON.stringify(patch)).toString("base64"),
    },
    result: "patched",
    rules: [],
  };
}

export function error(uid: string, code: number, message: string): ReviewOutcome {
  return { response: { uid, allowed: false, status: { code, message } }, result: "error", rules: [] };
}
