// AgentIdentity controller: the agent's ServiceAccount, its compiled gateway policy ConfigMap and
// its status (SPIFFE ID, effective TTL, conditions). It never writes status.lastIssued: the
// issuer owns that field under its own field manager, and server-side apply keeps them apart.
import type * as k8s from "@kubernetes/client-node";
import {
  agentIdentitySpec,
  credentialsSecretName,
  type GatewayPolicy,
  KINDS,
  LABEL_AGENT,
  LABEL_AGENT_TYPE,
  LABEL_ENCLAVE,
  LABEL_MANAGED_BY,
  MANAGED_BY,
  POLICY_FILE,
  policyConfigMapName,
} from "../../api/v1alpha1/index.ts";
import { canonicalJSON } from "../../lib/canonical-json.ts";
import { zodIssues } from "../../lib/errors.ts";
import { isSubset } from "../runtime/apply.ts";
import { mergeConditions } from "../runtime/conditions.ts";
import type { ReconcileResult } from "../runtime/workqueue.ts";
import {
  type Caches,
  type Enclave,
  type Identity,
  namespaceEnclave,
  olderFirst,
  splitKey,
} from "./caches.ts";
import type { ControllerContext } from "./context.ts";
import {
  CREDENTIAL_REFRESH_MS,
  type CredentialProjection,
  credentialsCondition,
  projectCredentials,
  sameData,
} from "./credentials.ts";
import { decideIdentity, serviceAccountNameOf } from "./identity-eval.ts";
import { compilePolicy, type PolicyProblem, policyToWrite, type ResolvedManifest } from "./policy.ts";
import { statusUnchanged } from "./status.ts";
import { evaluateCached } from "./toolmanifest.ts";
import { ownerRef } from "./writer.ts";

/** Task-token issuers of the enclave with their JWKS from the named ConfigMaps (empty keys when missing: fail closed). */
function taskTokens(caches: Caches, enclave: Enclave | undefined): GatewayPolicy["taskTokens"] {
  const issuers = (enclave?.spec.taskTokenIssuers ?? []).map((t) => {
    const raw = caches.jwksConfigMaps.get(t.jwksConfigMap, enclave?.metadata.namespace)?.data?.["jwks.json"];
    let keys: Record<string, unknown>[] = [];
    try {
      const parsed = raw ? (JSON.parse(raw) as { keys?: unknown }) : undefined;
      if (Array.isArray(parsed?.keys))
        keys = parsed.keys.filter((k): k is Record<string, unknown> => typeof k === "object" && k !== null);
    } catch {
      keys = [];
    }
    return { issuer: t.issuer, jwks: { keys } };
  });
  return { required: enclave?.spec.requireTaskToken ?? false, issuers };
}

export async function reconcileIdentity(
  ctx: ControllerContext,
  key: string,
): Promise<ReconcileResult | undefined> {
  const { namespace, name } = splitKey(key);
  const { caches, writer, settings } = ctx;
  const cached = caches.identities.get(name, namespace);
  if (!cached || cached.metadata.deletionTimestamp) return undefined;
  const generation = cached.metadata.generation;

  const parsed = agentIdentitySpec.safeParse(cached.spec);
  if (!parsed.success) {
    const msg = `Fix the spec: ${zodIssues(parsed.error)
      .map((i) => `spec.${i.path}: ${i.message}`)
      .join("; ")}`;
    await writeStatus(ctx, cached, {
      observedGeneration: generation,
      conditions: mergeConditions(
        cached.status?.conditions,
        [{ type: "Ready", status: "False", reason: "InvalidSpec", message: msg }],
        generation,
        ctx.now(),
      ),
    });
    return undefined;
  }
  const identity: Identity = { ...cached, spec: parsed.data };

  const named = caches.enclaves.get(identity.spec.enclave, namespace);
  const enclave = named && !named.metadata.deletionTimestamp ? named : undefined;
  const winner = namespaceEnclave(caches, namespace);
  const enclaveRefused =
    enclave && winner && winner.metadata.uid !== enclave.metadata.uid
      ? `AgentEnclave ${enclave.metadata.name} is refused: namespace ${namespace} belongs to AgentEnclave ${winner.metadata.name}; use that enclave`
      : undefined;

  const sa = serviceAccountNameOf(identity);
  const older = caches.identities
    .list(namespace)
    .filter((i) => serviceAccountNameOf(i) === sa && !i.metadata.deletionTimestamp)
    .sort(olderFirst)[0];
  const olderClaimant =
    older && older.metadata.uid !== identity.metadata.uid ? older.metadata.name : undefined;
  // The cache holds only ServiceAccounts we labelled; one missing from it may still exist
  // unlabelled (e.g. "default"): creating it below finds out (409) without caching every
  // ServiceAccount of the cluster.
  const ownedByThis = (o: k8s.V1ServiceAccount) =>
    o.metadata?.ownerReferences?.some((r) => r.uid === identity.metadata.uid) ?? false;
  const liveSA = caches.serviceAccounts.get(sa, namespace);
  let serviceAccountTaken = liveSA !== undefined && !ownedByThis(liveSA);

  const manifests = new Map<string, ResolvedManifest>();
  for (const g of identity.spec.grants ?? []) {
    const m = caches.manifests.get(g.manifest.name, namespace);
    if (!m || m.metadata.deletionTimestamp) continue;
    const e = evaluateCached(m);
    manifests.set(g.manifest.name, {
      spec: e.spec,
      accepted: e.accepted.status === "True",
      acceptedMessage: e.accepted.message,
      tools: e.tools,
    });
  }
  // Decided twice: first for the SPIFFE ID the policy is compiled for, then with the policy's problems.
  const decide = (policyProblems: PolicyProblem[]) =>
    decideIdentity({
      identity,
      trustDomain: settings.trustDomain,
      enclave,
      enclaveRefused,
      olderClaimant,
      serviceAccountTaken,
      clusterMaxTTL: settings.svidMaxTTL,
      policyProblems,
    });
  const decision0 = decide([]);
  const { policy, problems } = compilePolicy({
    identity,
    spiffeID: decision0.spiffeID,
    trustDomain: settings.trustDomain,
    manifests,
    enclaveToolServers: enclave?.spec.toolServers ?? [],
    taskTokens: taskTokens(caches, enclave),
  });
  let decision = decide(problems);

  const owner = ownerRef({
    apiVersion: identity.apiVersion,
    kind: KINDS.AgentIdentity.kind,
    metadata: identity.metadata,
  });
  const labels = {
    [LABEL_MANAGED_BY]: MANAGED_BY,
    [LABEL_AGENT]: name,
    [LABEL_ENCLAVE]: identity.spec.enclave,
    [LABEL_AGENT_TYPE]: identity.spec.agentType,
  };
  if (decision.admitted) {
    const desiredSA: k8s.V1ServiceAccount = {
      apiVersion: "v1",
      kind: "ServiceAccount",
      metadata: { name: sa, namespace, labels, ownerReferences: [owner] },
      automountServiceAccountToken: false,
    };
    if (liveSA && isSubset(desiredSA, liveSA)) ctx.metrics.writesSkipped.inc({ resource: "serviceaccounts" });
    else if (liveSA) await writer.applyServiceAccount(desiredSA);
    else {
      const existing = await writer.createServiceAccount(desiredSA);
      if (existing && !ownedByThis(existing)) {
        serviceAccountTaken = true;
        decision = decide(problems);
      } else if (existing && !isSubset(desiredSA, existing)) await writer.applyServiceAccount(desiredSA);
    }
  }

  // The policy ConfigMap: the compiled grants when admitted; deny-all when refused and one exists.
  const cmName = policyConfigMapName(name);
  const liveCM = caches.configMaps.get(cmName, namespace);
  const toWrite = policyToWrite({
    decision,
    compiled: policy,
    identity,
    hasPolicy: liveCM?.metadata?.ownerReferences?.some((o) => o.uid === identity.metadata.uid) ?? false,
  });
  if (toWrite) {
    const data = canonicalJSON(toWrite);
    const cm: k8s.V1ConfigMap = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: cmName, namespace, labels, ownerReferences: [owner] },
      data: { [POLICY_FILE]: data },
    };
    if (liveCM && liveCM.data?.[POLICY_FILE] === data && isSubset(cm.metadata, liveCM.metadata)) {
      ctx.metrics.writesSkipped.inc({ resource: "configmaps" });
    } else await writer.applyConfigMap(cm);
  }

  // The credentials of the servers the written policy grants (none for a refused identity).
  const projection = await projectCredentials(toWrite?.servers ?? [], (n) => ctx.secrets.get(namespace, n));
  const hadCredentials = identity.status?.conditions?.some((c) => c.type === "CredentialsReady") ?? false;
  await applyCredentials(ctx, { namespace, agent: name, labels, owner }, projection, hadCredentials);
  const credentialsReady = credentialsCondition(projection, credentialsSecretName(name));

  const status: Record<string, unknown> = {
    observedGeneration: generation,
    spiffeID: decision.spiffeID,
    serviceAccountName: decision.serviceAccountName,
    conditions: mergeConditions(
      identity.status?.conditions,
      credentialsReady ? [...decision.conditions, credentialsReady] : decision.conditions,
      generation,
      ctx.now(),
    ),
  };
  if (decision.effectiveTTL) status.effectiveTTL = decision.effectiveTTL;
  // The version of what the ConfigMap holds: compiled, or deny-all for a refused identity.
  if (toWrite) status.policy = { configMap: cmName, version: toWrite.version };
  const changed = await writeStatus(ctx, identity, status);

  const ready = decision.conditions.find((c) => c.type === "Ready");
  const previousReady = identity.status?.conditions?.find((c) => c.type === "Ready");
  if (changed && ready && readyEventWanted(previousReady, ready)) {
    await writer.event(
      { kind: KINDS.AgentIdentity.kind, name, namespace, uid: identity.metadata.uid },
      ready.status === "True" ? "Normal" : "Warning",
      ready.reason,
      ready.message,
    );
  }
  // Source Secrets are not watched: look again so that a rotated credential is projected.
  return projection.manifests.length > 0 ? { requeueAfterMs: CREDENTIAL_REFRESH_MS } : undefined;
}

/**
 * Writes the agent's credentials Secret when its data differs, and deletes it when the agent no
 * longer has a credentialed tool server. Without credentials now or before (no CredentialsReady
 * condition), nothing is read: agents without credentials cost no API call here.
 */
async function applyCredentials(
  ctx: ControllerContext,
  agent: { namespace: string; agent: string; labels: Record<string, string>; owner: k8s.V1OwnerReference },
  projection: CredentialProjection,
  hadCredentials: boolean,
): Promise<void> {
  const secretName = credentialsSecretName(agent.agent);
  if (projection.manifests.length === 0 && !hadCredentials) return;
  const live = await ctx.secrets.get(agent.namespace, secretName);
  const ours = live?.metadata?.ownerReferences?.some((o) => o.uid === agent.owner.uid) ?? false;
  if (projection.manifests.length === 0) {
    if (live && ours) await ctx.writer.deleteSecret(agent.namespace, secretName);
    return;
  }
  const secret: k8s.V1Secret = {
    apiVersion: "v1",
    kind: "Secret",
    type: "Opaque",
    metadata: {
      name: secretName,
      namespace: agent.namespace,
      labels: agent.labels,
      ownerReferences: [agent.owner],
    },
    data: projection.data,
  };
  if (live && ours && sameData(live.data, projection.data) && isSubset(secret.metadata, live.metadata)) {
    ctx.metrics.writesSkipped.inc({ resource: "secrets" });
    return;
  }
  await ctx.writer.applySecret(secret);
}

/**
 * An Event when Ready changes, except for a new identity that comes up Ready: its status already
 * says so, and an Event per identity at creation is a fourth API write for every agent (5,000
 * agents: 5,000 Events nobody reads). A new identity that is refused does get its Warning.
 */
export function readyEventWanted(
  previous: { status: string; reason: string } | undefined,
  next: { status: string; reason: string },
): boolean {
  if (!previous) return next.status !== "True";
  return previous.reason !== next.reason || previous.status !== next.status;
}

async function writeStatus(
  ctx: ControllerContext,
  identity: Identity,
  status: Record<string, unknown>,
): Promise<boolean> {
  if (statusUnchanged(status, identity.status as Record<string, unknown> | undefined)) {
    ctx.metrics.writesSkipped.inc({ resource: "agentidentities/status" });
    return false;
  }
  await ctx.writer.applyStatus(
    KINDS.AgentIdentity.plural,
    identity.metadata.namespace ?? "",
    identity.metadata.name ?? "",
    KINDS.AgentIdentity.kind,
    status,
  );
  return true;
}
