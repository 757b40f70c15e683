// Test helpers (not a test file): a compliant agent pod, its namespace context, and a way to
// evaluate a variant of it. Used by the rule unit tests.
import type { AgentEnclave, AgentIdentity, ToolManifest } from "../../api/v1alpha1/index.ts";
import { agentEnclave, agentIdentity, toolManifest } from "../../api/v1alpha1/index.ts";
import { type NamespaceSnapshot, StaticContextSource } from "../context.ts";
import { engineSettings, evaluateObject, type ObjectVerdict } from "../evaluate.ts";
import { injectGateway } from "../inject.ts";
import { DEFAULT_SIDECAR_CONFIG } from "../sidecar-config.ts";

export const NS = "team-a";
export const NOW = new Date("2026-06-01T12:00:00Z");
export const CFG = DEFAULT_SIDECAR_CONFIG;

/** A fresh restricted container securityContext (runAsNonRoot comes from the pod; fresh: tests mutate it). */
export function hardened() {
  return { readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } };
}

export function enclave(extra: Partial<AgentEnclave["spec"]> = {}): AgentEnclave {
  return agentEnclave.parse({
    apiVersion: "warden.dev/v1alpha1",
    kind: "AgentEnclave",
    metadata: { name: "research", namespace: NS },
    spec: { toolServers: ["search"], ...extra },
  });
}

export function identity(extra: Partial<AgentIdentity["spec"]> = {}, name = "researcher"): AgentIdentity {
  return agentIdentity.parse({
    apiVersion: "warden.dev/v1alpha1",
    kind: "AgentIdentity",
    metadata: { name, namespace: NS },
    spec: { enclave: "research", agentType: "research-assistant", grants: [], ...extra },
  });
}

export function searchManifest(): ToolManifest {
  return toolManifest.parse({
    apiVersion: "warden.dev/v1alpha1",
    kind: "ToolManifest",
    metadata: { name: "search", namespace: NS },
    spec: {
      endpoint: "http://search.team-a.svc:8080/mcp",
      server: { port: 8080, serviceAccountName: "search" },
      tools: [{ name: "web_search" }],
    },
  });
}

export function snapshot(objects: unknown[] = [enclave(), identity(), searchManifest()]): NamespaceSnapshot {
  return new StaticContextSource(objects, NS).snapshotSync(NS);
}

/** A compliant agent Pod as the user writes it (no sidecar yet). */
export function agentPodSource(): Record<string, unknown> {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: "researcher-0",
      namespace: NS,
      labels: {
        "warden.dev/agent": "researcher",
        "warden.dev/agent-type": "research-assistant",
        "warden.dev/enclave": "research",
      },
    },
    spec: {
      serviceAccountName: "researcher",
      automountServiceAccountToken: false,
      securityContext: { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
      initContainers: [{ name: "fetch-prompts", image: "busybox:1.37", securityContext: hardened() }],
      containers: [
        { name: "agent", image: "ghcr.io/example/agent:1.0", securityContext: hardened() },
        { name: "memory", image: "redis:7", securityContext: hardened() },
      ],
    },
  };
}

/** The same pod after injection: what the validator sees. */
export function agentPod(): Record<string, unknown> {
  return injectGateway(agentPodSource(), CFG).object;
}

/** A compliant tool-server Pod as the user writes it; `port` sets warden.dev/tool-server-port. */
export function toolServerPodSource(manifest = "search", port?: number): Record<string, unknown> {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: `${manifest}-0`,
      namespace: NS,
      labels: { "warden.dev/tool-server": manifest },
      ...(port === undefined ? {} : { annotations: { "warden.dev/tool-server-port": String(port) } }),
    },
    spec: {
      serviceAccountName: manifest,
      automountServiceAccountToken: false,
      securityContext: { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
      containers: [
        {
          name: "server",
          image: "ghcr.io/example/search-mcp:1.0",
          ports: [{ containerPort: port ?? 8080 }],
          securityContext: hardened(),
        },
      ],
    },
  };
}

/** The tool-server pod after injection (port from searchManifest() unless annotated). */
export function toolServerPod(manifest = "search", port?: number): Record<string, unknown> {
  return injectGateway(toolServerPodSource(manifest, port), CFG, {
    toolServerPort: (name) => (name === "search" ? searchManifest().spec.server.port : undefined),
  }).object;
}

export function check(obj: unknown, opts: { snap?: NamespaceSnapshot; old?: unknown } = {}): ObjectVerdict {
  return evaluateObject(obj, {
    snapshot: opts.snap ?? snapshot(),
    settings: engineSettings(CFG),
    now: NOW,
    oldObject: opts.old,
  });
}

export function rules(v: ObjectVerdict): string[] {
  return v.violations.map((x) => `${x.rule} ${x.path}`);
}

// biome-ignore lint/suspicious/noExplicitAny: tests poke at arbitrary nested fields of plain JSON.
export type Loose = any;
