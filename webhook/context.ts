// What the rules need to know about a namespace, and how to get it. The webhook reads it from the
// API server (api-context.ts); `warden check` builds it from the objects in its input
// (StaticContextSource). Both produce the same NamespaceSnapshot, and ruleContext turns it into
// the RuleContext for one pod, so both paths give identical verdicts.
import {
  type AgentEnclave,
  type AgentIdentity,
  agentEnclave,
  agentIdentity,
  LABEL_AGENT,
  LABEL_ENCLAVE,
  type ToolManifest,
  toolManifest,
} from "../api/v1alpha1/index.ts";
import type { ActiveExemption, PodView, RuleContext } from "./rules/index.ts";

export interface NamespaceSnapshot {
  namespace: string;
  /** The namespace's warden.dev/enclave label, when the Namespace is known and labelled. */
  enclaveLabel?: string | undefined;
  enclaves: AgentEnclave[];
  identities: Map<string, AgentIdentity>;
  toolManifests: Map<string, ToolManifest>;
}

export interface ContextSource {
  snapshot(namespace: string): Promise<NamespaceSnapshot>;
}

export function emptySnapshot(namespace: string): NamespaceSnapshot {
  return { namespace, enclaves: [], identities: new Map(), toolManifests: new Map() };
}

/** The enclave of a namespace: its label (set by the operator), else its one AgentEnclave. */
export function namespaceEnclave(s: NamespaceSnapshot): AgentEnclave | { name: string } | undefined {
  const byLabel = s.enclaveLabel;
  if (byLabel) return s.enclaves.find((e) => e.metadata.name === byLabel) ?? { name: byLabel };
  return s.enclaves.length === 1 ? s.enclaves[0] : undefined;
}

function enclaveName(e: AgentEnclave | { name: string } | undefined): string | undefined {
  if (!e) return undefined;
  return "spec" in e ? e.metadata.name : e.name;
}

export function exemptionsOf(enclave: AgentEnclave | undefined): ActiveExemption[] {
  return (enclave?.spec.exemptions ?? [])
    .filter((e) => (e.rules ?? []).length > 0)
    .map((e) => ({
      name: e.name,
      rules: e.rules ?? [],
      agents: e.agents ?? [],
      startsAt: e.startsAt === undefined ? undefined : new Date(e.startsAt),
      expiresAt: new Date(e.expiresAt),
    }));
}

export interface EngineSettings {
  expectedTemplateHashes: readonly string[];
  /** Hashes of the inbound gateway the injector writes for a tool server on `upstreamPort`. */
  expectedInboundTemplateHashes: (upstreamPort: number) => readonly string[];
  gatewayImage: string;
  /** The UID the injected gateway runs as (SidecarConfig.runAsUser). */
  gatewayUID: number;
  /** Namespaces no AgentEnclave may claim besides kube-system & co: the operator's own. */
  operatorNamespace?: string | undefined;
  /** The approvers Secret the injector mounts into agent sidecars (part of their volumes). */
  approvalsSecret: string;
}

/**
 * The SVID Secret name of every AgentIdentity of the namespace (the default `<name>-svid` too,
 * whether or not it uses Secret delivery now: the name is reserved for it).
 */
export function svidSecretsOf(identities: Iterable<AgentIdentity>): Map<string, string> {
  const out = new Map<string, string>();
  for (const id of identities) {
    const name = id.metadata.name ?? "";
    if (!name) continue;
    out.set(`${name}-svid`, name);
    if (id.spec.svid.secretName) out.set(id.spec.svid.secretName, name);
  }
  return out;
}

export function ruleContext(
  s: NamespaceSnapshot,
  pod: PodView,
  settings: EngineSettings,
  now: Date,
  previous?: PodView,
): RuleContext {
  const enc = namespaceEnclave(s);
  const enclaveObject = enc && "spec" in enc ? enc : undefined;
  const agent = pod.metadata.labels?.[LABEL_AGENT];
  return {
    enclave: enclaveName(enc),
    enclaveObject,
    identity: agent ? s.identities.get(agent) : undefined,
    toolManifests: s.toolManifests,
    expectedTemplateHashes: settings.expectedTemplateHashes,
    expectedInboundTemplateHashes: settings.expectedInboundTemplateHashes,
    gatewayImage: settings.gatewayImage,
    gatewayUID: settings.gatewayUID,
    svidSecrets: svidSecretsOf(s.identities.values()),
    approvalsSecret: settings.approvalsSecret,
    exemptions: exemptionsOf(enclaveObject),
    now,
    previous,
  };
}

/** Adds one object to a snapshot if it is a context kind; returns false when it is not. */
export function addToSnapshot(s: NamespaceSnapshot, input: unknown): boolean {
  // Only spec and metadata matter here; status is the operator's and must not make an object
  // unreadable (and so make its pods look identity-less).
  const { status: _status, ...obj } = (input ?? {}) as Record<string, unknown>;
  const o = obj as { kind?: unknown; metadata?: { name?: unknown; labels?: Record<string, string> } };
  switch (o?.kind) {
    case "Namespace":
      if (o.metadata?.labels?.[LABEL_ENCLAVE]) s.enclaveLabel = o.metadata.labels[LABEL_ENCLAVE];
      return true;
    case "AgentEnclave": {
      const r = agentEnclave.safeParse(obj);
      if (r.success) s.enclaves.push(r.data);
      return true;
    }
    case "AgentIdentity": {
      const r = agentIdentity.safeParse(obj);
      if (r.success && r.data.metadata.name) s.identities.set(r.data.metadata.name, r.data);
      return true;
    }
    case "ToolManifest": {
      const r = toolManifest.safeParse(obj);
      if (r.success && r.data.metadata.name) s.toolManifests.set(r.data.metadata.name, r.data);
      return true;
    }
    default:
      return false;
  }
}

/** Context from a fixed set of objects: the CLI's input, and tests. */
export class StaticContextSource implements ContextSource {
  readonly #byNamespace = new Map<string, NamespaceSnapshot>();
  readonly #defaultNamespace: string;

  constructor(objects: unknown[], defaultNamespace = "default") {
    this.#defaultNamespace = defaultNamespace;
    for (const obj of objects) this.add(obj);
  }

  add(obj: unknown): boolean {
    const meta = (obj as { kind?: unknown; metadata?: { name?: string; namespace?: string } })?.metadata;
    const kind = (obj as { kind?: unknown })?.kind;
    const ns = kind === "Namespace" ? meta?.name : (meta?.namespace ?? this.#defaultNamespace);
    if (!ns) return false;
    let s = this.#byNamespace.get(ns);
    if (!s) {
      s = emptySnapshot(ns);
      if (!addToSnapshot(s, obj)) return false;
      this.#byNamespace.set(ns, s);
      return true;
    }
    return addToSnapshot(s, obj);
  }

  async snapshot(namespace: string): Promise<NamespaceSnapshot> {
    return this.snapshotSync(namespace);
  }

  snapshotSync(namespace: string): NamespaceSnapshot {
    return this.#byNamespace.get(namespace) ?? emptySnapshot(namespace);
  }
}
