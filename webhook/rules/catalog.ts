// Every rule id the engine can emit, with a one-line description. Exemptions are checked against
// this list (a typo in an exemption would otherwise waive nothing, silently), SARIF lists it as the
// tool's rules, and docs/admission.md mirrors it.
import { UNWAIVABLE_RULE_IDS } from "../../api/v1alpha1/exemptions.ts";

export const RULE_CATALOG = {
  "object.invalid": "The object is not a readable pod or workload (wrong field types).",
  "agent.labels":
    "Agent pods carry warden.dev/agent, warden.dev/agent-type and warden.dev/enclave matching identity and namespace.",
  "agent.outsideEnclave": "A pod labelled as an agent runs only in an enclave namespace.",
  "agent.identityExists":
    "The AgentIdentity named by warden.dev/agent exists in the namespace and belongs to its enclave.",
  "agent.suspended": "No new pods for a suspended AgentIdentity.",
  "agent.immutableLabels": "The identity labels of an existing pod never change.",
  "enclave.podKind":
    "Every pod in an enclave namespace is an agent or a tool server with an existing ToolManifest.",
  "pod.serviceAccount": "serviceAccountName is the AgentIdentity's ServiceAccount.",
  "pod.automountToken":
    "No Kubernetes API token in the pod (automountServiceAccountToken: false, no audience-less projected token).",
  "pod.runAsNonRoot": "The pod-level securityContext does not run as root.",
  "container.runAsNonRoot": "Every container runs with runAsNonRoot: true and no runAsUser: 0.",
  "container.readOnlyRootFilesystem": "Every container has readOnlyRootFilesystem: true.",
  "container.allowPrivilegeEscalation": "Every container has allowPrivilegeEscalation: false.",
  "container.capabilities": "Every container drops ALL capabilities and adds none.",
  "container.privileged": "No privileged container.",
  "pod.seccomp": "seccomp profile RuntimeDefault or Localhost for every container.",
  "pod.hostNamespaces": "No hostNetwork, hostPID or hostIPC.",
  "pod.hostPath": "No hostPath volumes.",
  "container.hostPort": "No hostPort.",
  "pod.shareProcessNamespace": "No shared process namespace.",
  "pod.seLinux": "SELinux type container_t (or another container type) or unset; no custom user or role.",
  "pod.appArmor":
    "AppArmor profile RuntimeDefault or Localhost (fields), runtime/default or localhost/* (annotations).",
  "pod.sysctls": "Only the safe, pod-isolated sysctls.",
  "container.probeHost": "No host in probes or lifecycle hooks (httpGet/tcpSocket).",
  "pod.volumeTypes":
    "Volumes are configMap, csi, downwardAPI, emptyDir, ephemeral, image, persistentVolumeClaim, projected or secret.",
  "container.procMount": "procMount is Default (the masked /proc).",
  "pod.windowsHostProcess": "No Windows HostProcess pod or container.",
  "pod.svidSecret":
    "No container reads another identity's SVID Secret, and only the gateway reads its own (volumes, env, envFrom).",
  "pod.issuerTokenOnlyInSidecar":
    "The issuer-audience token (and any SVID Secret) is mounted into the gateway sidecar alone.",
  "gateway.present": "Agent pods run the warden-gateway sidecar.",
  "gateway.nativeSidecar":
    "The gateway is a native sidecar (initContainers entry with restartPolicy: Always).",
  "gateway.unmodified":
    "The sidecar and its volumes are exactly what the injector wrote (hash = annotation = current template).",
  "gateway.impersonation": "No other container uses the gateway's image or ports.",
  "gateway.inboundPresent":
    "Tool-server pods run the injected inbound gateway (native sidecar, port 15443, upstream = the tool server's port), unmodified.",
  "gateway.volumesPrivate":
    "The gateway's bundle, policy, audit, credentials and approvers volumes (and those Secrets under any volume name) are mounted into the sidecar alone.",
  "gateway.debugTarget":
    "No ephemeral container targets the gateway (kubectl debug --target=warden-gateway would join its process namespace).",
  "gateway.sharedUser":
    "No other container runs with the gateway's UID or GID (it could read the gateway's files and signal its process).",
  "toolServer.serviceAccount":
    "A tool-server pod runs as its ToolManifest's spec.server.serviceAccountName (the issuer requires it).",
} as const;

export type RuleId = keyof typeof RULE_CATALOG;

export function isKnownRule(id: string): id is RuleId {
  return Object.hasOwn(RULE_CATALOG, id);
}

/** Rules no exemption can waive (api/v1alpha1/exemptions.ts says why); each is a catalog rule. */
export const UNWAIVABLE_RULES: readonly RuleId[] = UNWAIVABLE_RULE_IDS;

export function isWaivable(id: string): boolean {
  return !(UNWAIVABLE_RULES as readonly string[]).includes(id);
}

/** Findings on the warden kinds themselves (not waivable by exemptions). */
export const KIND_RULE_CATALOG = {
  "identity.enclave": "An AgentIdentity names the enclave of its namespace.",
  "identity.sponsorRequired": "An AgentIdentity names a sponsor when its enclave requires one.",
  "identity.crossNamespaceGrant": "Grants reference ToolManifests of the same namespace only.",
  "identity.unknownTool": "Every granted tool is offered by the ToolManifest it is granted from.",
  "identity.surfaceNotInManifest":
    "Granted resources, prompts, completion, logging and client features lie within what the ToolManifest allows.",
  "enclave.onePerNamespace": "One AgentEnclave per namespace.",
  "enclave.exemptionRule": "Exemptions name existing admission rule ids, none of them unwaivable.",
  "enclave.exemptionLifetime":
    "An exemption starts before it expires and lasts at most 30 days (expiresAt - startsAt <= 720h).",
  "enclave.namespace":
    "No AgentEnclave in kube-system, kube-public, kube-node-lease or the operator's own namespace.",
} as const;

export const ALL_RULES: Record<string, string> = { ...RULE_CATALOG, ...KIND_RULE_CATALOG };
