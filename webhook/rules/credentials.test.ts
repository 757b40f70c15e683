// Attacks on the credentials and the role of a pod: reading another identity's SVID Secret, running
// as the gateway's user, debugging into the gateway, carrying a token the Kubernetes API accepts,
// and tool-server pods that would run as the wrong ServiceAccount or claim two roles. Each row is
// one attack on an otherwise compliant injected pod; it must be refused by the named rule.
import { describe, expect, it } from "vitest";
import { DEFAULT_SIDECAR_CONFIG } from "../sidecar-config.ts";
import {
  agentPod,
  check,
  enclave,
  identity,
  type Loose,
  rules,
  searchManifest,
  snapshot,
  toolServerPod,
} from "./testkit.ts";

const GATEWAY_UID = DEFAULT_SIDECAR_CONFIG.runAsUser;

/** The namespace with a second identity, "payments", that uses Secret delivery. */
function withSecretIdentity() {
  return snapshot([
    enclave(),
    identity(),
    identity(
      { agentType: "payments", svid: { ttl: "15m", delivery: "Secret", secretName: "payments-svid-tls" } },
      "payments",
    ),
    searchManifest(),
  ]);
}

type Attack = [name: string, build: () => Loose, expected: string];

const agentWith = (f: (p: Loose) => void) => () => {
  const p: Loose = agentPod();
  f(p);
  return p;
};
const serverWith = (f: (p: Loose) => void) => () => {
  const p: Loose = toolServerPod();
  f(p);
  return p;
};

const ATTACKS: Attack[] = [
  [
    "mount another identity's SVID Secret as a volume",
    agentWith((p) => {
      p.spec.volumes.push({ name: "stolen", secret: { secretName: "payments-svid-tls" } });
      p.spec.containers[0].volumeMounts = [{ name: "stolen", mountPath: "/svid", readOnly: true }];
    }),
    "pod.svidSecret spec.volumes[LAST].secret.secretName",
  ],
  [
    "mount another identity's default-named SVID Secret through a projected volume",
    agentWith((p) => {
      p.spec.volumes.push({
        name: "stolen",
        projected: { sources: [{ secret: { name: "payments-svid" } }] },
      });
    }),
    "pod.svidSecret spec.volumes[LAST].projected.sources[0].secret.name",
  ],
  [
    "read another identity's SVID key into an env variable",
    agentWith((p) => {
      p.spec.containers[0].env = [
        { name: "KEY", valueFrom: { secretKeyRef: { name: "payments-svid-tls", key: "tls.key" } } },
      ];
    }),
    "pod.svidSecret spec.containers[0].env[0].valueFrom.secretKeyRef.name",
  ],
  [
    "read the pod's own SVID Secret into the agent's environment with envFrom",
    agentWith((p) => {
      p.spec.containers[0].envFrom = [{ secretRef: { name: "researcher-svid" } }];
    }),
    "pod.svidSecret spec.containers[0].envFrom[0].secretRef.name",
  ],
  [
    "a tool-server pod mounting an agent's SVID Secret",
    serverWith((p) => {
      p.spec.volumes.push({ name: "stolen", secret: { secretName: "payments-svid-tls" } });
    }),
    "pod.svidSecret spec.volumes[LAST].secret.secretName",
  ],
  [
    "agent container runs as the gateway's UID",
    agentWith((p) => {
      p.spec.containers[0].securityContext.runAsUser = GATEWAY_UID;
    }),
    "gateway.sharedUser spec.containers[0].securityContext.runAsUser",
  ],
  [
    "pod-level runAsUser gives every agent container the gateway's UID",
    agentWith((p) => {
      p.spec.securityContext.runAsUser = GATEWAY_UID;
    }),
    "gateway.sharedUser spec.securityContext.runAsUser",
  ],
  [
    "init container runs with the gateway's GID",
    agentWith((p) => {
      p.spec.initContainers[1].securityContext.runAsGroup = GATEWAY_UID;
    }),
    "gateway.sharedUser spec.initContainers[1].securityContext.runAsGroup",
  ],
  [
    "tool server runs as the inbound gateway's UID",
    serverWith((p) => {
      p.spec.containers[0].securityContext.runAsUser = GATEWAY_UID;
    }),
    "gateway.sharedUser spec.containers[0].securityContext.runAsUser",
  ],
  [
    "kubectl debug --target=warden-gateway (ephemeral container joins the gateway's PID namespace)",
    agentWith((p) => {
      p.spec.ephemeralContainers = [
        {
          name: "debugger",
          image: "busybox:1.37",
          targetContainerName: "warden-gateway",
          securityContext: {
            readOnlyRootFilesystem: true,
            allowPrivilegeEscalation: false,
            capabilities: { drop: ["ALL"] },
          },
        },
      ];
    }),
    "gateway.debugTarget spec.ephemeralContainers[0].targetContainerName",
  ],
  [
    "kubectl debug --target=warden-gateway on a tool-server pod",
    serverWith((p) => {
      p.spec.ephemeralContainers = [
        {
          name: "debugger",
          image: "busybox:1.37",
          targetContainerName: "warden-gateway",
          securityContext: {
            readOnlyRootFilesystem: true,
            allowPrivilegeEscalation: false,
            capabilities: { drop: ["ALL"] },
          },
        },
      ];
    }),
    "gateway.debugTarget spec.ephemeralContainers[0].targetContainerName",
  ],
  [
    "projected token with the API server's audience mounted into the agent",
    agentWith((p) => {
      p.spec.volumes.push({
        name: "kube",
        projected: {
          sources: [
            {
              serviceAccountToken: {
                audience: "https://kubernetes.default.svc.cluster.local",
                path: "token",
              },
            },
          ],
        },
      });
      p.spec.containers[0].volumeMounts = [
        { name: "kube", mountPath: "/var/run/secrets/kubernetes.io/serviceaccount" },
      ];
    }),
    "pod.automountToken spec.volumes[LAST].projected.sources[0].serviceAccountToken.audience",
  ],
  [
    "projected token with the API server's short audience (kubernetes)",
    agentWith((p) => {
      p.spec.volumes.push({
        name: "kube",
        projected: { sources: [{ serviceAccountToken: { audience: "kubernetes", path: "token" } }] },
      });
    }),
    "pod.automountToken spec.volumes[LAST].projected.sources[0].serviceAccountToken.audience",
  ],
  [
    "projected token with no audience (defaults to the API server's)",
    agentWith((p) => {
      p.spec.volumes.push({
        name: "kube",
        projected: { sources: [{ serviceAccountToken: { path: "token" } }] },
      });
    }),
    "pod.automountToken spec.volumes[LAST].projected.sources[0].serviceAccountToken",
  ],
  [
    "tool-server pod running as another ServiceAccount than its ToolManifest names",
    serverWith((p) => {
      p.spec.serviceAccountName = "default";
    }),
    "toolServer.serviceAccount spec.serviceAccountName",
  ],
  [
    "pod labelled both as agent and as tool server",
    agentWith((p) => {
      p.metadata.labels["warden.dev/tool-server"] = "search";
    }),
    'enclave.podKind metadata.labels["warden.dev/tool-server"]',
  ],
];

describe("credentials and roles: attacks", () => {
  it.each(ATTACKS)("refuses: %s", (_name, build, expected) => {
    const pod = build();
    // LAST: the volume the attack added, after the ones the injector wrote.
    const want = expected.replace("LAST", String((pod.spec.volumes ?? []).length - 1));
    expect(rules(check(pod, { snap: withSecretIdentity() }))).toContain(want);
  });

  it("tool-server pods whose ToolManifest names no ServiceAccount are refused (the issuer would refuse their SVID)", () => {
    const tm: Loose = searchManifest();
    delete tm.spec.server.serviceAccountName;
    expect(rules(check(toolServerPod(), { snap: snapshot([enclave(), identity(), tm]) }))).toEqual([
      'toolServer.serviceAccount metadata.labels["warden.dev/tool-server"]',
    ]);
  });

  it("leaves compliant pods alone: the agent with its own identity, the tool server, other UIDs and Secrets", () => {
    const a: Loose = agentPod();
    a.spec.containers[0].securityContext.runAsUser = 10001;
    a.spec.volumes.push({ name: "cfg", secret: { secretName: "researcher-config" } });
    expect(rules(check(a, { snap: withSecretIdentity() }))).toEqual([]);
    expect(rules(check(toolServerPod(), { snap: withSecretIdentity() }))).toEqual([]);
  });
});
