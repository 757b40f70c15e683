// Stable label, annotation and naming conventions (DESIGN.md §2). Tests, chart and CLI rely on them.
export const LABEL_AGENT = "warden.dev/agent";
export const LABEL_AGENT_TYPE = "warden.dev/agent-type";
export const LABEL_ENCLAVE = "warden.dev/enclave";
export const LABEL_TOOL_SERVER = "warden.dev/tool-server";
export const LABEL_MANAGED_BY = "app.kubernetes.io/managed-by";
export const MANAGED_BY = "agent-warden";
export const ANNOTATION_GATEWAY_STATUS = "warden.dev/gateway-status";

export const FIELD_MANAGER = "agent-warden-operator";

export function spiffeID(trustDomain: string, namespace: string, serviceAccount: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}

/** ConfigMap holding the compiled gateway policy of one agent. */
export function policyConfigMapName(agent: string): string {
  return `warden-policy-${agent}`;
}

/** Trust bundle ConfigMap published into every enclave namespace. */
export const TRUST_BUNDLE_CONFIGMAP = "warden-trust-bundle";

/**
 * Secret holding the credentials of the tool servers one agent is granted, projected by the
 * operator from each ToolManifest's spec.credential and mounted into the gateway sidecar alone.
 */
export function credentialsSecretName(agent: string): string {
  return `warden-credentials-${agent}`;
}
