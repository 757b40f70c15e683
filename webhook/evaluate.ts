// One entry point from "an object and what we know about its namespace" to a verdict, shared by
// the webhook's /validate and by `warden check`. Anything that is not a pod-bearing kind or a
// warden kind does not apply.
import type { NamespaceSnapshot } from "./context.ts";
import { type EngineSettings, ruleContext } from "./context.ts";
import { checkWardenObject, WARDEN_KINDS } from "./kinds.ts";
import { extractPod, isPodKind } from "./rules/extract.ts";
import { evaluatePod, type Violation, type Waived } from "./rules/index.ts";
import type { SidecarConfig } from "./sidecar-config.ts";
import { inboundTemplateHash, templateHash } from "./sidecar-template.ts";

export interface ObjectVerdict {
  applies: boolean;
  violations: Violation[];
  waived: Waived[];
  warnings: string[];
}

export function engineSettings(cfg: SidecarConfig, extraHashes: readonly string[] = []): EngineSettings {
  // The template hashes depend only on the configuration (and the upstream port): computed once.
  const inbound = new Map<number, string[]>();
  return {
    expectedTemplateHashes: [templateHash(cfg), ...extraHashes],
    expectedInboundTemplateHashes: (port) => {
      let h = inbound.get(port);
      if (!h) {
        h = [inboundTemplateHash(cfg, port)];
        if (inbound.size < 1024) inbound.set(port, h);
      }
      return h;
    },
    gatewayImage: cfg.image,
    gatewayUID: cfg.runAsUser,
    approvalsSecret: cfg.approvalsSecret,
  };
}

export interface EvaluateInput {
  snapshot: NamespaceSnapshot;
  settings: EngineSettings;
  now: Date;
  /** UPDATE: the stored object before the change. */
  oldObject?: unknown;
  /** `warden check --restricted`: hardening rules for every pod and pod template. */
  restricted?: boolean;
}

export function evaluateObject(obj: unknown, input: EvaluateInput): ObjectVerdict {
  const kind = (obj as { kind?: unknown })?.kind;
  const ns = input.snapshot.namespace;
  if (isPodKind(kind)) {
    const ex = extractPod(obj, ns);
    if (!ex.ok) return { applies: true, violations: [ex.violation], waived: [], warnings: [] };
    const prev = input.oldObject === undefined ? undefined : extractPod(input.oldObject, ns);
    const ctx = ruleContext(
      input.snapshot,
      ex.pod,
      input.settings,
      input.now,
      prev?.ok ? prev.pod : undefined,
    );
    const v = evaluatePod(ex.pod, ctx, { restricted: input.restricted ?? false });
    return { applies: v.subject, violations: v.violations, waived: v.waived, warnings: v.warnings };
  }
  if (typeof kind === "string" && WARDEN_KINDS.includes(kind)) {
    const apiVersion = (obj as { apiVersion?: unknown }).apiVersion;
    if (apiVersion !== "warden.dev/v1alpha1")
      return { applies: false, violations: [], waived: [], warnings: [] };
    const v = checkWardenObject(
      obj,
      input.snapshot,
      input.now,
      input.oldObject,
      input.settings.operatorNamespace,
    );
    return { applies: true, violations: v.violations, waived: [], warnings: v.warnings };
  }
  return { applies: false, violations: [], waived: [], warnings: [] };
}
