// The agent's credentials Secret: the credential of every tool server in its compiled policy,
// copied from the Secret each ToolManifest's spec.credential names, one key per ToolManifest
// (credentialFileName). The gateway sidecar mounts it; the agent container never does (the
// validator's gateway.volumesPrivate rule). Pods name one Secret whose name depends only on the
// agent, so grants can change without re-injecting pods, and the kubelet refreshes the mounted
// files when the operator rewrites the Secret.
//
// The operator cannot list or watch Secrets (least privilege): it reads the named Secrets with
// GET when the identity is reconciled, and looks again every CREDENTIAL_REFRESH_MS so that a
// rotated credential reaches the gateways without a change to any warden object.
import type * as k8s from "@kubernetes/client-node";
import type { CompiledServer } from "../../api/v1alpha1/policy.ts";
import { credentialFileName } from "../../api/v1alpha1/sidecar.ts";
import type { ConditionInput } from "../runtime/conditions.ts";

/** How often an agent with credentials is reconciled again to pick up rotated source Secrets. */
export const CREDENTIAL_REFRESH_MS = 5 * 60_000;

export interface MissingCredential {
  manifest: string;
  secretName: string;
  key: string;
  reason: "SecretNotFound" | "KeyNotFound" | "InvalidName";
}

export interface CredentialProjection {
  /** Secret data (base64, as the API carries it), keyed by ToolManifest name. */
  data: Record<string, string>;
  /** Servers of the policy that carry a credential, sorted. */
  manifests: string[];
  missing: MissingCredential[];
}

/** Reads one Secret of the agent's namespace; undefined when it does not exist. */
export type ReadSecret = (name: string) => Promise<k8s.V1Secret | undefined>;

export async function projectCredentials(
  servers: readonly CompiledServer[],
  read: ReadSecret,
): Promise<CredentialProjection> {
  const data: Record<string, string> = {};
  const missing: MissingCredential[] = [];
  const manifests: string[] = [];
  const cache = new Map<string, Promise<k8s.V1Secret | undefined>>();
  for (const server of [...servers].sort((a, b) => (a.manifest < b.manifest ? -1 : 1))) {
    const cred = server.credential;
    if (!cred) continue;
    manifests.push(server.manifest);
    const where = { manifest: server.manifest, secretName: cred.secretName, key: cred.key };
    const file = credentialFileName(server.manifest);
    if (file === undefined) {
      missing.push({ ...where, reason: "InvalidName" });
      continue;
    }
    let secret = cache.get(cred.secretName);
    if (!secret) {
      secret = read(cred.secretName);
      cache.set(cred.secretName, secret);
    }
    const s = await secret;
    if (!s) {
      missing.push({ ...where, reason: "SecretNotFound" });
      continue;
    }
    const value = s.data?.[cred.key];
    if (value === undefined || value === "") {
      missing.push({ ...where, reason: "KeyNotFound" });
      continue;
    }
    data[file] = value;
  }
  return { data, manifests, missing };
}

/** The CredentialsReady condition, or undefined when the agent has no credentialed tool server. */
export function credentialsCondition(
  p: CredentialProjection,
  secretName: string,
): ConditionInput | undefined {
  if (p.manifests.length === 0) return undefined;
  if (p.missing.length === 0) {
    return {
      type: "CredentialsReady",
      status: "True",
      reason: "Projected",
      message: `The credentials of ${p.manifests.join(", ")} are in Secret ${secretName}, mounted into the gateway sidecar only.`,
    };
  }
  const what = p.missing
    .map((m) =>
      m.reason === "SecretNotFound"
        ? `ToolManifest ${m.manifest}: Secret ${m.secretName} does not exist`
        : m.reason === "KeyNotFound"
          ? `ToolManifest ${m.manifest}: Secret ${m.secretName} has no (non-empty) key ${m.key}`
          : `ToolManifest ${m.manifest}: the name cannot be a file name`,
    )
    .join("; ");
  return {
    type: "CredentialsReady",
    status: "False",
    reason: p.missing[0]?.reason ?? "SecretNotFound",
    message: `${what}. Calls to those servers are denied (CredentialUnavailable) until the credential exists; create the Secret or fix spec.credential.`,
  };
}

/** Same data, key for key (the live Secret's data is compared as the API returns it). */
export function sameData(
  a: Record<string, string> | undefined,
  b: Record<string, string> | undefined,
): boolean {
  const ka = Object.keys(a ?? {}).sort();
  const kb = Object.keys(b ?? {}).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && a?.[k] === b?.[k]);
}
