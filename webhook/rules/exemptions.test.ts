// Attacks through exemptions: an enclave owner writes an exemption to switch off what keeps the
// gateway in the pod, or one that never ends. Each row is an exemption plus the pod it is meant to
// let through; the pod must still be refused by the named rule, and the enclave itself refused.
import { describe, expect, it } from "vitest";
import {
  agentPod,
  agentPodSource,
  check,
  enclave,
  identity,
  type Loose,
  NOW,
  rules,
  searchManifest,
  snapshot,
} from "./testkit.ts";

const DAY = 24 * 60 * 60 * 1000;
const iso = (ms: number) => new Date(NOW.getTime() + ms).toISOString().replace(/\.\d+Z$/, "Z");

function exempt(ruleIds: string[], window: { startsAt?: string; expiresAt?: string } = {}): Loose {
  return {
    name: "waiver",
    rules: ruleIds,
    startsAt: window.startsAt ?? iso(-DAY),
    expiresAt: window.expiresAt ?? iso(DAY),
    reason: "an exemption written to get an attack through",
  };
}

type Attack = [name: string, ex: Loose, pod: () => Loose, expected: string, suspended?: boolean];

const ATTACKS: Attack[] = [
  [
    "waive gateway.present to run an agent without its sidecar",
    exempt(["gateway.present"]),
    () => {
      const p: Loose = agentPodSource();
      return p;
    },
    "gateway.present spec.initContainers",
  ],
  [
    "waive gateway.unmodified to run a rewritten sidecar",
    exempt(["gateway.unmodified"]),
    () => {
      const p: Loose = agentPod();
      p.spec.initContainers[0].env.push({ name: "WARDEN_POLICY_FILE", value: "/tmp/allow-all.json" });
      return p;
    },
    "gateway.unmodified spec.initContainers[0]",
  ],
  [
    "waive gateway.nativeSidecar to let the gateway exit before the agent",
    exempt(["gateway.nativeSidecar"]),
    () => {
      const p: Loose = agentPod();
      delete p.spec.initContainers[0].restartPolicy;
      return p;
    },
    "gateway.nativeSidecar spec.initContainers[0].restartPolicy",
  ],
  [
    "waive pod.issuerTokenOnlyInSidecar to hand the agent the issuer token",
    exempt(["pod.issuerTokenOnlyInSidecar"]),
    () => {
      const p: Loose = agentPod();
      p.spec.containers[0].volumeMounts = [{ name: "warden-issuer-token", mountPath: "/t" }];
      return p;
    },
    "pod.issuerTokenOnlyInSidecar spec.containers[0].volumeMounts[0]",
  ],
  [
    "waive agent.suspended to start a suspended identity's pod",
    exempt(["agent.suspended"]),
    () => agentPod(),
    'agent.suspended metadata.labels["warden.dev/agent"]',
    true,
  ],
  [
    "waive gateway.volumesPrivate to read the gateway's policy and audit files",
    exempt(["gateway.volumesPrivate"]),
    () => {
      const p: Loose = agentPod();
      p.spec.containers[0].volumeMounts = [{ name: "warden-audit", mountPath: "/audit" }];
      return p;
    },
    "gateway.volumesPrivate spec.containers[0].volumeMounts[0]",
  ],
  [
    "waive gateway.impersonation to run a second gateway image",
    exempt(["gateway.impersonation"]),
    () => {
      const p: Loose = agentPod();
      p.spec.containers[1].image = p.spec.initContainers[0].image;
      return p;
    },
    "gateway.impersonation spec.containers[1].image",
  ],
  [
    "waive pod.shareProcessNamespace to read the gateway's memory",
    exempt(["pod.shareProcessNamespace"]),
    () => {
      const p: Loose = agentPod();
      p.spec.shareProcessNamespace = true;
      return p;
    },
    "pod.shareProcessNamespace spec.shareProcessNamespace",
  ],
  [
    "a ten-year exemption (no lifetime cap)",
    exempt(["container.readOnlyRootFilesystem"], { startsAt: iso(-DAY), expiresAt: iso(3650 * DAY) }),
    () => {
      const p: Loose = agentPod();
      p.spec.containers[0].securityContext.readOnlyRootFilesystem = false;
      return p;
    },
    "container.readOnlyRootFilesystem spec.containers[0].securityContext.readOnlyRootFilesystem",
  ],
  [
    "a 31-day exemption, one day past the cap",
    exempt(["container.readOnlyRootFilesystem"], { startsAt: iso(-DAY), expiresAt: iso(30 * DAY) }),
    () => {
      const p: Loose = agentPod();
      p.spec.containers[0].securityContext.readOnlyRootFilesystem = false;
      return p;
    },
    "container.readOnlyRootFilesystem spec.containers[0].securityContext.readOnlyRootFilesystem",
  ],
  [
    "an exemption with no startsAt (stored before it was required)",
    { ...exempt(["container.readOnlyRootFilesystem"]), startsAt: undefined },
    () => {
      const p: Loose = agentPod();
      p.spec.containers[0].securityContext.readOnlyRootFilesystem = false;
      return p;
    },
    "container.readOnlyRootFilesystem spec.containers[0].securityContext.readOnlyRootFilesystem",
  ],
  [
    "an exemption that has not started yet",
    exempt(["container.readOnlyRootFilesystem"], { startsAt: iso(DAY), expiresAt: iso(2 * DAY) }),
    () => {
      const p: Loose = agentPod();
      p.spec.containers[0].securityContext.readOnlyRootFilesystem = false;
      return p;
    },
    "container.readOnlyRootFilesystem spec.containers[0].securityContext.readOnlyRootFilesystem",
  ],
];

function context(ex: Loose, suspended = false) {
  const enc: Loose = enclave();
  // Built by hand, not parsed: an enclave stored before the CRD's CEL rules existed.
  enc.spec.exemptions = [ex];
  return snapshot([enc, identity({ suspended }), searchManifest()]);
}

describe("exemptions cannot switch off the gateway or last forever: attacks", () => {
  it.each(ATTACKS)("refuses the pod: %s", (_name, ex, pod, expected, suspended) => {
    const v = check(pod(), { snap: context(ex, suspended) });
    expect(rules(v)).toContain(expected);
    expect(v.waived).toEqual([]);
  });

  // A future window is a legitimate enclave (scheduled maintenance); every other row is refused.
  const refusedEnclaves = ATTACKS.filter(([name]) => name !== "an exemption that has not started yet");
  it.each(refusedEnclaves)("refuses the enclave: %s", (_name, ex) => {
    const enc: Loose = enclave();
    enc.spec.exemptions = [ex];
    const v = check(enc, { snap: snapshot([]) });
    expect(v.violations.length).toBeGreaterThan(0);
    expect(
      v.violations
        .map((x) => x.rule)
        .every((r) => /^(enclave\.exemption(Rule|Lifetime)|object\.invalid)$/.test(r)),
    ).toBe(true);
  });

  it("still honours a waivable rule inside a window of at most 30 days", () => {
    const ex = exempt(["container.readOnlyRootFilesystem"], {
      startsAt: iso(-15 * DAY),
      expiresAt: iso(15 * DAY),
    });
    const pod: Loose = agentPod();
    pod.spec.containers[0].securityContext.readOnlyRootFilesystem = false;
    const v = check(pod, { snap: context(ex) });
    expect(v.violations).toEqual([]);
    expect(v.waived.map((w) => w.violation.rule)).toEqual(["container.readOnlyRootFilesystem"]);
    const enc: Loose = enclave();
    enc.spec.exemptions = [ex];
    expect(check(enc, { snap: snapshot([]) }).violations).toEqual([]);
  });
});
