// The rule engine: which rules apply to which pod, and exemptions. Pure: the webhook and the CLI
// both call evaluatePod with a context they built their own way.

import { windowInForce } from "../../api/v1alpha1/exemptions.ts";
import { LABEL_AGENT, LABEL_TOOL_SERVER } from "../../api/v1alpha1/labels.ts";
import { isWaivable } from "./catalog.ts";
import {
  gatewayDebugTarget,
  gatewayImpersonation,
  gatewayNativeSidecar,
  gatewayPresent,
  gatewaySharedUser,
  gatewayUnmodified,
  gatewayVolumesPrivate,
  podIssuerTokenOnlyInSidecar,
  podSvidSecret,
} from "./gateway.ts";
import {
  containerAllowPrivilegeEscalation,
  containerCapabilities,
  containerPrivileged,
  containerReadOnlyRootFilesystem,
  containerRunAsNonRoot,
  podRunAsNonRoot,
  podSeccomp,
} from "./hardening.ts";
import { containerHostPort, podHostNamespaces, podHostPath, podShareProcessNamespace } from "./host.ts";
import {
  agentIdentityExists,
  agentImmutableLabels,
  agentLabels,
  agentOutsideEnclave,
  agentSuspended,
  enclavePodKind,
  podAutomountToken,
  podServiceAccount,
  toolServerServiceAccount,
} from "./identity.ts";
import { gatewayInboundPresent } from "./inbound.ts";
import {
  containerProbeHost,
  containerProcMount,
  podAppArmor,
  podSeccompAnnotations,
  podSeLinux,
  podSysctls,
  podVolumeTypes,
  podWindowsHostProcess,
} from "./pod-security.ts";
import type { ActiveExemption, PodView, Rule, RuleContext, Violation } from "./types.ts";

export type { ActiveExemption, PodView, Rule, RuleContext, Violation } from "./types.ts";

/**
 * `warden check --restricted`: the workload-hardening subset for pods that are neither agents nor in
 * an enclave (ordinary workloads, our own chart): every control of the Pod Security "baseline" and
 * "restricted" profiles, plus a read-only root filesystem, no added capabilities and no shared
 * process namespace. The token rules are left out: ordinary controllers legitimately talk to the
 * Kubernetes API.
 */
export const RESTRICTED: readonly Rule[] = [
  podRunAsNonRoot,
  containerRunAsNonRoot,
  containerReadOnlyRootFilesystem,
  containerAllowPrivilegeEscalation,
  containerCapabilities,
  containerPrivileged,
  podSeccomp,
  podSeccompAnnotations,
  podSeLinux,
  podAppArmor,
  podSysctls,
  podHostNamespaces,
  podHostPath,
  podVolumeTypes,
  containerHostPort,
  containerProbeHost,
  containerProcMount,
  podWindowsHostProcess,
  podShareProcessNamespace,
];

/** Rules for every pod the engine looks at (agent pods, and every pod of an enclave namespace). */
const HARDENING: Rule[] = [
  podAutomountToken,
  ...RESTRICTED,
  podIssuerTokenOnlyInSidecar,
  podSvidSecret,
  agentImmutableLabels,
];

const AGENT_IN_ENCLAVE: Rule[] = [
  enclavePodKind,
  agentLabels,
  agentIdentityExists,
  agentSuspended,
  podServiceAccount,
];

/** The gateway's integrity, whichever way it faces: nothing may pose as it or reach into it. */
const GATEWAY_GUARDS: Rule[] = [
  gatewayImpersonation,
  gatewayVolumesPrivate,
  gatewayDebugTarget,
  gatewaySharedUser,
];

const GATEWAY: Rule[] = [gatewayPresent, gatewayNativeSidecar, gatewayUnmodified, ...GATEWAY_GUARDS];

/** Tool-server pods of an enclave: the inbound gateway in front of them, keeping its files private. */
const INBOUND: Rule[] = [gatewayInboundPresent, toolServerServiceAccount, ...GATEWAY_GUARDS];

/**
 * The rules the issuer re-runs on the pod a token is bound to before it signs an SVID: the gateway
 * is there, unmodified and alone with its credentials. They are exactly the unwaivable rules, so
 * the issuer needs no exemptions to reach the webhook's verdict on them.
 */
export const ISSUANCE_AGENT: readonly Rule[] = [
  gatewayPresent,
  gatewayNativeSidecar,
  gatewayUnmodified,
  ...GATEWAY_GUARDS,
  podIssuerTokenOnlyInSidecar,
  podShareProcessNamespace,
];
export const ISSUANCE_TOOL_SERVER: readonly Rule[] = [
  gatewayInboundPresent,
  ...GATEWAY_GUARDS,
  podIssuerTokenOnlyInSidecar,
  podShareProcessNamespace,
];
export interface Waived {
  violation: Violation;
  exemption: string;
  expiresAt: Date;
}

export interface PodVerdict {
  /** False when no rule applies: a non-agent pod outside any enclave. */
  subject: boolean;
  violations: Violation[];
  waived: Waived[];
  /** Human-readable warnings (exemptions about to expire). */
  warnings: string[];
}

const DAY_MS = 24 * 60 * 60 * 1000;

export interface EvaluateOptions {
  /** Apply the hardening rules (RESTRICTED) to pods no other rule applies to. */
  restricted?: boolean;
}

export function evaluatePod(pod: PodView, ctx: RuleContext, opts: EvaluateOptions = {}): PodVerdict {
  const agent = pod.metadata.labels?.[LABEL_AGENT];
  const previousAgent = ctx.previous?.metadata.labels?.[LABEL_AGENT];
  if (!agent && !previousAgent && !ctx.enclave) {
    if (!opts.restricted) return { subject: false, violations: [], waived: [], warnings: [] };
    return applyExemptions(
      RESTRICTED.flatMap((rule) => rule(pod, ctx)),
      undefined,
      ctx,
    );
  }
  const rules: Rule[] = [...HARDENING];
  if (agent) {
    rules.push(...(ctx.enclave ? AGENT_IN_ENCLAVE : [agentOutsideEnclave]), ...GATEWAY);
  } else if (ctx.enclave) {
    rules.push(enclavePodKind);
    if (pod.metadata.labels?.[LABEL_TOOL_SERVER]) rules.push(...INBOUND);
  }
  const all = rules.flatMap((rule) => rule(pod, ctx));
  return applyExemptions(all, agent ?? pod.metadata.labels?.[LABEL_TOOL_SERVER], ctx);
}

function applyExemptions(all: Violation[], subjectName: string | undefined, ctx: RuleContext): PodVerdict {
  const now = ctx.now.getTime();
  const live = ctx.exemptions.filter(
    (e) =>
      windowInForce(e.startsAt?.getTime() ?? Number.NaN, e.expiresAt.getTime(), now) &&
      (e.agents.length === 0 || (subjectName !== undefined && e.agents.includes(subjectName))),
  );
  const violations: Violation[] = [];
  const waived: Waived[] = [];
  const used = new Set<ActiveExemption>();
  for (const v of all) {
    // An enclave stored before the CRD refused them may still name unwaivable rules: ignore those.
    const ex = isWaivable(v.rule) ? live.find((e) => e.rules.includes(v.rule)) : undefined;
    if (ex) {
      waived.push({ violation: v, exemption: ex.name, expiresAt: ex.expiresAt });
      used.add(ex);
    } else {
      violations.push(v);
    }
  }
  const warnings = [...used]
    .filter((e) => e.expiresAt.getTime() - now < DAY_MS)
    .map(
      (e) =>
        `exemption ${e.name} (waiving ${e.rules.join(", ")}) expires at ${e.expiresAt.toISOString()}: fix the pod before then or it will be refused`,
    );
  return { subject: true, violations, waived, warnings };
}

/** One line per violation, for AdmissionResponse messages and text output. */
export function formatViolation(v: Violation): string {
  return `[${v.rule}] ${v.path}: ${v.message} (fix: ${v.fix})`;
}
