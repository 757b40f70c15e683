// The pod rules the issuer re-runs, on the pod it already reads, before it signs an SVID: one missed
// admission (webhook not registered yet, a namespace selector mistake, a pod created while the
// webhook was down) must not become an identity. Pure: the issuer passes the pod as the API server
// stores it and the few fields of the AgentIdentity or ToolManifest the rules read.
import type { AgentIdentity, ToolManifest } from "../../api/v1alpha1/index.ts";
import type { EngineSettings } from "../context.ts";
import { extractPod } from "./extract.ts";
import { ISSUANCE_AGENT, ISSUANCE_TOOL_SERVER } from "./index.ts";
import type { RuleContext, Violation } from "./types.ts";

/** What the issuance rules need to know about the workload the token names. */
export type IssuanceSubject =
  | {
      kind: "agent";
      enclave: string;
      identity: {
        name: string;
        svid?: { delivery?: string | undefined; secretName?: string | undefined } | undefined;
      };
    }
  | { kind: "toolServer"; enclave: string; manifest: { name: string; port?: number | undefined } };

/**
 * Violations of the issuance rules (gateway present, native, unmodified, alone with its token and
 * files; no debug target on it, no shared user or process namespace) by `pod`, a Pod as read from
 * the API server. Empty means the issuer may sign.
 */
export function issuanceViolations(
  pod: unknown,
  namespace: string,
  subject: IssuanceSubject,
  settings: EngineSettings,
  now: Date,
): Violation[] {
  const ex = extractPod({ ...(pod as object), apiVersion: "v1", kind: "Pod" }, namespace);
  if (!ex.ok) return [ex.violation];
  // The rules below read only these fields of the identity (metadata.name, spec.svid) and of the
  // manifest (spec.server.port); the rest of each object is the CRD's to validate.
  const identity =
    subject.kind === "agent"
      ? ({
          metadata: { name: subject.identity.name },
          spec: { svid: subject.identity.svid ?? {} },
        } as unknown as AgentIdentity)
      : undefined;
  const manifests = new Map<string, ToolManifest>(
    subject.kind === "toolServer" && subject.manifest.port !== undefined
      ? [
          [
            subject.manifest.name,
            { spec: { server: { port: subject.manifest.port } } } as unknown as ToolManifest,
          ],
        ]
      : [],
  );
  const ctx: RuleContext = {
    enclave: subject.enclave,
    identity,
    toolManifests: manifests,
    expectedTemplateHashes: settings.expectedTemplateHashes,
    expectedInboundTemplateHashes: settings.expectedInboundTemplateHashes,
    gatewayImage: settings.gatewayImage,
    gatewayUID: settings.gatewayUID,
    approvalsSecret: settings.approvalsSecret,
    svidSecrets: new Map(),
    exemptions: [],
    now,
  };
  const rules = subject.kind === "agent" ? ISSUANCE_AGENT : ISSUANCE_TOOL_SERVER;
  return rules.flatMap((rule) => rule(ex.pod, ctx));
}
