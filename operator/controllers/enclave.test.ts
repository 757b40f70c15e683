import { describe, expect, it } from "vitest";
import type { Enclave } from "./caches.ts";
import { desiredRoleBinding, roleBindingMatches } from "./enclave.ts";

const enclave = {
  apiVersion: "warden.dev/v1alpha1",
  kind: "AgentEnclave",
  metadata: { name: "proj", namespace: "ns", uid: "u1" },
  spec: {},
} as unknown as Enclave;
const settings = {
  enclaveClusterRole: "agent-warden-enclave",
  serviceAccount: "op",
  operatorNamespace: "sys",
};

describe("roleBindingMatches", () => {
  const desired = desiredRoleBinding(settings, enclave);

  it("binds the enclave role to the operator's ServiceAccount, owned by the enclave", () => {
    expect(desired.metadata).toMatchObject({
      name: "agent-warden-operator",
      namespace: "ns",
      labels: { "warden.dev/enclave": "proj", "app.kubernetes.io/managed-by": "agent-warden" },
      ownerReferences: [{ kind: "AgentEnclave", name: "proj", uid: "u1" }],
    });
    expect(desired.subjects).toEqual([{ kind: "ServiceAccount", name: "op", namespace: "sys" }]);
  });

  it("matches the live binding as the API server returns it, not a missing or edited one", () => {
    const live = JSON.parse(JSON.stringify(desired));
    live.metadata.resourceVersion = "7";
    live.metadata.labels.extra = "x";
    expect(roleBindingMatches(desired, live)).toBe(true);
    expect(roleBindingMatches(desired, undefined)).toBe(false);
    const extraSubject = JSON.parse(JSON.stringify(desired));
    extraSubject.subjects.push({ kind: "ServiceAccount", name: "intruder", namespace: "ns" });
    expect(roleBindingMatches(desired, extraSubject)).toBe(false);
    const otherRole = JSON.parse(JSON.stringify(desired));
    otherRole.roleRef.name = "cluster-admin";
    expect(roleBindingMatches(desired, otherRole)).toBe(false);
    const relabelled = JSON.parse(JSON.stringify(desired));
    delete relabelled.metadata.labels["warden.dev/enclave"];
    expect(roleBindingMatches(desired, relabelled)).toBe(false);
  });
});
