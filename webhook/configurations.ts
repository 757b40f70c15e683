// The Validating/MutatingWebhookConfigurations, built for a URL (tests, local runs) or a Service
// (real clusters). manifests/webhook/*.yaml are rendered from here. Failure policies follow
// DESIGN.md §4: validation fails closed, mutation fails open (validation is the backstop).
import { LABEL_AGENT, LABEL_ENCLAVE, LABEL_TOOL_SERVER } from "../api/v1alpha1/labels.ts";

export type ClientTarget =
  | { url: string; caBundle?: string }
  | { service: { name: string; namespace: string; port?: number }; caBundle?: string };

export interface WebhookConfigOptions {
  /** Name prefix of the two configurations, e.g. agent-warden (tests pass a unique one). */
  name: string;
  target: ClientTarget;
  /** Namespace the operator (and webhook) run in: never subject to our webhooks. */
  operatorNamespace: string;
  timeoutSeconds?: number;
  labels?: Record<string, string>;
  /**
   * Extra namespace label every webhook requires (tests on a shared cluster scope their
   * registrations to their own namespaces with it).
   */
  scopeLabel?: { key: string; value: string };
}

const WORKLOADS = [
  {
    apiGroups: ["apps"],
    apiVersions: ["v1"],
    resources: ["deployments", "statefulsets", "daemonsets", "replicasets"],
  },
  { apiGroups: ["batch"], apiVersions: ["v1"], resources: ["jobs", "cronjobs"] },
];

function clientConfig(target: ClientTarget, path: string, caBundlePem?: string) {
  const caBundle = caBundlePem ? Buffer.from(caBundlePem).toString("base64") : target.caBundle;
  const base =
    "url" in target
      ? { url: `${target.url.replace(/\/$/, "")}${path}` }
      : { service: { ...target.service, path } };
  return caBundle ? { ...base, caBundle } : base;
}

export function webhookConfigurations(o: WebhookConfigOptions, caBundlePem?: string) {
  const excluded = {
    key: "kubernetes.io/metadata.name",
    operator: "NotIn",
    values: [...new Set(["kube-system", o.operatorNamespace])],
  };
  const scope = o.scopeLabel ? [{ key: o.scopeLabel.key, operator: "In", values: [o.scopeLabel.value] }] : [];
  const inEnclave = { matchExpressions: [{ key: LABEL_ENCLAVE, operator: "Exists" }, excluded, ...scope] };
  const outsideEnclave = {
    matchExpressions: [{ key: LABEL_ENCLAVE, operator: "DoesNotExist" }, excluded, ...scope],
  };
  const common = {
    sideEffects: "None",
    admissionReviewVersions: ["v1"],
    matchPolicy: "Equivalent",
    timeoutSeconds: o.timeoutSeconds ?? 5,
  };
  const podRules = [
    {
      apiGroups: [""],
      apiVersions: ["v1"],
      resources: ["pods"],
      operations: ["CREATE", "UPDATE"],
      scope: "Namespaced",
    },
    {
      apiGroups: [""],
      apiVersions: ["v1"],
      resources: ["pods/ephemeralcontainers"],
      operations: ["UPDATE"],
      scope: "Namespaced",
    },
  ];
  const workloadRules = WORKLOADS.map((w) => ({
    ...w,
    operations: ["CREATE", "UPDATE"],
    scope: "Namespaced",
  }));
  const validate = clientConfig(o.target, "/validate", caBundlePem);
  const metadata = (name: string) => ({ name, ...(o.labels ? { labels: o.labels } : {}) });
  const validating = {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "ValidatingWebhookConfiguration",
    metadata: metadata(`${o.name}-validating`),
    webhooks: [
      {
        // Every pod and pod template in an enclave namespace.
        name: "pods.validate.warden.dev",
        clientConfig: validate,
        rules: [...podRules, ...workloadRules],
        failurePolicy: "Fail",
        namespaceSelector: inEnclave,
        ...common,
      },
      {
        // Agent-labelled objects anywhere else: they are refused (agent.outsideEnclave). Selecting
        // by object label keeps every other pod of the cluster away from a fail-closed webhook.
        name: "agents-outside-enclaves.validate.warden.dev",
        clientConfig: validate,
        rules: [...podRules, ...workloadRules],
        failurePolicy: "Fail",
        namespaceSelector: outsideEnclave,
        objectSelector: { matchExpressions: [{ key: LABEL_AGENT, operator: "Exists" }] },
        ...common,
      },
      {
        // Semantic checks of the warden kinds beyond CEL (sponsor, grants, exemptions).
        name: "kinds.validate.warden.dev",
        clientConfig: validate,
        rules: [
          {
            apiGroups: ["warden.dev"],
            apiVersions: ["v1alpha1"],
            resources: ["agentidentities", "agentenclaves", "toolmanifests"],
            operations: ["CREATE", "UPDATE"],
            scope: "Namespaced",
          },
        ],
        failurePolicy: "Fail",
        namespaceSelector: { matchExpressions: [excluded, ...scope] },
        ...common,
      },
    ],
  };
  const mutating = {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "MutatingWebhookConfiguration",
    metadata: metadata(`${o.name}-mutating`),
    // One entry per pod label: an objectSelector cannot OR two labels. Agents get the outbound
    // gateway, tool servers the inbound one.
    // Cloned so the entries share no objects (the YAML renderer would write anchors for them).
    webhooks: [LABEL_AGENT, LABEL_TOOL_SERVER].map((label) =>
      structuredClone({
        name: label === LABEL_AGENT ? "pods.mutate.warden.dev" : "tool-servers.mutate.warden.dev",
        clientConfig: clientConfig(o.target, "/mutate", caBundlePem),
        rules: [
          {
            apiGroups: [""],
            apiVersions: ["v1"],
            resources: ["pods"],
            operations: ["CREATE"],
            scope: "Namespaced",
          },
        ],
        failurePolicy: "Ignore",
        reinvocationPolicy: "IfNeeded",
        namespaceSelector: inEnclave,
        objectSelector: { matchExpressions: [{ key: label, operator: "Exists" }] },
        ...common,
      }),
    ),
  };
  return { validating, mutating };
}
