import { describe, expect, it } from "vitest";
import { agentPod, check, type Loose, rules } from "./testkit.ts";

describe("host rules", () => {
  it("pod.hostNamespaces: hostNetwork, hostPID, hostIPC", () => {
    const pod: Loose = agentPod();
    Object.assign(pod.spec, { hostNetwork: true, hostPID: true, hostIPC: true });
    expect(rules(check(pod))).toEqual([
      "pod.hostNamespaces spec.hostNetwork",
      "pod.hostNamespaces spec.hostPID",
      "pod.hostNamespaces spec.hostIPC",
    ]);
  });

  it("pod.hostPath", () => {
    const pod: Loose = agentPod();
    pod.spec.volumes.push({ name: "docker", hostPath: { path: "/var/run/docker.sock" } });
    expect(rules(check(pod))).toEqual([`pod.hostPath spec.volumes[${pod.spec.volumes.length - 1}].hostPath`]);
  });

  it("container.hostPort", () => {
    const pod: Loose = agentPod();
    pod.spec.containers[1].ports = [{ containerPort: 6379 }, { containerPort: 6380, hostPort: 6380 }];
    expect(rules(check(pod))).toEqual(["container.hostPort spec.containers[1].ports[1].hostPort"]);
  });

  it("pod.shareProcessNamespace", () => {
    const pod: Loose = agentPod();
    pod.spec.shareProcessNamespace = true;
    expect(rules(check(pod))).toEqual(["pod.shareProcessNamespace spec.shareProcessNamespace"]);
  });
});
