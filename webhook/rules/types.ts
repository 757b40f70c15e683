// Shared vocabulary of the rule engine. Rules are pure functions of a PodView (the pod spec and its
// metadata, wherever they sit in the object) and a RuleContext (what the webhook reads from the API
// and the CLI reads from its input), so the webhook and `warden check` cannot disagree.
import type { AgentEnclave, AgentIdentity, ToolManifest } from "../../api/v1alpha1/index.ts";
import type { PodSpec, PodTemplateMeta } from "./podspec.ts";

export interface Violation {
  /** Stable dotted rule id, e.g. container.readOnlyRootFilesystem; exemptions name these. */
  rule: string;
  /** Field path in the object as the user wrote it, e.g. spec.template.spec.containers[1].image. */
  path: string;
  message: string;
  fix: string;
}

/** A pod spec plus its metadata, and where both sit in the enclosing object. */
export interface PodView {
  kind: string;
  name: string;
  namespace: string;
  /** True for the pod template of a workload (the pod is created later, by a controller). */
  template: boolean;
  metadata: PodTemplateMeta;
  spec: PodSpec;
  /** Path prefix of the metadata, "metadata" or e.g. "spec.template.metadata". */
  metaPath: string;
  /** Path prefix of the pod spec, "spec" or e.g. "spec.jobTemplate.spec.template.spec". */
  specPath: string;
}

export interface ActiveExemption {
  name: string;
  rules: string[];
  /** Empty means every agent of the enclave. */
  agents: string[];
  /** Undefined only for an enclave stored before startsAt was required: never in force. */
  startsAt: Date | undefined;
  expiresAt: Date;
}

export interface RuleContext {
  /** The enclave of the pod's namespace, or undefined when the namespace is not an enclave. */
  enclave: string | undefined;
  /** The AgentEnclave object when it is known. */
  enclaveObject?: AgentEnclave | undefined;
  /** The AgentIdentity named by the pod's warden.dev/agent label, when it exists in the namespace. */
  identity: AgentIdentity | undefined;
  /** ToolManifests of the namespace, by name. */
  toolManifests: ReadonlyMap<string, ToolManifest>;
  /** Hashes of the gateway sidecar template the injector produces now (current config). */
  expectedTemplateHashes: readonly string[];
  /** Hashes of the inbound gateway the injector writes for a tool server on that port. */
  expectedInboundTemplateHashes: (upstreamPort: number) => readonly string[];
  /** The gateway image the injector uses: no other container may use it. */
  gatewayImage: string;
  /** The UID (and GID) the gateway runs as: no other container may share it. */
  gatewayUID: number;
  /** SVID Secrets of the namespace's AgentIdentities: Secret name → identity name. */
  svidSecrets: ReadonlyMap<string, string>;
  /** The approvers Secret the injector mounts into agent sidecars (part of their volumes). */
  approvalsSecret: string;
  /** Exemptions of the enclave (expired ones included; rules compare against `now`). */
  exemptions: readonly ActiveExemption[];
  now: Date;
  /** For UPDATE: the object before the change (same kind, same paths). */
  previous?: PodView | undefined;
}

/** A single rule: a pure function from the pod and its context to violations. */
export type Rule = (pod: PodView, ctx: RuleContext) => Violation[];
