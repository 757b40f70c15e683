import { describe, expect, it } from "vitest";
import { agentPod, check, type Loose, rules } from "./testkit.ts";

describe("hardening rules", () => {
  it("a compliant injected agent pod has no violations", () => {
    expect(rules(check(agentPod()))).toEqual([]);
  });

  it("pod.runAsNonRoot: pod-level runAsUser 0 and runAsNonRoot false", () => {
    const pod: Loose = agentPod();
    pod.spec.securityContext.runAsUser = 0;
    expect(rules(check(pod))).toContain("pod.runAsNonRoot spec.securityContext.runAsUser");
    pod.spec.securityContext.runAsNonRoot = false;
    expect(rules(check(pod))).toContain("pod.runAsNonRoot spec.securityContext.runAsNonRoot");
  });

  it("container.runAsNonRoot: container overrides the pod, and no pod default means every container", () => {
    const pod: Loose = agentPod();
    pod.spec.containers[1].securityContext = {
      ...pod.spec.containers[1].securityContext,
      runAsNonRoot: false,
    };
    expect(rules(check(pod))).toEqual([
      "container.runAsNonRoot spec.containers[1].securityContext.runAsNonRoot",
    ]);
    const p2: Loose = agentPod();
    delete p2.spec.securityContext.runAsNonRoot;
    const r = rules(check(p2));
    // the sidecar sets its own runAsNonRoot, the init + two agent containers rely on the pod
    expect(r).toEqual([
      "container.runAsNonRoot spec.initContainers[1].securityContext.runAsNonRoot",
      "container.runAsNonRoot spec.containers[0].securityContext.runAsNonRoot",
      "container.runAsNonRoot spec.containers[1].securityContext.runAsNonRoot",
    ]);
    const p3: Loose = agentPod();
    p3.spec.containers[0].securityContext.runAsUser = 0;
    expect(rules(check(p3))).toEqual(["container.runAsNonRoot spec.containers[0].securityContext.runAsUser"]);
  });

  it("container.readOnlyRootFilesystem covers init and ephemeral containers", () => {
    const pod: Loose = agentPod();
    pod.spec.initContainers[1].securityContext.readOnlyRootFilesystem = false;
    pod.spec.ephemeralContainers = [{ name: "debug", image: "busybox" }];
    const r = rules(check(pod));
    expect(r).toContain(
      "container.readOnlyRootFilesystem spec.initContainers[1].securityContext.readOnlyRootFilesystem",
    );
    expect(r).toContain(
      "container.readOnlyRootFilesystem spec.ephemeralContainers[0].securityContext.readOnlyRootFilesystem",
    );
    expect(r).toContain(
      "container.allowPrivilegeEscalation spec.ephemeralContainers[0].securityContext.allowPrivilegeEscalation",
    );
    expect(r).toContain(
      "container.capabilities spec.ephemeralContainers[0].securityContext.capabilities.drop",
    );
  });

  it("container.allowPrivilegeEscalation must be explicitly false", () => {
    const pod: Loose = agentPod();
    delete pod.spec.containers[0].securityContext.allowPrivilegeEscalation;
    expect(rules(check(pod))).toEqual([
      "container.allowPrivilegeEscalation spec.containers[0].securityContext.allowPrivilegeEscalation",
    ]);
  });

  it("container.capabilities: drop ALL, and no adds at all", () => {
    const pod: Loose = agentPod();
    pod.spec.containers[0].securityContext.capabilities = { drop: ["NET_RAW"], add: ["NET_BIND_SERVICE"] };
    expect(rules(check(pod))).toEqual([
      "container.capabilities spec.containers[0].securityContext.capabilities.drop",
      "container.capabilities spec.containers[0].securityContext.capabilities.add[0]",
    ]);
  });

  it("container.privileged", () => {
    const pod: Loose = agentPod();
    pod.spec.containers[1].securityContext.privileged = true;
    expect(rules(check(pod))).toEqual(["container.privileged spec.containers[1].securityContext.privileged"]);
  });

  it("pod.seccomp: Unconfined anywhere, or nothing set", () => {
    const pod: Loose = agentPod();
    pod.spec.containers[0].securityContext.seccompProfile = { type: "Unconfined" };
    expect(rules(check(pod))).toEqual(["pod.seccomp spec.containers[0].securityContext.seccompProfile.type"]);
    const p2: Loose = agentPod();
    delete p2.spec.securityContext.seccompProfile;
    expect(rules(check(p2))).toEqual(["pod.seccomp spec.securityContext.seccompProfile.type"]);
    p2.spec.securityContext.seccompProfile = { type: "Localhost", localhostProfile: "agent.json" };
    expect(rules(check(p2))).toEqual([]);
  });
});
