// The controls of the Pod Security Standards (baseline and restricted, Kubernetes v1.35) that
// hardening.ts and host.ts do not already cover: SELinux, AppArmor, sysctls, probe and lifecycle
// hosts, volume types, /proc mounts, Windows HostProcess, and the deprecated seccomp/AppArmor
// annotations. Each follows the upstream check (k8s.io/pod-security-admission/policy) with one
// difference, always in the stricter direction: no relaxation for user-namespaced pods or for
// Windows pods, because agent-warden's pods are Linux pods whose sidecar must stay isolated.
// psa-fixtures.test.ts proves the parity on the upstream fixtures.
import { allContainers, keyPath } from "./podspec.ts";
import type { Rule, Violation } from "./types.ts";

/** SELinux types a container may run as (policy/check_seLinuxOptions.go, v1.31+). */
export const SELINUX_ALLOWED_TYPES: ReadonlySet<string> = new Set([
  "",
  "container_t",
  "container_init_t",
  "container_kvm_t",
  "container_engine_t",
]);

export const podSeLinux: Rule = (pod) => {
  const out: Violation[] = [];
  const check = (
    opts: { type?: string; user?: string; role?: string } | undefined,
    base: string,
    who: string,
  ) => {
    if (!opts) return;
    if (!SELINUX_ALLOWED_TYPES.has(opts.type ?? "")) {
      out.push({
        rule: "pod.seLinux",
        path: `${base}.seLinuxOptions.type`,
        message: `${who} sets SELinux type ${JSON.stringify(opts.type)}, which can lift the container's confinement`,
        fix: `remove ${base}.seLinuxOptions.type or use container_t`,
      });
    }
    for (const field of ["user", "role"] as const) {
      if (opts[field]) {
        out.push({
          rule: "pod.seLinux",
          path: `${base}.seLinuxOptions.${field}`,
          message: `${who} sets a custom SELinux ${field} (${JSON.stringify(opts[field])})`,
          fix: `remove ${base}.seLinuxOptions.${field}`,
        });
      }
    }
  };
  check(pod.spec.securityContext?.seLinuxOptions, `${pod.specPath}.securityContext`, "the pod");
  for (const ref of allContainers(pod.spec, pod.specPath)) {
    check(
      ref.container.securityContext?.seLinuxOptions,
      `${ref.path}.securityContext`,
      `container ${ref.container.name}`,
    );
  }
  return out;
};

const APPARMOR_ANNOTATION_PREFIX = "container.apparmor.security.beta.kubernetes.io/";
const ALLOWED_APPARMOR_TYPES: ReadonlySet<string> = new Set(["RuntimeDefault", "Localhost"]);

export const podAppArmor: Rule = (pod) => {
  const out: Violation[] = [];
  const check = (type: string | undefined, base: string, who: string) => {
    if (type !== undefined && !ALLOWED_APPARMOR_TYPES.has(type)) {
      out.push({
        rule: "pod.appArmor",
        path: `${base}.appArmorProfile.type`,
        message: `${who} sets AppArmor profile ${JSON.stringify(type)} (only RuntimeDefault or Localhost confine it)`,
        fix: `set ${base}.appArmorProfile.type: RuntimeDefault`,
      });
    }
  };
  check(pod.spec.securityContext?.appArmorProfile?.type, `${pod.specPath}.securityContext`, "the pod");
  for (const ref of allContainers(pod.spec, pod.specPath)) {
    check(
      ref.container.securityContext?.appArmorProfile?.type,
      `${ref.path}.securityContext`,
      `container ${ref.container.name}`,
    );
  }
  // The deprecated annotation still takes effect on older kubelets: every key, whether or not it
  // names a container of this pod, must carry an allowed value.
  for (const [key, value] of Object.entries(pod.metadata.annotations ?? {})) {
    if (!key.startsWith(APPARMOR_ANNOTATION_PREFIX)) continue;
    if (value === "" || value === "runtime/default" || value.startsWith("localhost/")) continue;
    out.push({
      rule: "pod.appArmor",
      path: keyPath(`${pod.metaPath}.annotations`, key),
      message: `annotation ${key} sets AppArmor profile ${JSON.stringify(value)}`,
      fix: "remove the annotation (or use runtime/default), and use securityContext.appArmorProfile instead",
    });
  }
  return out;
};

const SECCOMP_POD_ANNOTATION = "seccomp.security.alpha.kubernetes.io/pod";
const SECCOMP_CONTAINER_ANNOTATION_PREFIX = "container.seccomp.security.alpha.kubernetes.io/";

/** The deprecated seccomp annotations (baseline before v1.19): only confining values. */
export const podSeccompAnnotations: Rule = (pod) =>
  Object.entries(pod.metadata.annotations ?? {}).flatMap(([key, value]) => {
    if (key !== SECCOMP_POD_ANNOTATION && !key.startsWith(SECCOMP_CONTAINER_ANNOTATION_PREFIX)) return [];
    if (value === "runtime/default" || value === "docker/default" || value.startsWith("localhost/"))
      return [];
    return [
      {
        rule: "pod.seccomp",
        path: keyPath(`${pod.metaPath}.annotations`, key),
        message: `annotation ${key} sets seccomp profile ${JSON.stringify(value)}`,
        fix: "remove the annotation and set securityContext.seccompProfile.type: RuntimeDefault",
      },
    ];
  });

/** Namespaced sysctls isolated from other pods (policy/check_sysctls.go, v1.32+). */
export const SAFE_SYSCTLS: ReadonlySet<string> = new Set([
  "kernel.shm_rmid_forced",
  "net.ipv4.ip_local_port_range",
  "net.ipv4.tcp_syncookies",
  "net.ipv4.ping_group_range",
  "net.ipv4.ip_unprivileged_port_start",
  "net.ipv4.ip_local_reserved_ports",
  "net.ipv4.tcp_keepalive_time",
  "net.ipv4.tcp_fin_timeout",
  "net.ipv4.tcp_keepalive_intvl",
  "net.ipv4.tcp_keepalive_probes",
  "net.ipv4.tcp_rmem",
  "net.ipv4.tcp_wmem",
]);

export const podSysctls: Rule = (pod) =>
  (pod.spec.securityContext?.sysctls ?? []).flatMap((s, i) =>
    SAFE_SYSCTLS.has(s.name)
      ? []
      : [
          {
            rule: "pod.sysctls",
            path: `${pod.specPath}.securityContext.sysctls[${i}].name`,
            message: `sysctl ${s.name} is not in the safe, pod-isolated set`,
            fix: `remove it; allowed sysctls: ${[...SAFE_SYSCTLS].join(", ")}`,
          },
        ],
  );

/** A probe or hook with a host lets the kubelet (on the node's network) reach any address for the pod. */
export const containerProbeHost: Rule = (pod) => {
  const out: Violation[] = [];
  for (const ref of allContainers(pod.spec, pod.specPath)) {
    const c = ref.container;
    const handlers: [string, { httpGet?: { host?: string }; tcpSocket?: { host?: string } } | undefined][] = [
      ["livenessProbe", c.livenessProbe],
      ["readinessProbe", c.readinessProbe],
      ["startupProbe", c.startupProbe],
      ["lifecycle.postStart", c.lifecycle?.postStart],
      ["lifecycle.preStop", c.lifecycle?.preStop],
    ];
    for (const [where, h] of handlers) {
      for (const kind of ["httpGet", "tcpSocket"] as const) {
        const host = h?.[kind]?.host;
        if (host) {
          out.push({
            rule: "container.probeHost",
            path: `${ref.path}.${where}.${kind}.host`,
            message: `container ${c.name} sends its ${where} ${kind} to host ${JSON.stringify(host)}: the kubelet would reach that address from the node`,
            fix: `remove ${ref.path}.${where}.${kind}.host (the probe then targets the pod's own IP)`,
          });
        }
      }
    }
  }
  return out;
};

/**
 * Inline volume sources the restricted profile allows. A volume with no source at all is allowed:
 * the API server defaults it to emptyDir. Any other key (nfs, iscsi, gitRepo, a source added in a
 * later Kubernetes) is refused: the list fails closed.
 */
export const ALLOWED_VOLUME_SOURCES: ReadonlySet<string> = new Set([
  "configMap",
  "csi",
  "downwardAPI",
  "emptyDir",
  "ephemeral",
  "image",
  "persistentVolumeClaim",
  "projected",
  "secret",
]);

export const podVolumeTypes: Rule = (pod) =>
  (pod.spec.volumes ?? []).flatMap((vol, i) =>
    Object.keys(vol)
      // hostPath has its own rule (pod.hostPath) with its own fix.
      .filter((k) => k !== "name" && k !== "hostPath" && !ALLOWED_VOLUME_SOURCES.has(k))
      .map((k) => ({
        rule: "pod.volumeTypes",
        path: `${pod.specPath}.volumes[${i}].${k}`,
        message: `volume ${vol.name} uses the ${k} volume type, which the restricted profile forbids (it reaches storage or the node outside the pod's control)`,
        fix: "use a PersistentVolumeClaim (the cluster admin decides how it is backed), or an emptyDir, ConfigMap, Secret, projected, CSI or image volume",
      })),
  );

export const containerProcMount: Rule = (pod) =>
  allContainers(pod.spec, pod.specPath).flatMap((ref) => {
    const pm = ref.container.securityContext?.procMount;
    return pm === undefined || pm === "Default"
      ? []
      : [
          {
            rule: "container.procMount",
            path: `${ref.path}.securityContext.procMount`,
            message: `container ${ref.container.name} sets procMount ${JSON.stringify(pm)}: /proc would lose its default masks`,
            fix: `remove ${ref.path}.securityContext.procMount (or set Default)`,
          },
        ];
  });

export const podWindowsHostProcess: Rule = (pod) => {
  const out: Violation[] = [];
  const base = `${pod.specPath}.securityContext.windowsOptions.hostProcess`;
  if (pod.spec.securityContext?.windowsOptions?.hostProcess === true) {
    out.push({
      rule: "pod.windowsHostProcess",
      path: base,
      message: "the pod runs as a Windows HostProcess (full access to the node)",
      fix: `remove ${base}`,
    });
  }
  for (const ref of allContainers(pod.spec, pod.specPath)) {
    if (ref.container.securityContext?.windowsOptions?.hostProcess === true) {
      out.push({
        rule: "pod.windowsHostProcess",
        path: `${ref.path}.securityContext.windowsOptions.hostProcess`,
        message: `container ${ref.container.name} runs as a Windows HostProcess (full access to the node)`,
        fix: `remove ${ref.path}.securityContext.windowsOptions.hostProcess`,
      });
    }
  }
  return out;
};
