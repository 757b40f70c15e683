// compilePolicy: an agent's grants joined with the ToolManifests they name, as the one document
// its gateway sidecar enforces. Pure. A grant yields only what both sides allow: the tools the
// agent asks for AND the manifest lists; argument constraints of both, all of which must hold; the
// stricter rate limit; approval when either side requires it; resources, prompts, completion,
// logging and server requests within the manifest's (lib/surface-grant.ts). Anything that does not resolve is
// left out (fail closed) and reported as a problem for the ToolsBound condition.
import type {
  AgentIdentity,
  CompiledServer,
  CompiledTool,
  GatewayPolicy,
  InboundPolicy,
  ToolManifestSpec,
} from "../../api/v1alpha1/index.ts";
import { POLICY_API_VERSION, POLICY_KIND, spiffeID } from "../../api/v1alpha1/index.ts";
import { canonicalJSON } from "../../lib/canonical-json.ts";
import { compileSurface, type SurfaceProblem } from "../../lib/surface-grant.ts";
import { sha256Hex } from "../../lib/tool-digest.ts";
import { parseDurationMs } from "./duration.ts";
import type { PinnedTool } from "./manifest-eval.ts";

export interface ResolvedManifest {
  spec?: ToolManifestSpec;
  accepted: boolean;
  acceptedMessage: string;
  tools: PinnedTool[];
}

export interface PolicyProblem {
  reason:
    | SurfaceProblem["reason"]
    | "ManifestNotFound"
    | "ManifestNotAccepted"
    | "ToolNotInManifest"
    | "ToolServerNotInEnclave"
    | "CrossNamespaceReference";
  message: string;
}

export interface PolicyInput {
  identity: AgentIdentity;
  spiffeID: string;
  trustDomain: string;
  manifests: ReadonlyMap<string, ResolvedManifest>;
  /** Tool servers the enclave lets agents reach. */
  enclaveToolServers: readonly string[];
  taskTokens: GatewayPolicy["taskTokens"];
}

type RateLimit = { requests: number; period: string; burst?: number };
type Approval = { required: boolean; timeout: string; approvers?: string[] };

function compileRate(r: RateLimit | undefined) {
  if (!r) return undefined;
  return {
    requests: r.requests,
    periodSeconds: parseDurationMs(r.period) / 1000,
    burst: r.burst ?? r.requests,
  };
}

/** The stricter of two rate limits: the lower sustained rate, and the smaller burst. */
function stricterRate(a: RateLimit | undefined, b: RateLimit | undefined) {
  const ca = compileRate(a);
  const cb = compileRate(b);
  if (!ca || !cb) return ca ?? cb;
  const slower = ca.requests / ca.periodSeconds <= cb.requests / cb.periodSeconds ? ca : cb;
  return { ...slower, burst: Math.min(ca.burst, cb.burst) };
}

function mergeApproval(a: Approval | undefined, b: Approval | undefined) {
  const req = [a, b].filter((x): x is Approval => Boolean(x?.required));
  if (req.length === 0) return undefined;
  return {
    required: true,
    timeoutSeconds: Math.min(...req.map((x) => parseDurationMs(x.timeout) / 1000)),
    // The agent's approvers narrow the manifest's when both name some.
    approvers: b?.approvers?.length ? [...b.approvers] : [...(a?.approvers ?? [])],
  };
}

export function compilePolicy(input: PolicyInput): { policy: GatewayPolicy; problems: PolicyProblem[] } {
  const { identity } = input;
  const ns = identity.metadata.namespace ?? "";
  const problems: PolicyProblem[] = [];
  const servers: CompiledServer[] = [];
  const grants = [...(identity.spec.grants ?? [])].sort((a, b) =>
    a.manifest.name < b.manifest.name ? -1 : 1,
  );
  for (const grant of grants) {
    const mName = grant.manifest.name;
    if (grant.manifest.namespace && grant.manifest.namespace !== ns) {
      problems.push({
        reason: "CrossNamespaceReference",
        message: `grant of ToolManifest ${grant.manifest.namespace}/${mName} is in another namespace; reference a ToolManifest in ${ns}`,
      });
      continue;
    }
    const m = input.manifests.get(mName);
    if (!m?.spec) {
      problems.push({
        reason: "ManifestNotFound",
        message: `ToolManifest ${mName} does not exist in namespace ${ns}; create it or remove the grant`,
      });
      continue;
    }
    if (!m.accepted) {
      problems.push({
        reason: "ManifestNotAccepted",
        message: `ToolManifest ${mName} is not accepted: ${m.acceptedMessage}`,
      });
      continue;
    }
    if (!input.enclaveToolServers.includes(mName)) {
      problems.push({
        reason: "ToolServerNotInEnclave",
        message: `ToolManifest ${mName} is not in the enclave's spec.toolServers, so agents cannot reach it; add it there`,
      });
      continue;
    }
    const tools: CompiledTool[] = [];
    for (const g of [...grant.tools].sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const def = m.spec.tools.find((t) => t.name === g.name);
      const pinned = m.tools.find((t) => t.name === g.name);
      if (!def) {
        problems.push({
          reason: "ToolNotInManifest",
          message: `tool ${g.name} is not listed by ToolManifest ${mName}; fix the name or add the tool to the manifest`,
        });
        continue;
      }
      const tool: CompiledTool = {
        name: g.name,
        risk: def.risk,
        arguments: [...(def.arguments ?? []), ...(g.arguments ?? [])],
      };
      if (pinned?.digest) tool.digest = pinned.digest;
      const rate = stricterRate(def.rateLimit, g.rateLimit);
      if (rate) tool.rateLimit = rate;
      if (g.maxConcurrent) tool.maxConcurrent = g.maxConcurrent;
      const approval = mergeApproval(def.approval, g.approval);
      if (approval) tool.approval = approval;
      tools.push(tool);
    }
    const { surface, problems: surfaceProblems } = compileSurface(mName, m.spec, grant);
    problems.push(...surfaceProblems.map(({ reason, message }) => ({ reason, message })));
    const server: CompiledServer = {
      manifest: mName,
      endpoint: m.spec.endpoint,
      mode: m.spec.mode,
      tools,
      ...surface,
    };
    if (m.spec.server.serviceAccountName) {
      server.serverSpiffeID = spiffeID(input.trustDomain, ns, m.spec.server.serviceAccountName);
    }
    if (m.spec.credential) {
      const c = m.spec.credential;
      server.credential = { secretName: c.secretName, key: c.key, header: c.header, scheme: c.scheme };
    }
    servers.push(server);
  }
  const body = {
    apiVersion: POLICY_API_VERSION,
    kind: POLICY_KIND,
    agent: {
      name: identity.metadata.name ?? "",
      namespace: ns,
      spiffeID: input.spiffeID,
      suspended: identity.spec.suspended,
    },
    taskTokens: input.taskTokens,
    servers,
  } as const;
  return { policy: withVersion(body), problems };
}

/** The version is the content hash of everything else: it changes whenever the policy does. */
function withVersion(body: Omit<GatewayPolicy, "version">): GatewayPolicy {
  return { ...body, version: `sha256:${sha256Hex(canonicalJSON(body))}` };
}

/**
 * The policy of a refused identity: it denies everything. A refusal can come after the identity
 * was admitted (a second claimant of its SPIFFE ID that is older, its enclave deleted, a grant
 * edited to point into another namespace), and the gateway keeps enforcing whatever its ConfigMap
 * says — so a refusal must overwrite the grants, not leave them behind. Suspended, no servers and
 * a required task token that no issuer can sign: three independent reasons to deny, and the
 * refusal reason for whoever reads the policy or the gateway's denial.
 */
export function refusedPolicy(
  identity: AgentIdentity,
  spiffeID: string,
  refusal: { reason: string; message: string },
): GatewayPolicy {
  return withVersion({
    apiVersion: POLICY_API_VERSION,
    kind: POLICY_KIND,
    agent: {
      name: identity.metadata.name ?? "",
      namespace: identity.metadata.namespace ?? "",
      spiffeID,
      suspended: true,
      refused: { reason: refusal.reason, message: refusal.message },
    },
    taskTokens: { required: true, issuers: [] },
    servers: [],
  });
}

export function compileInboundPolicy(
  manifest: string,
  namespace: string,
  callers: readonly string[],
): InboundPolicy {
  const body = {
    apiVersion: POLICY_API_VERSION as typeof POLICY_API_VERSION,
    kind: "InboundPolicy" as const,
    manifest,
    namespace,
    allowedCallers: [...new Set(callers)].sort(),
  };
  return { ...body, version: `sha256:${sha256Hex(canonicalJSON(body))}` };
}

/**
 * Which policy the identity's ConfigMap must hold, if any. Admitted: the compiled one. Refused:
 * deny-all, but only over a policy it already has (one written while it was admitted). None is
 * created where none was: a gateway without its policy does not start, and in a namespace
 * without an enclave the operator may not write at all.
 */
export function policyToWrite(input: {
  decision: { admitted: boolean; spiffeID: string; refusal?: { reason: string; message: string } };
  compiled: GatewayPolicy;
  identity: AgentIdentity;
  /** A policy ConfigMap owned by this identity exists. */
  hasPolicy: boolean;
}): GatewayPolicy | undefined {
  const { decision } = input;
  if (decision.admitted) return input.compiled;
  if (!input.hasPolicy) return undefined;
  return refusedPolicy(
    input.identity,
    decision.spiffeID,
    decision.refusal ?? { reason: "Refused", message: "the operator refused this identity" },
  );
}
