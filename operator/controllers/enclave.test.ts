import { describe, expect, it } from "vitest";
import type { Enclave } from "./caches.ts";
import type { ControllerContext } from "./context.ts";
import {
  desiredRoleBinding,
  enclaveNamespaceLabels,
  reconcileEnclave,
  roleBindingMatches,
} from "./enclave.ts";

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

describe("enclave namespace labels (Pod Security as defence in depth)", () => {
  const NOW = new Date("2026-06-01T12:00:00Z");
  const withExemption = (rules: string[], startsAt: string, expiresAt: string) =>
    ({
      ...enclave,
      spec: { exemptions: [{ name: "x", rules, startsAt, expiresAt, reason: "a reason for it" }] },
    }) as unknown as Enclave;

  it("enforces restricted at the latest version, beside the enclave label", () => {
    expect(enclaveNamespaceLabels(enclave, NOW)).toEqual({
      "warden.dev/enclave": "proj",
      "pod-security.kubernetes.io/enforce": "restricted",
      "pod-security.kubernetes.io/enforce-version": "latest",
    });
  });

  it("follows an exemption in force that waives a control of the profile, and only while it lasts", () => {
    const level = (e: Enclave, at = NOW) =>
      enclaveNamespaceLabels(e, at)["pod-security.kubernetes.io/enforce"];
    const live = ["2026-05-20T00:00:00Z", "2026-06-10T00:00:00Z"] as const;
    expect(level(withExemption(["container.readOnlyRootFilesystem"], ...live))).toBe("restricted");
    expect(level(withExemption(["pod.runAsNonRoot"], ...live))).toBe("baseline");
    expect(level(withExemption(["container.capabilities"], ...live))).toBe("privileged");
    expect(level(withExemption(["container.capabilities"], ...live), new Date("2026-06-11T00:00:00Z"))).toBe(
      "restricted",
    );
    // A window longer than the cap is never in force, so it lowers nothing.
    expect(
      level(withExemption(["container.capabilities"], "2026-05-01T00:00:00Z", "2027-05-01T00:00:00Z")),
    ).toBe("restricted");
  });
});

describe("reconcileEnclave in a namespace no enclave may claim", () => {
  // The webhook never sees kube-system & co. or the operator's namespace (its registrations exclude
  // them), so the operator is the one that refuses an enclave there: status only, nothing else.
  function fakeContext(namespace: string) {
    const writes: string[] = [];
    const statuses: unknown[] = [];
    const e = {
      ...enclave,
      metadata: { ...enclave.metadata, namespace, generation: 1 },
    } as unknown as Enclave;
    const record = (what: string) => async () => {
      writes.push(what);
    };
    const ctx = {
      caches: {
        enclaves: { get: () => e, list: () => [e] },
        namespaces: { get: () => ({ metadata: { name: namespace, labels: {} } }) },
        manifests: { list: () => [] },
        networkPolicies: { get: () => undefined, list: () => [] },
        roleBindings: { get: () => undefined },
        identities: { list: () => [] },
      },
      writer: {
        applyNamespace: record("namespace"),
        applyRoleBinding: record("rolebinding"),
        applyNetworkPolicy: record("networkpolicy"),
        deleteNetworkPolicy: record("delete networkpolicy"),
        applyStatus: async (_p: string, _ns: string, _n: string, _k: string, status: unknown) => {
          statuses.push(status);
        },
      },
      metrics: { writesSkipped: { inc: () => {} } },
      settings: { ...settings, trustDomain: "td", namespaces: new Set<string>() },
      now: () => new Date("2026-06-01T12:00:00Z"),
    } as unknown as ControllerContext;
    return { ctx, writes, statuses };
  }

  it.each([["kube-system"], ["kube-public"], ["kube-node-lease"], ["sys (the operator's own namespace)"]])(
    "refuses an AgentEnclave in %s: Ready=False ProtectedNamespace, no label, binding or policy",
    async (where) => {
      const namespace = where.split(" ")[0]!;
      const { ctx, writes, statuses } = fakeContext(namespace);
      await reconcileEnclave(ctx, `${namespace}/proj`);
      expect(writes).toEqual([]);
      const conds = (statuses[0] as { conditions: { type: string; status: string; reason: string }[] })
        .conditions;
      expect(conds.find((c) => c.type === "Ready")).toMatchObject({
        status: "False",
        reason: "ProtectedNamespace",
      });
    },
  );

  it("reconciles an ordinary namespace (labels, binding, policies)", async () => {
    const { ctx, writes } = fakeContext("team-a");
    await reconcileEnclave(ctx, "team-a/proj");
    expect(writes).toContain("namespace");
    expect(writes).toContain("rolebinding");
    expect(writes).toContain("networkpolicy");
  });
});
