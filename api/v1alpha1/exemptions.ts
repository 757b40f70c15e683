// What an AgentEnclave exemption may waive and for how long. Shared by the CRD (CEL), the webhook's
// rule engine and the operator, so the three cannot disagree.

/**
 * Admission rules no exemption can waive: they keep the gateway in the pod, intact and alone with
 * its credentials, and keep a suspended identity from starting pods. Waiving one would let an agent
 * bypass every per-call decision or obtain an identity it must not have. The CRD refuses
 * exemptions naming them, the webhook refuses such enclaves, and the engine ignores them in
 * enclaves stored before this rule existed.
 */
export const UNWAIVABLE_RULE_IDS = [
  "gateway.present",
  "gateway.nativeSidecar",
  "gateway.unmodified",
  "gateway.impersonation",
  "gateway.volumesPrivate",
  "gateway.inboundPresent",
  "gateway.debugTarget",
  "gateway.sharedUser",
  "pod.issuerTokenOnlyInSidecar",
  "pod.svidSecret",
  "pod.shareProcessNamespace",
  "agent.suspended",
  "agent.immutableLabels",
] as const;

/** Longest window an exemption may cover (expiresAt - startsAt), as a Go/CEL duration and in ms. */
export const MAX_EXEMPTION_LIFETIME = "720h";
export const MAX_EXEMPTION_LIFETIME_MS = 720 * 60 * 60 * 1000;

export interface ExemptionWindow {
  startsAt?: string | undefined;
  expiresAt: string;
}

/**
 * Is the exemption in force at `now`? Only inside [startsAt, expiresAt), and never when its window
 * is longer than the cap or inverted (an object stored before the CRD's CEL rule could be).
 */
export function exemptionInForce(ex: ExemptionWindow, now: Date): boolean {
  const start = ex.startsAt === undefined ? Number.NaN : Date.parse(ex.startsAt);
  return windowInForce(start, Date.parse(ex.expiresAt), now.getTime());
}

/** The same on epoch milliseconds; NaN (a missing or unparsable time) is never in force. */
export function windowInForce(startMs: number, endMs: number, nowMs: number): boolean {
  if (!Number.isFinite(startMs) || !Number.isFinite(endMs)) return false;
  if (endMs <= startMs || endMs - startMs > MAX_EXEMPTION_LIFETIME_MS) return false;
  return startMs <= nowMs && nowMs < endMs;
}

/** Namespaces no enclave may claim: the cluster's own, and (passed in) the operator's. */
export const SYSTEM_NAMESPACES: readonly string[] = ["kube-system", "kube-public", "kube-node-lease"];

export function isProtectedNamespace(namespace: string, operatorNamespace?: string): boolean {
  return SYSTEM_NAMESPACES.includes(namespace) || (!!operatorNamespace && namespace === operatorNamespace);
}

/** Namespace labels of the Pod Security admission plugin (built into the API server). */
export const PSA_ENFORCE_LABEL = "pod-security.kubernetes.io/enforce";
export const PSA_ENFORCE_VERSION_LABEL = "pod-security.kubernetes.io/enforce-version";
export type PodSecurityLevel = "restricted" | "baseline" | "privileged";

/** Admission rules that implement controls of the Pod Security "baseline" profile. */
const BASELINE_CONTROL_RULES: readonly string[] = [
  "pod.hostNamespaces",
  "pod.hostPath",
  "container.hostPort",
  "container.privileged",
  "container.capabilities",
  "pod.seLinux",
  "pod.appArmor",
  "pod.seccomp",
  "pod.sysctls",
  "container.probeHost",
  "container.procMount",
  "pod.windowsHostProcess",
];
/** Admission rules that implement controls only the "restricted" profile adds. */
const RESTRICTED_CONTROL_RULES: readonly string[] = [
  "pod.runAsNonRoot",
  "container.runAsNonRoot",
  "container.allowPrivilegeEscalation",
  "pod.volumeTypes",
];

/**
 * The Pod Security level the operator enforces on an enclave namespace (defence in depth behind the
 * webhook): restricted, unless an exemption in force waives one of its controls, for as long as it
 * does; otherwise the API server would refuse the very pods the exemption lets through.
 */
export function enclavePodSecurityLevel(
  exemptions: readonly (ExemptionWindow & { rules?: readonly string[] | undefined })[],
  now: Date,
): PodSecurityLevel {
  const waived = exemptions.filter((e) => exemptionInForce(e, now)).flatMap((e) => e.rules ?? []);
  if (waived.some((r) => BASELINE_CONTROL_RULES.includes(r))) return "privileged";
  if (waived.some((r) => RESTRICTED_CONTROL_RULES.includes(r))) return "baseline";
  return "restricted";
}

/** Milliseconds until the next exemption starts or ends (when the enclave must be looked at again). */
export function nextExemptionChangeMs(exemptions: readonly ExemptionWindow[], now: Date): number | undefined {
  let next: number | undefined;
  for (const e of exemptions) {
    for (const at of [
      e.startsAt === undefined ? Number.NaN : Date.parse(e.startsAt),
      Date.parse(e.expiresAt),
    ]) {
      const left = at - now.getTime();
      if (left > 0) next = next === undefined ? left : Math.min(next, left);
    }
  }
  return next;
}
