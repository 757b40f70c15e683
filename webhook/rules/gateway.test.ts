import { describe, expect, it } from "vitest";
import {
  agentPod,
  agentPodSource,
  check,
  enclave,
  identity,
  type Loose,
  rules,
  searchManifest,
  snapshot,
} from "./testkit.ts";

describe("gateway rules", () => {
  it("gateway.present: a pod without the sidecar; templates are injected per pod", () => {
    const pod: Loose = agentPodSource();
    pod.spec.volumes = [];
    expect(rules(check(pod))).toEqual(["gateway.present spec.initContainers"]);
    const deploy = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "researcher", namespace: "team-a" },
      spec: { template: { metadata: pod.metadata, spec: pod.spec } },
    };
    expect(rules(check(deploy))).toEqual([]);
  });

  it("gateway.nativeSidecar: in containers, or without restartPolicy Always", () => {
    const pod: Loose = agentPod();
    const sidecar = pod.spec.initContainers.shift();
    pod.spec.containers.push(sidecar);
    expect(rules(check(pod))).toContain("gateway.nativeSidecar spec.containers[2]");
    const p2: Loose = agentPod();
    delete p2.spec.initContainers[0].restartPolicy;
    expect(rules(check(p2))).toEqual(["gateway.nativeSidecar spec.initContainers[0].restartPolicy"]);
  });

  it("gateway.unmodified: changed image, forged annotation, changed volume", () => {
    const pod: Loose = agentPod();
    pod.spec.initContainers[0].image = "evil/gateway:1";
    expect(rules(check(pod))).toEqual([
      "gateway.unmodified spec.initContainers[0]",
      "gateway.unmodified spec.initContainers[0]",
    ]);
    const p2: Loose = agentPod();
    delete p2.metadata.annotations["warden.dev/gateway-status"];
    expect(rules(check(p2))).toEqual([
      'gateway.unmodified metadata.annotations["warden.dev/gateway-status"]',
    ]);
    const p3: Loose = agentPod();
    const i = p3.spec.volumes.findIndex((v: Loose) => v.name === "warden-policy");
    p3.spec.volumes[i].configMap.name = "warden-policy-admin";
    expect(rules(check(p3))).toEqual([`gateway.unmodified spec.volumes[${i}]`]);
  });

  it("gateway.unmodified: defaults filled in by the API server do not count as changes", () => {
    const pod: Loose = agentPod();
    const sc = pod.spec.initContainers[0];
    delete sc.terminationMessagePath;
    delete sc.startupProbe.httpGet.scheme;
    expect(rules(check(pod))).toEqual([]);
  });

  it("gateway.impersonation: other containers with the gateway image or ports", () => {
    const pod: Loose = agentPod();
    pod.spec.containers[1].image = "ghcr.io/agent-warden/gateway:0.0.9";
    pod.spec.containers[0].ports = [{ containerPort: 15001 }];
    expect(rules(check(pod))).toEqual([
      "gateway.impersonation spec.containers[0].ports[0].containerPort",
      "gateway.impersonation spec.containers[1].image",
    ]);
  });

  it("pod.issuerTokenOnlyInSidecar and gateway.volumesPrivate", () => {
    const pod: Loose = agentPod();
    pod.spec.containers[0].volumeMounts = [
      { name: "warden-issuer-token", mountPath: "/t", readOnly: true },
      { name: "warden-audit", mountPath: "/a" },
    ];
    expect(rules(check(pod))).toEqual([
      "pod.issuerTokenOnlyInSidecar spec.containers[0].volumeMounts[0]",
      "gateway.volumesPrivate spec.containers[0].volumeMounts[1]",
    ]);
  });

  it("pod.issuerTokenOnlyInSidecar: any issuer-audience token volume, and the SVID Secret", () => {
    const pod: Loose = agentPod();
    pod.spec.volumes.push(
      {
        name: "sneaky",
        projected: { sources: [{ serviceAccountToken: { audience: "warden.dev/issuer", path: "t" } }] },
      },
      { name: "svid", secret: { secretName: "researcher-svid" } },
    );
    pod.spec.containers[1].volumeMounts = [
      { name: "sneaky", mountPath: "/t" },
      { name: "svid", mountPath: "/svid" },
    ];
    const snap = snapshot([
      enclave(),
      identity({ svid: { ttl: "15m", delivery: "Secret" } }),
      searchManifest(),
    ]);
    expect(rules(check(pod, { snap }))).toEqual([
      "pod.issuerTokenOnlyInSidecar spec.containers[1].volumeMounts[0]",
      "pod.issuerTokenOnlyInSidecar spec.containers[1].volumeMounts[1]",
    ]);
  });

  // Tool-server credentials and approver tokens stay in the sidecar, however the agent asks.
  const secretAttacks: { name: string; volume?: Loose; mount: string }[] = [
    { name: "mount the injected credentials volume", mount: "warden-credentials" },
    { name: "mount the injected approvers volume", mount: "warden-approvers" },
    {
      name: "its own volume of its credentials Secret",
      volume: { name: "mine", secret: { secretName: "warden-credentials-researcher" } },
      mount: "mine",
    },
    {
      name: "another agent's credentials Secret",
      volume: { name: "theirs", secret: { secretName: "warden-credentials-admin-bot" } },
      mount: "theirs",
    },
    {
      name: "the approvers Secret through a projected volume",
      volume: { name: "p", projected: { sources: [{ secret: { name: "warden-approvers" } }] } },
      mount: "p",
    },
    {
      name: "the credentials Secret through a projected volume beside a harmless source",
      volume: {
        name: "mix",
        projected: {
          sources: [{ configMap: { name: "x" } }, { secret: { name: "warden-credentials-researcher" } }],
        },
      },
      mount: "mix",
    },
  ];
  it.each(secretAttacks)("gateway.volumesPrivate refuses: $name", ({ volume, mount }) => {
    const pod: Loose = agentPod();
    if (volume) pod.spec.volumes.push(volume);
    pod.spec.containers[0].volumeMounts = [{ name: mount, mountPath: "/steal", readOnly: true }];
    expect(rules(check(pod))).toEqual(["gateway.volumesPrivate spec.containers[0].volumeMounts[0]"]);
  });

  it("gateway.unmodified: the credentials or approvers volume pointed elsewhere", () => {
    for (const [name, field] of [
      ["warden-credentials", "warden-credentials-admin-bot"],
      ["warden-approvers", "my-own-approvers"],
    ] as const) {
      const pod: Loose = agentPod();
      const i = pod.spec.volumes.findIndex((v: Loose) => v.name === name);
      pod.spec.volumes[i].secret.secretName = field;
      expect(rules(check(pod))).toEqual([`gateway.unmodified spec.volumes[${i}]`]);
      const p2: Loose = agentPod();
      p2.spec.volumes.splice(i, 1);
      expect(rules(check(p2))).toContain("gateway.unmodified spec.volumes");
    }
  });
});
