// Fixtures for identity integration tests. Pods never run on the test control plane, so tests play
// the sidecar: they create the Pod object and get a pod-bound token from the TokenRequest API.
import * as k8s from "@kubernetes/client-node";
import { API_VERSION, GROUP, VERSION } from "../../api/v1alpha1/common.ts";
import { KINDS } from "../../api/v1alpha1/kinds.ts";
import { LABEL_ENCLAVE } from "../../api/v1alpha1/labels.ts";
import { ISSUER_TOKEN_AUDIENCE } from "../../api/v1alpha1/sidecar.ts";
import type { LeaderState } from "../../operator/identity/contract.ts";
import { createNamespace, kubeConfig } from "./kube.ts";

export function clients() {
  const kc = kubeConfig();
  return { kc, core: kc.makeApiClient(k8s.CoreV1Api), custom: kc.makeApiClient(k8s.CustomObjectsApi) };
}

/** A LeaderState that says what the test wants and can flip. */
export function fakeLeader(initial = true): LeaderState & { set(leader: boolean): void } {
  let leader = initial;
  const cbs: ((l: boolean) => void)[] = [];
  return {
    isLeader: () => leader,
    onChange: (cb) => {
      cbs.push(cb);
    },
    set(l) {
      leader = l;
      for (const cb of cbs) cb(l);
    },
  };
}

/** An operator namespace and an enclave namespace (labelled) with an AgentEnclave `enc`. */
export async function enclaveFixture(prefix: string, maxSvidTTL = "1h") {
  const { core, custom } = clients();
  const op = await createNamespace(`${prefix}-op`);
  const ns = await createNamespace(`${prefix}-agents`, { [LABEL_ENCLAVE]: "enc" });
  await custom.createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace: ns.name,
    plural: KINDS.AgentEnclave.plural,
    body: { apiVersion: API_VERSION, kind: "AgentEnclave", metadata: { name: "enc" }, spec: { maxSvidTTL } },
  });
  return {
    operatorNamespace: op.name,
    namespace: ns.name,
    core,
    custom,
    cleanup: async () => {
      await ns.cleanup();
      await op.cleanup();
    },
  };
}

export async function createIdentity(
  namespace: string,
  name: string,
  spec: Record<string, unknown> = {},
): Promise<{ uid: string }> {
  const { custom } = clients();
  const obj = (await custom.createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace,
    plural: KINDS.AgentIdentity.plural,
    body: {
      apiVersion: API_VERSION,
      kind: "AgentIdentity",
      metadata: { name },
      spec: { enclave: "enc", agentType: "test-agent", ...spec },
    },
  })) as { metadata: { uid: string } };
  return { uid: obj.metadata.uid };
}

export async function patchIdentitySpec(
  namespace: string,
  name: string,
  spec: Record<string, unknown>,
): Promise<void> {
  const { custom } = clients();
  await custom.patchNamespacedCustomObject(
    { group: GROUP, version: VERSION, namespace, plural: KINDS.AgentIdentity.plural, name, body: { spec } },
    k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
  );
}

export async function createServiceAccount(namespace: string, name: string): Promise<void> {
  const { core } = clients();
  await core.createNamespacedServiceAccount({
    namespace,
    body: { metadata: { name }, automountServiceAccountToken: false },
  });
}

/** A pod object (never scheduled) running as `serviceAccount` with `labels`. */
export async function createPod(
  namespace: string,
  name: string,
  serviceAccount: string,
  labels: Record<string, string>,
): Promise<k8s.V1Pod> {
  const { core } = clients();
  return core.createNamespacedPod({
    namespace,
    body: {
      metadata: { name, labels },
      spec: {
        serviceAccountName: serviceAccount,
        automountServiceAccountToken: false,
        containers: [{ name: "agent", image: "registry.example/agent:1" }],
      },
    },
  });
}

/** TokenRequest for the issuer audience, bound to `pod` unless it is omitted. */
export async function issuerToken(
  namespace: string,
  serviceAccount: string,
  pod?: k8s.V1Pod,
): Promise<string> {
  const { core } = clients();
  const res = await core.createNamespacedServiceAccountToken({
    namespace,
    name: serviceAccount,
    body: {
      spec: {
        audiences: [ISSUER_TOKEN_AUDIENCE],
        expirationSeconds: 600,
        boundObjectRef: pod
          ? { apiVersion: "v1", kind: "Pod", name: pod.metadata!.name!, uid: pod.metadata!.uid! }
          : undefined,
      },
    },
  });
  const token = res.status?.token;
  if (!token) throw new Error("TokenRequest returned no token");
  return token;
}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs = 30_000,
  everyMs = 200,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < until) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`);
}
