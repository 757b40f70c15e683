// Attacks on Pod Security parity: each row is a way to lift an agent pod's confinement that the
// restricted profile forbids, written into an otherwise compliant injected agent pod. Each must be
// refused by the named rule at the named field.
import { describe, expect, it } from "vitest";
import { agentPod, check, type Loose, rules } from "./testkit.ts";

type Attack = [name: string, mutate: (pod: Loose) => void, expected: string];

const agent = (pod: Loose) => pod.spec.containers[0];

const ATTACKS: Attack[] = [
  [
    "SELinux type spc_t on the pod (super-privileged container)",
    (p) => {
      p.spec.securityContext.seLinuxOptions = { type: "spc_t" };
    },
    "pod.seLinux spec.securityContext.seLinuxOptions.type",
  ],
  [
    "SELinux type unconfined_t on a container",
    (p) => {
      agent(p).securityContext.seLinuxOptions = { type: "unconfined_t" };
    },
    "pod.seLinux spec.containers[0].securityContext.seLinuxOptions.type",
  ],
  [
    "SELinux user system_u on the pod",
    (p) => {
      p.spec.securityContext.seLinuxOptions = { user: "system_u" };
    },
    "pod.seLinux spec.securityContext.seLinuxOptions.user",
  ],
  [
    "SELinux role sysadm_r on an init container",
    (p) => {
      p.spec.initContainers[1].securityContext.seLinuxOptions = { role: "sysadm_r" };
    },
    "pod.seLinux spec.initContainers[1].securityContext.seLinuxOptions.role",
  ],
  [
    "AppArmor Unconfined on the pod",
    (p) => {
      p.spec.securityContext.appArmorProfile = { type: "Unconfined" };
    },
    "pod.appArmor spec.securityContext.appArmorProfile.type",
  ],
  [
    "AppArmor Unconfined on a container",
    (p) => {
      agent(p).securityContext.appArmorProfile = { type: "Unconfined" };
    },
    "pod.appArmor spec.containers[0].securityContext.appArmorProfile.type",
  ],
  [
    "AppArmor annotation unconfined for the agent container",
    (p) => {
      p.metadata.annotations["container.apparmor.security.beta.kubernetes.io/agent"] = "unconfined";
    },
    'pod.appArmor metadata.annotations["container.apparmor.security.beta.kubernetes.io/agent"]',
  ],
  [
    "AppArmor annotation for a container added later (ephemeral) with an arbitrary value",
    (p) => {
      p.metadata.annotations["container.apparmor.security.beta.kubernetes.io/debugger"] = "foo";
    },
    'pod.appArmor metadata.annotations["container.apparmor.security.beta.kubernetes.io/debugger"]',
  ],
  [
    "seccomp pod annotation unconfined",
    (p) => {
      p.metadata.annotations["seccomp.security.alpha.kubernetes.io/pod"] = "unconfined";
    },
    'pod.seccomp metadata.annotations["seccomp.security.alpha.kubernetes.io/pod"]',
  ],
  [
    "seccomp container annotation unconfined",
    (p) => {
      p.metadata.annotations["container.seccomp.security.alpha.kubernetes.io/agent"] = "unconfined";
    },
    'pod.seccomp metadata.annotations["container.seccomp.security.alpha.kubernetes.io/agent"]',
  ],
  [
    "unsafe sysctl kernel.msgmax",
    (p) => {
      p.spec.securityContext.sysctls = [
        { name: "net.ipv4.tcp_syncookies", value: "1" },
        { name: "kernel.msgmax", value: "1" },
      ];
    },
    "pod.sysctls spec.securityContext.sysctls[1].name",
  ],
  [
    "unsafe sysctl net.ipv4.ip_forward (node-wide routing)",
    (p) => {
      p.spec.securityContext.sysctls = [{ name: "net.ipv4.ip_forward", value: "1" }];
    },
    "pod.sysctls spec.securityContext.sysctls[0].name",
  ],
  [
    "liveness probe httpGet to another host (kubelet SSRF)",
    (p) => {
      agent(p).livenessProbe = { httpGet: { host: "169.254.169.254", path: "/", port: 80 } };
    },
    "container.probeHost spec.containers[0].livenessProbe.httpGet.host",
  ],
  [
    "readiness probe tcpSocket to another host",
    (p) => {
      agent(p).readinessProbe = { tcpSocket: { host: "10.0.0.1", port: 6443 } };
    },
    "container.probeHost spec.containers[0].readinessProbe.tcpSocket.host",
  ],
  [
    "startup probe httpGet host on an init container",
    (p) => {
      p.spec.initContainers[1].startupProbe = { httpGet: { host: "kubernetes.default", port: 443 } };
    },
    "container.probeHost spec.initContainers[1].startupProbe.httpGet.host",
  ],
  [
    "postStart hook httpGet to another host",
    (p) => {
      agent(p).lifecycle = { postStart: { httpGet: { host: "bad.host", port: 8080 } } };
    },
    "container.probeHost spec.containers[0].lifecycle.postStart.httpGet.host",
  ],
  [
    "preStop hook tcpSocket to another host",
    (p) => {
      agent(p).lifecycle = { preStop: { tcpSocket: { host: "bad.host", port: 8080 } } };
    },
    "container.probeHost spec.containers[0].lifecycle.preStop.tcpSocket.host",
  ],
  [
    "nfs volume",
    (p) => {
      p.spec.volumes.push({ name: "share", nfs: { server: "nfs.example", path: "/" } });
    },
    "pod.volumeTypes spec.volumes[LAST].nfs",
  ],
  [
    "iscsi volume",
    (p) => {
      p.spec.volumes.push({ name: "lun", iscsi: { targetPortal: "10.0.0.1:3260", iqn: "iqn.x", lun: 0 } });
    },
    "pod.volumeTypes spec.volumes[LAST].iscsi",
  ],
  [
    "gitRepo volume (runs git on the node)",
    (p) => {
      p.spec.volumes.push({ name: "repo", gitRepo: { repository: "https://example.com/x.git" } });
    },
    "pod.volumeTypes spec.volumes[LAST].gitRepo",
  ],
  [
    "cephfs volume",
    (p) => {
      p.spec.volumes.push({ name: "ceph", cephfs: { monitors: ["10.0.0.1:6789"] } });
    },
    "pod.volumeTypes spec.volumes[LAST].cephfs",
  ],
  [
    "a volume type this version does not know (fails closed)",
    (p) => {
      p.spec.volumes.push({ name: "future", futureNodeVolume: { path: "/" } });
    },
    "pod.volumeTypes spec.volumes[LAST].futureNodeVolume",
  ],
  [
    "procMount Unmasked",
    (p) => {
      agent(p).securityContext.procMount = "Unmasked";
    },
    "container.procMount spec.containers[0].securityContext.procMount",
  ],
  [
    "procMount Unmasked in a user namespace (hostUsers: false)",
    (p) => {
      p.spec.hostUsers = false;
      agent(p).securityContext.procMount = "Unmasked";
    },
    "container.procMount spec.containers[0].securityContext.procMount",
  ],
  [
    "Windows HostProcess pod",
    (p) => {
      p.spec.securityContext.windowsOptions = { hostProcess: true };
    },
    "pod.windowsHostProcess spec.securityContext.windowsOptions.hostProcess",
  ],
  [
    "Windows HostProcess container",
    (p) => {
      agent(p).securityContext.windowsOptions = { hostProcess: true };
    },
    "pod.windowsHostProcess spec.containers[0].securityContext.windowsOptions.hostProcess",
  ],
];

describe("Pod Security parity: attacks", () => {
  it.each(ATTACKS)("refuses: %s", (_name, mutate, expected) => {
    const pod: Loose = agentPod();
    pod.metadata.annotations ??= {};
    mutate(pod);
    // LAST: the volume the attack added, after the ones the injector wrote.
    expect(rules(check(pod))).toContain(expected.replace("LAST", String(pod.spec.volumes.length - 1)));
  });

  it("allows what restricted allows: container_t, RuntimeDefault/Localhost AppArmor, safe sysctls, allowed volumes", () => {
    const pod: Loose = agentPod();
    pod.spec.securityContext.seLinuxOptions = { type: "container_t", level: "s0:c123,c456" };
    pod.spec.securityContext.appArmorProfile = { type: "RuntimeDefault" };
    agent(pod).securityContext.appArmorProfile = { type: "Localhost", localhostProfile: "agent" };
    pod.metadata.annotations["container.apparmor.security.beta.kubernetes.io/agent"] = "localhost/agent";
    pod.metadata.annotations["seccomp.security.alpha.kubernetes.io/pod"] = "runtime/default";
    pod.spec.securityContext.sysctls = [{ name: "net.ipv4.ip_unprivileged_port_start", value: "0" }];
    agent(pod).livenessProbe = { httpGet: { path: "/healthz", port: 8080 } };
    agent(pod).securityContext.procMount = "Default";
    pod.spec.volumes.push(
      { name: "defaulted" },
      { name: "claim", persistentVolumeClaim: { claimName: "data" } },
      { name: "scratch", ephemeral: { volumeClaimTemplate: { spec: {} } } },
      { name: "model", image: { reference: "ghcr.io/example/model:1" } },
      { name: "csi", csi: { driver: "secrets-store.csi.k8s.io" } },
      { name: "meta", downwardAPI: { items: [] } },
    );
    expect(rules(check(pod))).toEqual([]);
  });
});
