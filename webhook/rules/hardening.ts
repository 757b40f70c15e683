// Restricted pod security, checked for every container (init, regular, ephemeral, the sidecar
// too): PSA "restricted" plus a read-only root filesystem and no added capabilities at all.
import { allContainers } from "./podspec.ts";
import type { Rule, Violation } from "./types.ts";

export const podRunAsNonRoot: Rule = (pod) => {
  const sc = pod.spec.securityContext;
  const out: Violation[] = [];
  const base = `${pod.specPath}.securityContext`;
  if (sc?.runAsNonRoot === false) {
    out.push({
      rule: "pod.runAsNonRoot",
      path: `${base}.runAsNonRoot`,
      message: "runAsNonRoot is false at pod level",
      fix: `set ${base}.runAsNonRoot: true`,
    });
  }
  if (sc?.runAsUser === 0) {
    out.push({
      rule: "pod.runAsNonRoot",
      path: `${base}.runAsUser`,
      message: "runAsUser 0 runs every container as root",
      fix: `remove ${base}.runAsUser or set a non-zero UID such as 65532`,
    });
  }
  return out;
};

export const containerRunAsNonRoot: Rule = (pod) => {
  const podNonRoot = pod.spec.securityContext?.runAsNonRoot;
  const out: Violation[] = [];
  for (const ref of allContainers(pod.spec, pod.specPath)) {
    const sc = ref.container.securityContext;
    // The container's own setting overrides the pod's (Kubernetes semantics).
    if ((sc?.runAsNonRoot ?? podNonRoot) !== true) {
      out.push({
        rule: "container.runAsNonRoot",
        path: `${ref.path}.securityContext.runAsNonRoot`,
        message: `container ${ref.container.name} may run as root: runAsNonRoot is not true for it`,
        fix: `set ${ref.path}.securityContext.runAsNonRoot: true (or ${pod.specPath}.securityContext.runAsNonRoot: true for every container)`,
      });
    }
    if (sc?.runAsUser === 0) {
      out.push({
        rule: "container.runAsNonRoot",
        path: `${ref.path}.securityContext.runAsUser`,
        message: `container ${ref.container.name} sets runAsUser 0 (root)`,
        fix: "use a non-zero UID such as 65532",
      });
    }
  }
  return out;
};

export const containerReadOnlyRootFilesystem: Rule = (pod) =>
  allContainers(pod.spec, pod.specPath)
    .filter((ref) => ref.container.securityContext?.readOnlyRootFilesystem !== true)
    .map((ref) => ({
      rule: "container.readOnlyRootFilesystem",
      path: `${ref.path}.securityContext.readOnlyRootFilesystem`,
      message: `container ${ref.container.name} has a writable root filesystem`,
      fix: `set ${ref.path}.securityContext.readOnlyRootFilesystem: true and mount an emptyDir where it must write`,
    }));

export const containerAllowPrivilegeEscalation: Rule = (pod) =>
  allContainers(pod.spec, pod.specPath)
    .filter((ref) => ref.container.securityContext?.allowPrivilegeEscalation !== false)
    .map((ref) => ({
      rule: "container.allowPrivilegeEscalation",
      path: `${ref.path}.securityContext.allowPrivilegeEscalation`,
      message: `container ${ref.container.name} may gain privileges (setuid binaries): allowPrivilegeEscalation is not false`,
      fix: `set ${ref.path}.securityContext.allowPrivilegeEscalation: false`,
    }));

export const containerCapabilities: Rule = (pod) => {
  const out: Violation[] = [];
  for (const ref of allContainers(pod.spec, pod.specPath)) {
    const caps = ref.container.securityContext?.capabilities;
    const base = `${ref.path}.securityContext.capabilities`;
    if (!(caps?.drop ?? []).includes("ALL")) {
      out.push({
        rule: "container.capabilities",
        path: `${base}.drop`,
        message: `container ${ref.container.name} keeps Linux capabilities: capabilities.drop must contain ALL`,
        fix: `set ${base}.drop: [ALL]`,
      });
    }
    (caps?.add ?? []).forEach((cap, i) => {
      out.push({
        rule: "container.capabilities",
        path: `${base}.add[${i}]`,
        message: `container ${ref.container.name} adds capability ${cap}`,
        fix: `remove ${cap}: agent pods run with no capabilities (ports below 1024 are not needed behind the gateway)`,
      });
    });
  }
  return out;
};

export const containerPrivileged: Rule = (pod) =>
  allContainers(pod.spec, pod.specPath)
    .filter((ref) => ref.container.securityContext?.privileged === true)
    .map((ref) => ({
      rule: "container.privileged",
      path: `${ref.path}.securityContext.privileged`,
      message: `container ${ref.container.name} is privileged (full access to the node)`,
      fix: `remove privileged or set ${ref.path}.securityContext.privileged: false`,
    }));

const ALLOWED_SECCOMP = new Set(["RuntimeDefault", "Localhost"]);

export const podSeccomp: Rule = (pod) => {
  const out: Violation[] = [];
  const podType = pod.spec.securityContext?.seccompProfile?.type;
  const podPath = `${pod.specPath}.securityContext.seccompProfile.type`;
  if (podType !== undefined && !ALLOWED_SECCOMP.has(podType)) {
    out.push({
      rule: "pod.seccomp",
      path: podPath,
      message: `seccomp profile ${podType} is not allowed`,
      fix: `set ${podPath}: RuntimeDefault`,
    });
  }
  let uncovered = false;
  for (const ref of allContainers(pod.spec, pod.specPath)) {
    const type = ref.container.securityContext?.seccompProfile?.type;
    if (type === undefined) {
      if (podType === undefined) uncovered = true;
    } else if (!ALLOWED_SECCOMP.has(type)) {
      out.push({
        rule: "pod.seccomp",
        path: `${ref.path}.securityContext.seccompProfile.type`,
        message: `container ${ref.container.name} uses seccomp profile ${type}`,
        fix: "use RuntimeDefault or Localhost",
      });
    }
  }
  if (uncovered) {
    out.push({
      rule: "pod.seccomp",
      path: podPath,
      message: "no seccomp profile is set for the pod (or for some of its containers)",
      fix: `set ${podPath}: RuntimeDefault`,
    });
  }
  return out;
};
