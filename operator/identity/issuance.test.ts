// Attacks on the issuer through a pod that escaped admission: each row is a pod the webhook would
// have refused, created as if the webhook had been bypassed. The issuer's pure pod check must refuse
// an SVID for each, naming the rule. A pod exactly as the injector writes it passes.
import type * as k8s from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { DeniedError } from "../../lib/errors.ts";
import { engineSettings } from "../../webhook/evaluate.ts";
import {
  agentPod,
  agentPodSource,
  CFG,
  type Loose,
  NOW,
  NS,
  toolServerPod,
} from "../../webhook/rules/testkit.ts";
import type { TokenIdentity } from "./authn.ts";
import { checkPodRules } from "./authz.ts";

const settings = engineSettings(CFG);
const tok = (pod: Loose): TokenIdentity =>
  ({
    namespace: NS,
    serviceAccount: pod.spec.serviceAccountName,
    podName: pod.metadata.name,
    podUID: "uid",
  }) as TokenIdentity;

const agent = { kind: "agent", enclave: "research", identity: { name: "researcher" } } as const;
const server = { kind: "toolServer", enclave: "research", manifest: { name: "search", port: 8080 } } as const;

/** The refusal's message, or "issued". */
function verdict(pod: Loose, subject: typeof agent | typeof server = agent): string {
  try {
    checkPodRules(pod as k8s.V1Pod, tok(pod), subject, settings, NOW);
    return "issued";
  } catch (e) {
    expect(e).toBeInstanceOf(DeniedError);
    expect((e as DeniedError).reason).toBe("PodNotAdmissible");
    return (e as DeniedError).message;
  }
}

type Attack = [name: string, build: () => Loose, rule: string, subject?: typeof agent | typeof server];

const ATTACKS: Attack[] = [
  ["agent pod with no sidecar at all", () => agentPodSource(), "gateway.present"],
  [
    "sidecar rewritten, annotation forged to its new hash",
    () => {
      const p: Loose = agentPod();
      p.spec.initContainers[0].image = "evil.example/gateway:1";
      return p;
    },
    "gateway.unmodified",
  ],
  [
    "sidecar moved into containers (exits or starts in any order)",
    () => {
      const p: Loose = agentPod();
      p.spec.containers.push(p.spec.initContainers.shift());
      return p;
    },
    "gateway.nativeSidecar",
  ],
  [
    "issuer token mounted into the agent container",
    () => {
      const p: Loose = agentPod();
      p.spec.containers[0].volumeMounts = [{ name: "warden-issuer-token", mountPath: "/t", readOnly: true }];
      return p;
    },
    "pod.issuerTokenOnlyInSidecar",
  ],
  [
    "policy volume mounted into the agent container",
    () => {
      const p: Loose = agentPod();
      p.spec.containers[0].volumeMounts = [{ name: "warden-policy", mountPath: "/p" }];
      return p;
    },
    "gateway.volumesPrivate",
  ],
  [
    "shared process namespace with the gateway",
    () => {
      const p: Loose = agentPod();
      p.spec.shareProcessNamespace = true;
      return p;
    },
    "pod.shareProcessNamespace",
  ],
  [
    "agent container runs as the gateway's UID",
    () => {
      const p: Loose = agentPod();
      p.spec.containers[0].securityContext.runAsUser = CFG.runAsUser;
      return p;
    },
    "gateway.sharedUser",
  ],
  [
    "ephemeral container targeting the gateway",
    () => {
      const p: Loose = agentPod();
      p.spec.ephemeralContainers = [{ name: "dbg", image: "busybox", targetContainerName: "warden-gateway" }];
      return p;
    },
    "gateway.debugTarget",
  ],
  [
    "second container running the gateway image",
    () => {
      const p: Loose = agentPod();
      p.spec.containers[1].image = CFG.image;
      return p;
    },
    "gateway.impersonation",
  ],
  [
    "tool-server pod without its inbound gateway",
    () => {
      const p: Loose = toolServerPod();
      p.spec.initContainers = [];
      return p;
    },
    "gateway.inboundPresent",
    server,
  ],
  [
    "inbound gateway rewritten to forward to another address",
    () => {
      const p: Loose = toolServerPod();
      const env = p.spec.initContainers[0].env.find((e: Loose) => e.name === "WARDEN_UPSTREAM");
      env.value = "http://10.0.0.1:8080";
      return p;
    },
    "gateway.inboundPresent",
    server,
  ],
];

describe("issuer: pod rules re-checked before signing (attacks)", () => {
  it.each(ATTACKS)("refuses an SVID: %s", (_name, build, rule, subject) => {
    expect(verdict(build(), subject)).toContain(`[${rule}]`);
  });

  it("issues to the pods exactly as the injector writes them", () => {
    expect(verdict(agentPod())).toBe("issued");
    expect(verdict(toolServerPod(), server)).toBe("issued");
  });
});
