import { describe, expect, it } from "vitest";
import { ValidationError } from "../errors.ts";
import { parseSpiffeID, parseWorkloadID, validateTrustDomain, workloadID } from "./spiffe-id.ts";

// One test per MUST of the SPIFFE ID spec (SPIFFE-ID.md §2).
describe("SPIFFE ID", () => {
  const bad = (id: string, msg: RegExp) => {
    expect(() => parseSpiffeID(id)).toThrow(ValidationError);
    expect(() => parseSpiffeID(id)).toThrow(msg);
  };

  it("accepts a well-formed ID and splits it", () => {
    const id = parseSpiffeID("spiffe://example.org/ns/agents/sa/research-1");
    expect(id.trustDomain).toBe("example.org");
    expect(id.segments).toEqual(["ns", "agents", "sa", "research-1"]);
    expect(id.toString()).toBe("spiffe://example.org/ns/agents/sa/research-1");
  });
  it("MUST use the spiffe scheme, lower-case", () => {
    bad("https://example.org/a", /spiffe:\/\//);
    bad("SPIFFE://example.org/a", /scheme must be lower-case/);
    bad("spiffe:example.org/a", /spiffe:\/\//);
  });
  it("MUST have a non-empty trust domain", () => bad("spiffe:///a", /must not be empty/));
  it("trust domain MUST be lower-case", () => bad("spiffe://Example.org/a", /lower-case/));
  it("trust domain MUST use only [a-z0-9._-]", () => bad("spiffe://exa$mple.org/a", /only a-z/));
  it("MUST NOT carry userinfo", () => bad("spiffe://user@example.org/a", /userinfo/));
  it("MUST NOT carry a port", () => bad("spiffe://example.org:8443/a", /port/));
  it("MUST NOT carry a query", () => bad("spiffe://example.org/a?x=1", /query/));
  it("MUST NOT carry a fragment", () => bad("spiffe://example.org/a#frag", /fragment/));
  it("path segments MUST NOT be empty", () => {
    bad("spiffe://example.org//a", /must not be empty/);
    bad("spiffe://example.org/a/", /must not be empty/);
    bad("spiffe://example.org/", /must not end with/);
  });
  it("path segments MUST NOT be dot segments", () => {
    bad("spiffe://example.org/a/./b", /'\.' or '\.\.'/);
    bad("spiffe://example.org/a/../b", /'\.' or '\.\.'/);
  });
  it("path segments MUST use only [A-Za-z0-9._-] (no percent-encoding)", () => {
    bad("spiffe://example.org/a b", /only A-Z/);
    bad("spiffe://example.org/a%2Fb", /percent/);
  });
  it("MUST be at most 2048 bytes", () => {
    const long = `spiffe://example.org/${"a".repeat(2048)}`;
    bad(long, /2048/);
    const ok = `spiffe://example.org/${"a".repeat(2048 - "spiffe://example.org/".length)}`;
    expect(parseSpiffeID(ok).toString()).toBe(ok);
  });
  it("trust domain MUST be at most 255 characters", () => bad(`spiffe://${"a".repeat(256)}/x`, /255/));
  it("a workload ID MUST have a path; the trust domain ID is valid on its own", () => {
    expect(parseSpiffeID("spiffe://example.org").path).toBe("");
    expect(() => parseWorkloadID("spiffe://example.org")).toThrow(/must have a path/);
  });
  it("builds the per-agent ID and validates its parts", () => {
    expect(workloadID("cluster.local", "agents", "bot")).toBe("spiffe://cluster.local/ns/agents/sa/bot");
    expect(() => workloadID("Cluster.local", "agents", "bot")).toThrow(ValidationError);
    expect(() => validateTrustDomain("td:1")).toThrow(/port/);
  });
});
