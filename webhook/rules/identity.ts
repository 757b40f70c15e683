// Who the pod is: agent labels, the AgentIdentity behind them, its ServiceAccount, and which pods
// may exist in an enclave namespace at all.
import {
  LABEL_AGENT,
  LABEL_AGENT_TYPE,
  LABEL_ENCLAVE,
  LABEL_TOOL_SERVER,
} from "../../api/v1alpha1/labels.ts";
import { ISSUER_TOKEN_AUDIENCE } from "../../api/v1alpha1/sidecar.ts";
import { keyPath } from "./podspec.ts";
import type { Rule, Violation } from "./types.ts";

export const agentLabels: Rule = (pod, ctx) => {
  const labels = pod.metadata.labels ?? {};
  const out: Violation[] = [];
  const lp = `${pod.metaPath}.labels`;
  for (const key of [LABEL_AGENT_TYPE, LABEL_ENCLAVE]) {
    if (!labels[key]) {
      out.push({
        rule: "agent.labels",
        path: keyPath(lp, key),
        message: `agent pods must carry the ${key} label`,
        fix: `add label ${key}: ${key === LABEL_ENCLAVE ? (ctx.enclave ?? "<enclave>") : (ctx.identity?.spec.agentType ?? "<agent type>")}`,
      });
    }
  }
  const type = labels[LABEL_AGENT_TYPE];
  if (type && ctx.identity && type !== ctx.identity.spec.agentType) {
    out.push({
      rule: "agent.labels",
      path: keyPath(lp, LABEL_AGENT_TYPE),
      message: `${LABEL_AGENT_TYPE} is "${type}" but AgentIdentity ${ctx.identity.metadata.name} has agentType "${ctx.identity.spec.agentType}"`,
      fix: `set ${LABEL_AGENT_TYPE}: ${ctx.identity.spec.agentType}`,
    });
  }
  const enclave = labels[LABEL_ENCLAVE];
  if (enclave && ctx.enclave && enclave !== ctx.enclave) {
    out.push({
      rule: "agent.labels",
      path: keyPath(lp, LABEL_ENCLAVE),
      message: `${LABEL_ENCLAVE} is "${enclave}" but namespace ${pod.namespace} belongs to enclave "${ctx.enclave}"`,
      fix: `set ${LABEL_ENCLAVE}: ${ctx.enclave}`,
    });
  }
  return out;
};

export const agentOutsideEnclave: Rule = (pod, ctx) =>
  ctx.enclave
    ? []
    : [
        {
          rule: "agent.outsideEnclave",
          path: keyPath(`${pod.metaPath}.labels`, LABEL_AGENT),
          message: `the pod is labelled as agent "${pod.metadata.labels?.[LABEL_AGENT]}" but namespace ${pod.namespace} is not an enclave`,
          fix: "run agents only in a namespace with an AgentEnclave (namespace label warden.dev/enclave), or remove the warden.dev/agent label",
        },
      ];

export const agentIdentityExists: Rule = (pod, ctx) => {
  const agent = pod.metadata.labels?.[LABEL_AGENT] ?? "";
  const path = keyPath(`${pod.metaPath}.labels`, LABEL_AGENT);
  if (!ctx.identity) {
    return [
      {
        rule: "agent.identityExists",
        path,
        message: `AgentIdentity "${agent}" does not exist in namespace ${pod.namespace}`,
        fix: `create AgentIdentity ${agent} in enclave ${ctx.enclave ?? "<enclave>"} first (or include it in the input of warden check)`,
      },
    ];
  }
  if (ctx.identity.spec.enclave !== ctx.enclave) {
    return [
      {
        rule: "agent.identityExists",
        path,
        message: `AgentIdentity "${agent}" belongs to enclave "${ctx.identity.spec.enclave}", not to "${ctx.enclave}" of namespace ${pod.namespace}`,
        fix: `set spec.enclave of AgentIdentity ${agent} to ${ctx.enclave}`,
      },
    ];
  }
  return [];
};

export const agentSuspended: Rule = (pod, ctx) =>
  ctx.identity?.spec.suspended && !ctx.previous
    ? [
        {
          rule: "agent.suspended",
          path: keyPath(`${pod.metaPath}.labels`, LABEL_AGENT),
          message: `AgentIdentity "${ctx.identity.metadata.name}" is suspended: no new pods may start for it`,
          fix: "resume the identity (spec.suspended: false) once its sponsor has cleared it",
        },
      ]
    : [];

/** The identity labels of a running pod cannot change: they decide what the pod may obtain. */
export const agentImmutableLabels: Rule = (pod, ctx) => {
  const prev = ctx.previous;
  if (!prev || pod.template) return [];
  const out: Violation[] = [];
  for (const key of [LABEL_AGENT, LABEL_AGENT_TYPE, LABEL_ENCLAVE, LABEL_TOOL_SERVER]) {
    const before = prev.metadata.labels?.[key];
    const after = pod.metadata.labels?.[key];
    if (before !== after) {
      out.push({
        rule: "agent.immutableLabels",
        path: keyPath(`${pod.metaPath}.labels`, key),
        message: `label ${key} cannot change on an existing pod (was ${JSON.stringify(before ?? null)}, now ${JSON.stringify(after ?? null)})`,
        fix: "delete the pod and create a new one with the labels you want",
      });
    }
  }
  return out;
};

/** In an enclave namespace every pod is an agent or a tool server: nothing runs unaccounted for. */
export const enclavePodKind: Rule = (pod, ctx) => {
  const labels = pod.metadata.labels ?? {};
  const server = labels[LABEL_TOOL_SERVER];
  if (labels[LABEL_AGENT] && server) {
    return [
      {
        rule: "enclave.podKind",
        path: keyPath(`${pod.metaPath}.labels`, LABEL_TOOL_SERVER),
        message: `the pod is labelled both as agent "${labels[LABEL_AGENT]}" and as tool server "${server}": the issuer would refuse it an identity`,
        fix: `keep one of ${LABEL_AGENT} and ${LABEL_TOOL_SERVER}: run the agent and the tool server as separate pods`,
      },
    ];
  }
  if (labels[LABEL_AGENT]) return [];
  if (!server) {
    return [
      {
        rule: "enclave.podKind",
        path: `${pod.metaPath}.labels`,
        message: `namespace ${pod.namespace} is enclave "${ctx.enclave}": every pod must be an agent (${LABEL_AGENT}) or a tool server (${LABEL_TOOL_SERVER})`,
        fix: `add ${LABEL_AGENT}: <AgentIdentity> or ${LABEL_TOOL_SERVER}: <ToolManifest>, or run the pod in another namespace`,
      },
    ];
  }
  if (!ctx.toolManifests.has(server)) {
    return [
      {
        rule: "enclave.podKind",
        path: keyPath(`${pod.metaPath}.labels`, LABEL_TOOL_SERVER),
        message: `ToolManifest "${server}" does not exist in namespace ${pod.namespace}`,
        fix: `create ToolManifest ${server} first, or correct the ${LABEL_TOOL_SERVER} label`,
      },
    ];
  }
  return [];
};

export const podServiceAccount: Rule = (pod, ctx) => {
  if (!ctx.identity) return [];
  const want = ctx.identity.spec.serviceAccountName ?? ctx.identity.metadata.name ?? "";
  const have = pod.spec.serviceAccountName ?? "default";
  return have === want
    ? []
    : [
        {
          rule: "pod.serviceAccount",
          path: `${pod.specPath}.serviceAccountName`,
          message: `serviceAccountName is "${have}" but AgentIdentity ${ctx.identity.metadata.name} runs as ServiceAccount "${want}"`,
          fix: `set ${pod.specPath}.serviceAccountName: ${want}`,
        },
      ];
};

/** The issuer signs a tool server's SVID only for the ServiceAccount its ToolManifest names. */
export const toolServerServiceAccount: Rule = (pod, ctx) => {
  const server = pod.metadata.labels?.[LABEL_TOOL_SERVER];
  const manifest = server ? ctx.toolManifests.get(server) : undefined;
  if (!manifest) return []; // enclave.podKind names the missing ToolManifest
  const want = manifest.spec.server.serviceAccountName;
  const have = pod.spec.serviceAccountName ?? "default";
  const path = `${pod.specPath}.serviceAccountName`;
  if (!want) {
    return [
      {
        rule: "toolServer.serviceAccount",
        path: keyPath(`${pod.metaPath}.labels`, LABEL_TOOL_SERVER),
        message: `ToolManifest ${server} names no spec.server.serviceAccountName, so its inbound gateway can never obtain an SVID`,
        fix: `set spec.server.serviceAccountName of ToolManifest ${server} to the ServiceAccount this pod runs as (${have})`,
      },
    ];
  }
  return have === want
    ? []
    : [
        {
          rule: "toolServer.serviceAccount",
          path,
          message: `serviceAccountName is "${have}" but ToolManifest ${server} runs as ServiceAccount "${want}"`,
          fix: `set ${path}: ${want}`,
        },
      ];
};

export const podAutomountToken: Rule = (pod) => {
  const out: Violation[] = [];
  if (pod.spec.automountServiceAccountToken !== false) {
    out.push({
      rule: "pod.automountToken",
      path: `${pod.specPath}.automountServiceAccountToken`,
      message: "the pod must not mount a Kubernetes API token: automountServiceAccountToken must be false",
      fix: `set ${pod.specPath}.automountServiceAccountToken: false`,
    });
  }
  (pod.spec.volumes ?? []).forEach((vol, i) => {
    (vol.projected?.sources ?? []).forEach((src, j) => {
      const token = src.serviceAccountToken;
      // The API server accepts tokens for its own audiences (its issuer URL and whatever
      // --api-audiences lists), which no admission rule can know: every audience but the issuer's
      // is refused, and an exemption is the way to allow another one deliberately.
      if (token && token.audience !== ISSUER_TOKEN_AUDIENCE) {
        const base = `${pod.specPath}.volumes[${i}].projected.sources[${j}].serviceAccountToken`;
        out.push({
          rule: "pod.automountToken",
          path: token.audience ? `${base}.audience` : base,
          message: token.audience
            ? `volume ${vol.name} projects a ServiceAccount token for audience ${JSON.stringify(token.audience)}; the Kubernetes API accepts such tokens when the audience is one of its own`
            : `volume ${vol.name} projects a ServiceAccount token for the Kubernetes API (no audience)`,
          fix: "remove the volume; agents reach tools through the gateway, never the Kubernetes API",
        });
      }
    });
  });
  return out;
};
