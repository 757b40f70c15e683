import { describe, expect, it } from "vitest";
import { networkPolicyMatches } from "./enclave.ts";
import { enclaveNetwork } from "./netpol.ts";
import { statusUnchanged } from "./status.ts";

const c = (type: string, status: string, reason = "R") => ({
  type,
  status,
  reason,
  message: "m",
  lastTransitionTime: "2026-01-01T00:00:00Z",
});

describe("statusUnchanged", () => {
  it("matches conditions by type whatever their order, and sees any difference", () => {
    const want = { observedGeneration: 2, conditions: [c("A", "True"), c("Ready", "True")] };
    expect(
      statusUnchanged(want, {
        observedGeneration: 2,
        lastIssued: { serial: "x" },
        conditions: [c("Ready", "True"), c("A", "True")],
      }),
    ).toBe(true);
    expect(statusUnchanged(want, { observedGeneration: 1, conditions: want.conditions })).toBe(false);
    expect(
      statusUnchanged(want, { observedGeneration: 2, conditions: [c("A", "True"), c("Ready", "False")] }),
    ).toBe(false);
    expect(statusUnchanged(want, { observedGeneration: 2, conditions: [c("A", "True")] })).toBe(false);
    expect(statusUnchanged(want, undefined)).toBe(false);
  });
});

describe("networkPolicyMatches", () => {
  const [deny] = enclaveNetwork(
    {
      apiVersion: "warden.dev/v1alpha1",
      kind: "AgentEnclave",
      metadata: { name: "e", namespace: "n" },
      spec: { maxSvidTTL: "1h", requireSponsor: false, requireTaskToken: false },
    },
    new Map(),
    new Date(),
  ).policies;
  it("accepts the live object with server-side additions and refuses hand-added rules", () => {
    const live = {
      ...deny!,
      metadata: { ...deny!.metadata, uid: "u", labels: { ...deny!.metadata.labels, extra: "x" } },
    };
    expect(networkPolicyMatches(deny!, live as never)).toBe(true);
    expect(networkPolicyMatches(deny!, { ...live, spec: { ...deny!.spec, egress: [{}] } } as never)).toBe(
      false,
    );
    expect(
      networkPolicyMatches(deny!, { ...live, spec: { ...deny!.spec, policyTypes: ["Ingress"] } } as never),
    ).toBe(false);
    expect(networkPolicyMatches(deny!, undefined)).toBe(false);
  });
});
