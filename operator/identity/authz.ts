// Decides whether an authenticated token may obtain an SVID, and for which SPIFFE ID and TTL.
// The token must be bound to a live pod (uid matches, not terminating) that runs as the token's
// ServiceAccount and is either an agent pod (label warden.dev/agent → an AgentIdentity whose
// ServiceAccount is this one, not suspended) or a tool-server pod (warden.dev/tool-server → a
// ToolManifest whose spec.server.serviceAccountName is this one). Rules are pure functions; the
// class only fetches. Identities are read fresh or from a cache of ≤ 2 s so suspension bites at once.
import type * as k8s from "@kubernetes/client-node";
import * as z from "zod";
import { GROUP, VERSION } from "../../api/v1alpha1/common.ts";
import { KINDS } from "../../api/v1alpha1/kinds.ts";
import { LABEL_AGENT, LABEL_TOOL_SERVER } from "../../api/v1alpha1/labels.ts";
import { DeniedError, UnavailableError } from "../../lib/errors.ts";
import { workloadID } from "../../lib/identity/spiffe-id.ts";
import { TtlLoader } from "../../lib/ttl-cache.ts";
import type { EngineSettings } from "../../webhook/context.ts";
import { formatViolation } from "../../webhook/rules/index.ts";
import { type IssuanceSubject, issuanceViolations } from "../../webhook/rules/issuance.ts";
import type { TokenIdentity } from "./authn.ts";
import { effectiveTTLms } from "./duration.ts";
import { identityMetadataView, identitySpecView } from "./identity-view.ts";
import { isNotFound, statusOf } from "./kube-errors.ts";

export interface WorkloadGrant {
  kind: "agent" | "toolServer";
  namespace: string;
  /** AgentIdentity or ToolManifest name. */
  name: string;
  serviceAccount: string;
  spiffeID: string;
  ttlMs: number;
  jwtAudiences: string[];
}

/** The parts of an AgentIdentity the issuer relies on (the CRD validated the rest). */
const identityView = z.object({ metadata: identityMetadataView, spec: identitySpecView });
export type IdentityView = z.infer<typeof identityView>;
const enclaveView = z.object({ spec: z.object({ maxSvidTTL: z.string().optional() }).optional() });
const manifestView = z.object({
  spec: z.object({
    server: z.object({ serviceAccountName: z.string().optional(), port: z.number().optional() }).optional(),
  }),
});

/** Pure: is this pod the live, labelled pod the token is bound to? Returns which kind of workload. */
export function checkPod(
  pod: k8s.V1Pod | undefined,
  tok: TokenIdentity,
): { kind: "agent"; identity: string } | { kind: "toolServer"; manifest: string } {
  const where = `${tok.namespace}/${tok.podName}`;
  if (!pod) throw new DeniedError("PodNotFound", `pod ${where} the token is bound to does not exist`);
  if (pod.metadata?.uid !== tok.podUID) {
    throw new DeniedError(
      "PodNotFound",
      `pod ${where} was replaced (uid differs from the token's); use the new pod's token`,
    );
  }
  if (pod.metadata?.deletionTimestamp)
    throw new DeniedError("PodTerminating", `pod ${where} is being deleted`);
  if ((pod.spec?.serviceAccountName ?? "default") !== tok.serviceAccount) {
    throw new DeniedError(
      "ServiceAccountMismatch",
      `pod ${where} does not run as ServiceAccount ${tok.serviceAccount}`,
    );
  }
  const labels = pod.metadata?.labels ?? {};
  const agent = labels[LABEL_AGENT];
  const tool = labels[LABEL_TOOL_SERVER];
  if (agent && tool) {
    throw new DeniedError(
      "PodLabelsAmbiguous",
      `pod ${where} carries both ${LABEL_AGENT} and ${LABEL_TOOL_SERVER}; keep one`,
    );
  }
  if (agent) return { kind: "agent", identity: agent };
  if (tool) return { kind: "toolServer", manifest: tool };
  throw new DeniedError(
    "PodNotAgent",
    `pod ${where} has neither a ${LABEL_AGENT} nor a ${LABEL_TOOL_SERVER} label; only agent and tool-server pods get SVIDs`,
  );
}

/** Pure: may the identity be issued to this token's ServiceAccount now? */
export function checkIdentity(
  identity: IdentityView | undefined,
  name: string,
  tok: TokenIdentity,
): IdentityView {
  if (!identity)
    throw new DeniedError(
      "IdentityNotFound",
      `AgentIdentity ${tok.namespace}/${name} named by the pod's ${LABEL_AGENT} label does not exist`,
    );
  const sa = identity.spec.serviceAccountName ?? identity.metadata.name;
  if (sa !== tok.serviceAccount) {
    throw new DeniedError(
      "ServiceAccountMismatch",
      `AgentIdentity ${tok.namespace}/${name} uses ServiceAccount ${sa}, but the token is for ${tok.serviceAccount}`,
    );
  }
  if (identity.spec.suspended) {
    throw new DeniedError(
      "IdentitySuspended",
      `AgentIdentity ${tok.namespace}/${name} is suspended; set spec.suspended: false to resume`,
    );
  }
  if (identity.metadata.deletionTimestamp)
    throw new DeniedError("IdentityDeleted", `AgentIdentity ${tok.namespace}/${name} is being deleted`);
  return identity;
}

export function checkToolServer(
  manifest: z.infer<typeof manifestView> | undefined,
  name: string,
  tok: TokenIdentity,
): void {
  if (!manifest)
    throw new DeniedError(
      "ToolManifestNotFound",
      `ToolManifest ${tok.namespace}/${name} named by the pod's ${LABEL_TOOL_SERVER} label does not exist`,
    );
  const sa = manifest.spec.server?.serviceAccountName;
  if (!sa) {
    throw new DeniedError(
      "ServiceAccountMismatch",
      `ToolManifest ${tok.namespace}/${name} sets no spec.server.serviceAccountName; set it to the tool server's ServiceAccount`,
    );
  }
  if (sa !== tok.serviceAccount) {
    throw new DeniedError(
      "ServiceAccountMismatch",
      `ToolManifest ${tok.namespace}/${name} names ServiceAccount ${sa}, but the token is for ${tok.serviceAccount}`,
    );
  }
}

/**
 * Pure: does the pod still meet the admission rules that keep the gateway in it, unmodified and
 * alone with its credentials (webhook/rules/issuance.ts)? The webhook checked them when the pod was
 * created, unless it was bypassed; checking again here keeps one missed admission from becoming an
 * identity.
 */
export function checkPodRules(
  pod: k8s.V1Pod,
  tok: TokenIdentity,
  subject: IssuanceSubject,
  settings: EngineSettings,
  now: Date,
): void {
  const violations = issuanceViolations(pod, tok.namespace, subject, settings, now);
  if (violations.length === 0) return;
  const detail = violations.slice(0, 5).map(formatViolation).join("; ");
  const more = violations.length > 5 ? ` (and ${violations.length - 5} more)` : "";
  throw new DeniedError(
    "PodNotAdmissible",
    `pod ${tok.namespace}/${tok.podName} breaks ${violations.length} admission rule(s) the issuer re-checks: ${detail}${more}; delete it and let the webhook admit a new one`,
  );
}

export class WorkloadAuthorizer {
  readonly #core: k8s.CoreV1Api;
  readonly #custom: k8s.CustomObjectsApi;
  readonly #trustDomain: string;
  readonly #ttlOverride: string | undefined;
  readonly #maxTTL: string | undefined;
  readonly #admission: EngineSettings;
  readonly #now: () => number;
  readonly #identities: TtlLoader<IdentityView | undefined>;
  readonly #enclaves: TtlLoader<z.infer<typeof enclaveView> | undefined>;
  readonly #manifests: TtlLoader<z.infer<typeof manifestView> | undefined>;

  constructor(opts: {
    core: k8s.CoreV1Api;
    custom: k8s.CustomObjectsApi;
    trustDomain: string;
    ttlOverride?: string;
    /** Cluster-wide TTL cap (the operator's --svid-max-ttl). */
    maxTTL?: string;
    /** The sidecar the webhook injects (template hashes, image, UID): the pod rules compare to it. */
    admission: EngineSettings;
    /** ≤ 2000: how stale a suspension may be seen. */
    cacheMs?: number;
    now?: () => number;
  }) {
    this.#core = opts.core;
    this.#custom = opts.custom;
    this.#trustDomain = opts.trustDomain;
    this.#ttlOverride = opts.ttlOverride;
    this.#maxTTL = opts.maxTTL;
    this.#admission = opts.admission;
    this.#now = opts.now ?? Date.now;
    const ttl = Math.min(opts.cacheMs ?? 1000, 2000);
    const now = opts.now ?? Date.now;
    this.#identities = new TtlLoader({ maxEntries: 20_000, ttlMs: ttl, now });
    this.#enclaves = new TtlLoader({ maxEntries: 20_000, ttlMs: ttl, now });
    this.#manifests = new TtlLoader({ maxEntries: 20_000, ttlMs: ttl, now });
  }

  async authorize(tok: TokenIdentity): Promise<WorkloadGrant> {
    const pod = await this.#readPod(tok.namespace, tok.podName);
    const which = checkPod(pod, tok);
    const live = pod as k8s.V1Pod; // checkPod refused a missing pod
    const spiffeID = workloadID(this.#trustDomain, tok.namespace, tok.serviceAccount);
    if (which.kind === "toolServer") {
      const manifest = await this.#manifests.get(`${tok.namespace}/${which.manifest}`, () =>
        this.#readCustom(manifestView, tok.namespace, KINDS.ToolManifest.plural, which.manifest),
      );
      checkToolServer(manifest, which.manifest, tok);
      checkPodRules(
        live,
        tok,
        {
          kind: "toolServer",
          enclave: "",
          manifest: { name: which.manifest, port: manifest?.spec.server?.port },
        },
        this.#admission,
        new Date(this.#now()),
      );
      return {
        kind: "toolServer",
        namespace: tok.namespace,
        name: which.manifest,
        serviceAccount: tok.serviceAccount,
        spiffeID,
        ttlMs: effectiveTTLms({ clusterMaxTTL: this.#maxTTL, override: this.#ttlOverride }),
        jwtAudiences: [],
      };
    }
    const identity = checkIdentity(
      await this.#identities.get(`${tok.namespace}/${which.identity}`, () =>
        this.#readCustom(identityView, tok.namespace, KINDS.AgentIdentity.plural, which.identity),
      ),
      which.identity,
      tok,
    );
    checkPodRules(
      live,
      tok,
      {
        kind: "agent",
        enclave: identity.spec.enclave,
        identity: { name: which.identity, svid: identity.spec.svid },
      },
      this.#admission,
      new Date(this.#now()),
    );
    const enclave = await this.#enclaves.get(`${tok.namespace}/${identity.spec.enclave}`, () =>
      this.#readCustom(enclaveView, tok.namespace, KINDS.AgentEnclave.plural, identity.spec.enclave),
    );
    if (!enclave) {
      throw new DeniedError(
        "EnclaveNotFound",
        `AgentEnclave ${tok.namespace}/${identity.spec.enclave} named by the AgentIdentity does not exist`,
      );
    }
    return {
      kind: "agent",
      namespace: tok.namespace,
      name: which.identity,
      serviceAccount: tok.serviceAccount,
      spiffeID,
      ttlMs: effectiveTTLms({
        identityTTL: identity.spec.svid?.ttl,
        enclaveMaxTTL: enclave.spec?.maxSvidTTL,
        clusterMaxTTL: this.#maxTTL,
        override: this.#ttlOverride,
      }),
      jwtAudiences: identity.spec.svid?.jwtAudiences ?? [],
    };
  }

  async #readPod(namespace: string, name: string): Promise<k8s.V1Pod | undefined> {
    try {
      return await this.#core.readNamespacedPod({ namespace, name });
    } catch (err) {
      if (isNotFound(err)) return undefined;
      // The operator may read pods only in enclave namespaces (RBAC bound per enclave).
      if (statusOf(err) === 403) {
        throw new DeniedError(
          "NamespaceNotEnclave",
          `namespace ${namespace} is not an enclave (no AgentEnclave made it readable to the issuer); create an AgentEnclave there`,
        );
      }
      throw new UnavailableError(`reading pod ${namespace}/${name} failed: ${(err as Error).message}`);
    }
  }

  async #readCustom<T>(
    schema: z.ZodType<T>,
    namespace: string,
    plural: string,
    name: string,
  ): Promise<T | undefined> {
    let obj: unknown;
    try {
      obj = await this.#custom.getNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace,
        plural,
        name,
      });
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw new UnavailableError(`reading ${plural} ${namespace}/${name} failed: ${(err as Error).message}`);
    }
    const parsed = schema.safeParse(obj);
    // An object we cannot read is treated as absent: fail closed.
    if (!parsed.success)
      throw new DeniedError(
        "ObjectInvalid",
        `${plural} ${namespace}/${name} could not be read: ${parsed.error.message}`,
      );
    return parsed.data;
  }
}
