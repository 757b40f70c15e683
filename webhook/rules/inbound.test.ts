import { describe, expect, it } from "vitest";
import { GATEWAY_ENV } from "../../api/v1alpha1/sidecar.ts";
import { check, type Loose, rules, toolServerPod, toolServerPodSource } from "./testkit.ts";

const env = (c: Loose, name: string) => c.env.find((e: Loose) => e.name === name)?.value;

describe("gateway.inboundPresent", () => {
  it("a tool-server pod injected with the inbound gateway is compliant", () => {
    const pod: Loose = toolServerPod();
    const gw = pod.spec.initContainers[0];
    expect(env(gw, GATEWAY_ENV.mode)).toBe("inbound");
    expect(env(gw, GATEWAY_ENV.upstream)).toBe("http://127.0.0.1:8080");
    expect(rules(check(pod))).toEqual([]);
  });

  it("a tool-server pod without the inbound gateway is refused", () => {
    expect(rules(check(toolServerPodSource()))).toEqual(["gateway.inboundPresent spec.initContainers"]);
  });

  it("a hand-edited gateway: outbound mode, another upstream, a forged annotation, a changed volume", () => {
    const p1: Loose = toolServerPod();
    p1.spec.initContainers[0].env.find((e: Loose) => e.name === GATEWAY_ENV.mode).value = "outbound";
    expect(rules(check(p1))).toEqual([
      "gateway.inboundPresent spec.initContainers[0]",
      "gateway.inboundPresent spec.initContainers[0]",
    ]);
    // The upstream must be the port the annotation or ToolManifest names, even with a re-hashed
    // annotation: the expected template is recomputed from the port, not read from the pod.
    const p2: Loose = toolServerPod("search", 9000);
    p2.metadata.annotations["warden.dev/tool-server-port"] = "8080";
    expect(rules(check(p2))).toEqual(["gateway.inboundPresent spec.initContainers[0]"]);
    const p3: Loose = toolServerPod();
    const i = p3.spec.volumes.findIndex((v: Loose) => v.name === "warden-policy");
    p3.spec.volumes[i].configMap.name = "warden-inbound-other";
    expect(rules(check(p3))).toEqual([`gateway.inboundPresent spec.volumes[${i}]`]);
    const p4: Loose = toolServerPod();
    delete p4.spec.initContainers[0].restartPolicy;
    expect(rules(check(p4))).toEqual(["gateway.inboundPresent spec.initContainers[0]"]);
  });

  it("the port: an invalid or gateway-reserved annotation is refused at the annotation", () => {
    const bad: Loose = toolServerPodSource("search");
    bad.metadata.annotations = { "warden.dev/tool-server-port": "http" };
    expect(rules(check(bad))).toEqual([
      'gateway.inboundPresent metadata.annotations["warden.dev/tool-server-port"]',
    ]);
    const reserved: Loose = toolServerPodSource("search", 15443);
    // The server's own containerPort 15443 collides with the gateway too.
    expect(rules(check(toolServerPod("search", 15443)))).toEqual([
      'gateway.inboundPresent metadata.annotations["warden.dev/tool-server-port"]',
      "gateway.impersonation spec.containers[0].ports[0].containerPort",
    ]);
    expect(reserved.spec.initContainers).toBeUndefined();
  });

  it("other containers must not mount the gateway's files or pose as it", () => {
    const pod: Loose = toolServerPod();
    pod.spec.containers[0].volumeMounts = [{ name: "warden-policy", mountPath: "/p" }];
    pod.spec.containers[0].ports = [{ containerPort: 15443 }];
    expect(rules(check(pod))).toEqual([
      "gateway.impersonation spec.containers[0].ports[0].containerPort",
      "gateway.volumesPrivate spec.containers[0].volumeMounts[0]",
    ]);
  });

  it("workload templates are checked when each pod is created", () => {
    const pod: Loose = toolServerPodSource();
    const deploy = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "search", namespace: "team-a" },
      spec: { template: { metadata: pod.metadata, spec: pod.spec } },
    };
    expect(rules(check(deploy))).toEqual([]);
  });
});
