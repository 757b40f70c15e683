import { describe, expect, it } from "vitest";
import { StaticContextSource } from "../context.ts";
import {
  agentPod,
  check,
  enclave,
  identity,
  type Loose,
  NOW,
  NS,
  rules,
  searchManifest,
  snapshot,
  toolServerPod,
} from "./testkit.ts";

describe("identity rules", () => {
  it("agent.labels: agent-type and enclave labels present and matching", () => {
    const pod: Loose = agentPod();
    delete pod.metadata.labels["warden.dev/enclave"];
    pod.metadata.labels["warden.dev/agent-type"] = "coder";
    expect(rules(check(pod))).toEqual([
      'agent.labels metadata.labels["warden.dev/enclave"]',
      'agent.labels metadata.labels["warden.dev/agent-type"]',
    ]);
    const p2: Loose = agentPod();
    p2.metadata.labels["warden.dev/enclave"] = "other";
    expect(rules(check(p2))).toEqual(['agent.labels metadata.labels["warden.dev/enclave"]']);
  });

  it("agent.identityExists: unknown agent, or an identity of another enclave", () => {
    const pod: Loose = agentPod();
    expect(rules(check(pod, { snap: snapshot([enclave(), searchManifest()]) }))).toEqual([
      'agent.identityExists metadata.labels["warden.dev/agent"]',
    ]);
    const snap = new StaticContextSource(
      [
        {
          apiVersion: "v1",
          kind: "Namespace",
          metadata: { name: NS, labels: { "warden.dev/enclave": "research" } },
        },
        identity({ enclave: "other" }),
      ],
      NS,
    ).snapshotSync(NS);
    expect(rules(check(pod, { snap }))).toEqual(['agent.identityExists metadata.labels["warden.dev/agent"]']);
  });

  it("agent.outsideEnclave: agent-labelled pod in a namespace without enclave", () => {
    const pod: Loose = agentPod();
    expect(rules(check(pod, { snap: snapshot([]) }))).toEqual([
      'agent.outsideEnclave metadata.labels["warden.dev/agent"]',
    ]);
  });

  it("agent.suspended: no new pods, existing pods may still be updated", () => {
    const snap = snapshot([enclave(), identity({ suspended: true }), searchManifest()]);
    expect(rules(check(agentPod(), { snap }))).toEqual([
      'agent.suspended metadata.labels["warden.dev/agent"]',
    ]);
    expect(rules(check(agentPod(), { snap, old: agentPod() }))).toEqual([]);
  });

  it("agent.immutableLabels: UPDATE must not change the agent label", () => {
    const pod: Loose = agentPod();
    pod.metadata.labels["warden.dev/agent"] = "coder";
    const snap = snapshot([enclave(), identity(), identity({}, "coder"), searchManifest()]);
    expect(rules(check(pod, { snap, old: agentPod() }))).toContain(
      'agent.immutableLabels metadata.labels["warden.dev/agent"]',
    );
  });

  it("enclave.podKind: enclave namespaces hold agents and tool servers only", () => {
    const pod: Loose = agentPod();
    pod.metadata.labels = { app: "cache" };
    expect(rules(check(pod))).toEqual(["enclave.podKind metadata.labels"]);
    // Tool-server pods as the webhook leaves them (with their inbound gateway).
    expect(rules(check(toolServerPod("search")))).toEqual([]);
    expect(rules(check(toolServerPod("nope", 9000)))).toEqual([
      'enclave.podKind metadata.labels["warden.dev/tool-server"]',
    ]);
  });

  it("a plain pod outside any enclave is not subject to any rule", () => {
    const v = check(
      { apiVersion: "v1", kind: "Pod", metadata: { name: "x" }, spec: { containers: [{ name: "a" }] } },
      { snap: snapshot([]) },
    );
    expect(v.applies).toBe(false);
  });

  it("pod.serviceAccount: must be the identity's ServiceAccount (default: its name)", () => {
    const pod: Loose = agentPod();
    delete pod.spec.serviceAccountName;
    expect(rules(check(pod))).toEqual(["pod.serviceAccount spec.serviceAccountName"]);
    const snap = snapshot([enclave(), identity({ serviceAccountName: "research-sa" }), searchManifest()]);
    pod.spec.serviceAccountName = "research-sa";
    expect(rules(check(pod, { snap }))).toEqual([]);
  });

  it("pod.automountToken: explicit false, and no audience-less projected token", () => {
    const pod: Loose = agentPod();
    delete pod.spec.automountServiceAccountToken;
    pod.spec.volumes.push({
      name: "kube-api-access-x",
      projected: { sources: [{ serviceAccountToken: { path: "token", expirationSeconds: 3607 } }] },
    });
    const i = pod.spec.volumes.length - 1;
    expect(rules(check(pod))).toEqual([
      "pod.automountToken spec.automountServiceAccountToken",
      `pod.automountToken spec.volumes[${i}].projected.sources[0].serviceAccountToken`,
    ]);
  });

  it("exemptions waive listed rules for listed agents until expiresAt, and warn within 24h", () => {
    const pod: Loose = agentPod();
    pod.spec.containers[0].securityContext.readOnlyRootFilesystem = false;
    const ex = (expiresAt: string, agents?: string[]) =>
      snapshot([
        enclave({
          exemptions: [
            {
              name: "legacy-fs",
              rules: ["container.readOnlyRootFilesystem"],
              agents,
              startsAt: "2026-05-15T00:00:00Z",
              expiresAt,
              reason: "legacy image writes to /tmp",
            },
          ],
        }),
        identity(),
        searchManifest(),
      ]);
    const soon = new Date(NOW.getTime() + 3_600_000).toISOString().replace(/\.\d+Z$/, "Z");
    const later = "2026-06-10T00:00:00Z";
    const v = check(pod, { snap: ex(soon, ["researcher"]) });
    expect(v.violations).toEqual([]);
    expect(v.waived.map((w) => w.exemption)).toEqual(["legacy-fs"]);
    expect(v.warnings[0]).toMatch(/legacy-fs .* expires at/);
    expect(check(pod, { snap: ex(later) }).warnings).toEqual([]);
    expect(rules(check(pod, { snap: ex(later, ["someone-else"]) }))).toHaveLength(1);
    expect(rules(check(pod, { snap: ex("2026-05-01T00:00:00Z") }))).toHaveLength(1);
  });
});
