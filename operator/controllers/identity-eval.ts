// What the operator decides for one AgentIdentity, as a pure function of the facts the controller
// gathered from its caches: whether it may have children at all (ServiceAccount, policy), its
// SPIFFE ID and effective TTL (capped by the enclave and the cluster), and conditions whose reasons tell a person what to do.
import type { AgentEnclave, AgentIdentity } from "../../api/v1alpha1/index.ts";
import { spiffeID } from "../../api/v1alpha1/index.ts";
import { type ConditionInput, readyFrom } from "../runtime/conditions.ts";
import { parseDurationMs } from "./duration.ts";
import type { PolicyProblem } from "./policy.ts";

export interface IdentityFacts {
  identity: AgentIdentity;
  trustDomain: string;
  /** The enclave named by spec.enclave, when it exists in the namespace. */
  enclave?: AgentEnclave;
  /** Set when the enclave exists but is refused (a second enclave in the namespace). */
  enclaveRefused?: string;
  /** An older identity in the namespace claiming the same ServiceAccount (and SPIFFE ID). */
  olderClaimant?: string;
  /** A ServiceAccount of that name exists and is not ours. */
  serviceAccountTaken?: boolean;
  /** Problems compiling the policy (missing manifests, unknown tools, ...). */
  policyProblems: PolicyProblem[];
  /** The operator's cluster-wide cap (--svid-max-ttl), applied after the enclave's maxSvidTTL. */
  clusterMaxTTL?: string;
}

export interface IdentityDecision {
  /** May the operator create the ServiceAccount and policy? */
  admitted: boolean;
  serviceAccountName: string;
  spiffeID: string;
  effectiveTTL?: string;
  conditions: ConditionInput[];
  /** Why the identity is refused (admitted is false); its policy must then deny everything. */
  refusal?: { reason: string; message: string };
}

export function serviceAccountNameOf(identity: AgentIdentity): string {
  return identity.spec.serviceAccountName ?? identity.metadata.name ?? "";
}

const cond = (type: string, ok: boolean, reason: string, message: string): ConditionInput => ({
  type,
  status: ok ? "True" : "False",
  reason,
  message,
});

export function decideIdentity(f: IdentityFacts): IdentityDecision {
  const { identity } = f;
  const ns = identity.metadata.namespace ?? "";
  const sa = serviceAccountNameOf(identity);
  const id = spiffeID(f.trustDomain, ns, sa);
  const crossNs = f.policyProblems.find((p) => p.reason === "CrossNamespaceReference");

  // Refusals: the identity gets no new children, and an existing policy is rewritten to deny all
  // (policy.ts policyToWrite) so that a refusal after admission does not leave grants behind.
  let refusal: { reason: string; message: string } | undefined;
  if (!f.enclave) {
    refusal = {
      reason: "EnclaveNotFound",
      message: `AgentEnclave ${identity.spec.enclave} does not exist in namespace ${ns}; create it or fix spec.enclave`,
    };
  } else if (f.enclaveRefused) {
    refusal = { reason: "EnclaveNotReady", message: f.enclaveRefused };
  } else if (crossNs) {
    refusal = { reason: "CrossNamespaceReference", message: crossNs.message };
  } else if (f.olderClaimant) {
    refusal = {
      reason: "DuplicateSpiffeID",
      message: `AgentIdentity ${f.olderClaimant} already claims ServiceAccount ${sa} (${id}); set a distinct spec.serviceAccountName`,
    };
  } else if (f.serviceAccountTaken) {
    refusal = {
      reason: "ServiceAccountConflict",
      message: `ServiceAccount ${sa} already exists and is not managed by agent-warden; set spec.serviceAccountName to a new name`,
    };
  }

  let effectiveTTL: string | undefined;
  if (f.enclave) {
    // The same rule as the issuer (operator/identity/duration.ts): the shortest of the three; on a
    // tie the identity's own spelling is kept.
    effectiveTTL = [f.enclave.spec.maxSvidTTL, f.clusterMaxTTL].reduce<string>(
      (ttl, cap) => (cap !== undefined && parseDurationMs(cap) < parseDurationMs(ttl) ? cap : ttl),
      identity.spec.svid.ttl,
    );
  }

  const saCond = refusal
    ? cond("ServiceAccountReady", false, refusal.reason, refusal.message)
    : cond(
        "ServiceAccountReady",
        true,
        "ServiceAccountApplied",
        `ServiceAccount ${sa} is the agent's identity (${id}).`,
      );

  let toolsCond: ConditionInput;
  if (refusal) toolsCond = cond("ToolsBound", false, refusal.reason, refusal.message);
  else if (f.policyProblems.length > 0) {
    const first = f.policyProblems[0]!;
    toolsCond = cond("ToolsBound", false, first.reason, f.policyProblems.map((p) => p.message).join("; "));
  } else if ((identity.spec.grants ?? []).length === 0) {
    toolsCond = cond("ToolsBound", true, "NoGrants", "No tools are granted; every tool call will be denied.");
  } else
    toolsCond = cond(
      "ToolsBound",
      true,
      "ToolsBound",
      "Every granted tool is bound to an accepted ToolManifest.",
    );

  let svidCond: ConditionInput;
  if (refusal) svidCond = cond("SVIDIssuable", false, refusal.reason, refusal.message);
  else if (identity.spec.suspended) {
    svidCond = cond(
      "SVIDIssuable",
      false,
      "Suspended",
      "spec.suspended is true: the issuer refuses SVIDs; set it to false to resume.",
    );
  } else if (f.enclave?.spec.requireSponsor && !identity.spec.sponsor) {
    svidCond = cond(
      "SVIDIssuable",
      false,
      "SponsorRequired",
      `AgentEnclave ${f.enclave.metadata.name} requires a sponsor: set spec.sponsor.name to the accountable person.`,
    );
  } else {
    svidCond = cond(
      "SVIDIssuable",
      true,
      "Issuable",
      `Pods running as ${sa} can obtain SVIDs (TTL ${effectiveTTL}).`,
    );
  }

  const conditions = [saCond, toolsCond, svidCond];
  conditions.push(readyFrom(conditions, `Agent identity ${id} is ready.`));
  return { admitted: !refusal, serviceAccountName: sa, spiffeID: id, effectiveTTL, conditions, refusal };
}
