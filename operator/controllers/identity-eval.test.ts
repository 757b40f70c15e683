import { describe, expect, it } from "vitest";
import type { AgentEnclave, AgentIdentity } from "../../api/v1alpha1/index.ts";
import { decideIdentity } from "./identity-eval.ts";

const identity = (spec: Partial<AgentIdentity["spec"]> = {}): AgentIdentity => ({
  apiVersion: "warden.dev/v1alpha1",
  kind: "AgentIdentity",
  metadata: { name: "bot", namespace: "ns" },
  spec: {
    enclave: "e",
    agentType: "research",
    svid: { ttl: "2h", delivery: "Issuer" },
    suspended: false,
    ...spec,
  },
});
const enclave = (spec: Partial<AgentEnclave["spec"]> = {}): AgentEnclave => ({
  apiVersion: "warden.dev/v1alpha1",
  kind: "AgentEnclave",
  metadata: { name: "e", namespace: "ns" },
  spec: { maxSvidTTL: "1h", requireSponsor: false, requireTaskToken: false, ...spec },
});
const reasons = (d: ReturnType<typeof decideIdentity>) =>
  Object.fromEntries(d.conditions.map((c) => [c.type, c.reason]));

describe("decideIdentity", () => {
  it("is Ready with the SPIFFE ID and the TTL capped by the enclave", () => {
    const d = decideIdentity({
      identity: identity(),
      enclave: enclave(),
      trustDomain: "td",
      policyProblems: [],
    });
    expect(d).toMatchObject({ admitted: true, spiffeID: "spiffe://td/ns/ns/sa/bot", effectiveTTL: "1h" });
    expect(d.conditions.every((c) => c.status === "True")).toBe(true);
  });

  it("caps the effective TTL by the cluster-wide --svid-max-ttl after the enclave's cap", () => {
    const ttl = (svidTTL: string, maxSvidTTL: string, clusterMaxTTL?: string) =>
      decideIdentity({
        identity: identity({ svid: { ttl: svidTTL, delivery: "Issuer" } }),
        enclave: enclave({ maxSvidTTL }),
        trustDomain: "td",
        policyProblems: [],
        ...(clusterMaxTTL ? { clusterMaxTTL } : {}),
      }).effectiveTTL;
    expect(ttl("2h", "1h", "30m")).toBe("30m");
    expect(ttl("2h", "1h", "24h")).toBe("1h");
    expect(ttl("15m", "1h", "20m")).toBe("15m");
    expect(ttl("2h", "3h", "90m")).toBe("90m");
    expect(ttl("2h", "3h")).toBe("2h");
    const d = decideIdentity({
      identity: identity(),
      enclave: enclave(),
      trustDomain: "td",
      policyProblems: [],
      clusterMaxTTL: "10m",
    });
    expect(d.conditions.find((c) => c.type === "SVIDIssuable")?.message).toContain("(TTL 10m)");
  });

  it("refuses without an enclave, on a duplicate claim and on a cross-namespace reference", () => {
    expect(
      reasons(decideIdentity({ identity: identity(), trustDomain: "td", policyProblems: [] })).Ready,
    ).toBe("EnclaveNotFound");
    const dup = decideIdentity({
      identity: identity(),
      enclave: enclave(),
      olderClaimant: "first",
      trustDomain: "td",
      policyProblems: [],
    });
    expect(dup.admitted).toBe(false);
    expect(reasons(dup).ServiceAccountReady).toBe("DuplicateSpiffeID");
    const cross = decideIdentity({
      identity: identity(),
      enclave: enclave(),
      trustDomain: "td",
      policyProblems: [{ reason: "CrossNamespaceReference", message: "x" }],
    });
    expect(cross.admitted).toBe(false);
    expect(reasons(cross).Ready).toBe("CrossNamespaceReference");
    // The refusal travels with the decision: it is what the deny-all policy records.
    expect(dup.refusal).toEqual({
      reason: "DuplicateSpiffeID",
      message: expect.stringContaining("first"),
    });
    expect(cross.refusal).toEqual({ reason: "CrossNamespaceReference", message: "x" });
    expect(
      decideIdentity({ identity: identity(), enclave: enclave(), trustDomain: "td", policyProblems: [] })
        .refusal,
    ).toBeUndefined();
  });

  it("keeps the ServiceAccount but makes SVIDs unissuable for a missing sponsor or a suspension", () => {
    const noSponsor = decideIdentity({
      identity: identity(),
      enclave: enclave({ requireSponsor: true }),
      trustDomain: "td",
      policyProblems: [],
    });
    expect(noSponsor.admitted).toBe(true);
    expect(reasons(noSponsor)).toMatchObject({ SVIDIssuable: "SponsorRequired", Ready: "SponsorRequired" });
    const suspended = decideIdentity({
      identity: identity({ suspended: true }),
      enclave: enclave(),
      trustDomain: "td",
      policyProblems: [],
    });
    expect(reasons(suspended).SVIDIssuable).toBe("Suspended");
  });

  it("reports tool problems on ToolsBound", () => {
    const d = decideIdentity({
      identity: identity(),
      enclave: enclave(),
      trustDomain: "td",
      policyProblems: [{ reason: "ManifestNotFound", message: "ToolManifest m does not exist" }],
    });
    expect(d.admitted).toBe(true);
    expect(reasons(d)).toMatchObject({ ToolsBound: "ManifestNotFound", Ready: "ManifestNotFound" });
  });
});
