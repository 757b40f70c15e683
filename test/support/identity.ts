// Fixtures for identity integration tests. Pods never run on the test control plane, so tests play
// the sidecar: they create the Pod object and get a pod-bound token from the TokenRequest API.
import * as k8s from "@kubernetes/client-node";
import { API_VERSION, GROUP, VERSION } from "../../api/v1alpha1/common.ts";
import { KINDS } from "../../api/v1alpha1/kinds.ts";
import { LABEL_ENCLAVE, LABEL_TOOL_SERVER } from "../../api/v1alpha1/labels.ts";
import { ISSUER_TOKEN_AUDIENCE } from "../../api/v1alpha1/sidecar.ts";
import type { IdentityServicesDeps, LeaderState } from "../../operator/identity/contract.ts";
import { engineSettings } from "../../webhook/evaluate.ts";
import { ANNOTATION_TOOL_SERVER_PORT, injectGateway } from "../../webhook/inject.ts";
import { DEFAULT_SIDECAR_CONFIG } from "../../webhook/sidecar-config.ts";
import { createNamespace, kubeConfig } from "./kube.ts";
import { waitFor as pollUntil } from "./operator-process.ts";

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

/**
 * Deps for startIdentityServices in a test on the shared cluster: the issuer on 127.0.0.1 (any
 * port), the CA in the fixture's operator namespace, and leader-only work (bundle publishing,
 * Secret delivery) confined to the fixture's namespace, because other operators share the cluster.
 */
export function fixtureIdentityDeps(
  fx: { operatorNamespace: string; namespace: string },
  deps: Omit<IdentityServicesDeps, "kc" | "operatorNamespace" | "namespaces" | "issuer" | "admission"> & {
    issuer: Omit<IdentityServicesDeps["issuer"], "host" | "port">;
  },
): IdentityServicesDeps {
  return {
    kc: clients().kc,
    operatorNamespace: fx.operatorNamespace,
    bundleResync: "1s",
    // The issuer re-checks pods against the sidecar createPod injects.
    admission: engineSettings(TEST_SIDECAR),
    ...deps,
    issuer: { host: "127.0.0.1", port: 0, ...deps.issuer },
    namespaces: new Set([fx.namespace]),
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
/** The sidecar configuration of the identity tests: what the issuer expects createPod's pods to run. */
export const TEST_SIDECAR = DEFAULT_SIDECAR_CONFIG;
/** The port createPod's tool-server pods declare (warden.dev/tool-server-port). */
export const TEST_TOOL_SERVER_PORT = 8080;

/**
 * A pod as the webhook would admit it: the agent (or tool-server) container, and the gateway
 * sidecar injected by the real injector. There is no webhook in these tests, so `edit` can build
 * exactly the pod an admission bypass would let through (the issuer must refuse those).
 */
export async function createPod(
  namespace: string,
  name: string,
  serviceAccount: string,
  labels: Record<string, string>,
  edit: (pod: k8s.V1Pod) => void = () => {},
): Promise<k8s.V1Pod> {
  const { core } = clients();
  const source: k8s.V1Pod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name,
      labels,
      ...(labels[LABEL_TOOL_SERVER]
        ? { annotations: { [ANNOTATION_TOOL_SERVER_PORT]: String(TEST_TOOL_SERVER_PORT) } }
        : {}),
    },
    spec: {
      serviceAccountName: serviceAccount,
      automountServiceAccountToken: false,
      containers: [{ name: "agent", image: "registry.example/agent:1" }],
    },
  };
  const pod = injectGateway(source, TEST_SIDECAR).object as k8s.V1Pod;
  edit(pod);
  return core.createNamespacedPod({ namespace, body: pod });
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

/** operator-process.ts's waitFor with the identity tests' shorter defaults (30 s, every 200 ms). */
export function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 30_000,
  everyMs = 200,
): Promise<T> {
  return pollUntil(what, fn, timeoutMs, everyMs);
}
