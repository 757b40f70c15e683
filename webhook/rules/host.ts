// Nothing of the node leaks into an agent pod: no host namespaces, host paths or host ports, and no
// shared process namespace (which would let the agent read the sidecar's memory and mounted token).
import { allContainers } from "./podspec.ts";
import type { Rule, Violation } from "./types.ts";

export const podHostNamespaces: Rule = (pod) => {
  const out: Violation[] = [];
  for (const field of ["hostNetwork", "hostPID", "hostIPC"] as const) {
    if (pod.spec[field] === true) {
      out.push({
        rule: "pod.hostNamespaces",
        path: `${pod.specPath}.${field}`,
        message: `${field} shares the node's namespace with the pod`,
        fix: `remove ${pod.specPath}.${field}`,
      });
    }
  }
  return out;
};

export const podHostPath: Rule = (pod) =>
  (pod.spec.volumes ?? []).flatMap((vol, i) =>
    vol.hostPath
      ? [
          {
            rule: "pod.hostPath",
            path: `${pod.specPath}.volumes[${i}].hostPath`,
            message: `volume ${vol.name} mounts ${vol.hostPath.path} from the node`,
            fix: "use an emptyDir, ConfigMap, Secret or PersistentVolumeClaim instead",
          },
        ]
      : [],
  );

export const containerHostPort: Rule = (pod) =>
  allContainers(pod.spec, pod.specPath).flatMap((ref) =>
    (ref.container.ports ?? []).flatMap((p, j) =>
      p.hostPort
        ? [
            {
              rule: "container.hostPort",
              path: `${ref.path}.ports[${j}].hostPort`,
              message: `container ${ref.container.name} binds host port ${p.hostPort}`,
              fix: "remove hostPort; expose the pod through a Service",
            },
          ]
        : [],
    ),
  );

export const podShareProcessNamespace: Rule = (pod) =>
  pod.spec.shareProcessNamespace === true
    ? [
        {
          rule: "pod.shareProcessNamespace",
          path: `${pod.specPath}.shareProcessNamespace`,
          message: "a shared process namespace lets every container read the gateway's memory and token",
          fix: `remove ${pod.specPath}.shareProcessNamespace`,
        },
      ]
    : [];
