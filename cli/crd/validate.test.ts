import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { baseObject, CRD_CASES } from "../../test/fixtures/crd-cases.ts";
import { bundledCrdObjects } from "./schemas.ts";
import { type CrdVersion, crdVersions, validateCustomResource } from "./validate.ts";

const CRDS = new Map<string, CrdVersion>(
  bundledCrdObjects().map((c) => {
    const v = crdVersions(c)[0]!;
    return [v.kind, v];
  }),
);

function paths(o: unknown, kind: string, old?: unknown): string[] {
  return validateCustomResource(o, CRDS.get(kind)!, old === undefined ? {} : { old })
    .map((e) => e.path)
    .sort();
}

describe("CRD validation (the API server's, offline): attack table", () => {
  for (const c of CRD_CASES) {
    it(`${c.kind}: ${c.what} → ${c.paths.length ? c.paths.join(", ") || "(object)" : "accepted"}`, () => {
      const o = baseObject(c.kind, "case", "team-a");
      c.mutate(o);
      expect(paths(o, c.kind)).toEqual([...c.paths].sort());
    });
  }
});

describe("UPDATE: ratcheting and transition rules", () => {
  it("an unchanged invalid value is ratcheted; changing it to another invalid value is not", () => {
    const old = baseObject("AgentIdentity", "a", "team-a");
    old.spec.svid = { ttl: "1m" };
    const same = structuredClone(old);
    same.spec.sponsor = { name: "someone else" };
    expect(paths(same, "AgentIdentity", old)).toEqual([]);
    const changed = structuredClone(old);
    changed.spec.svid = { ttl: "2m" };
    expect(paths(changed, "AgentIdentity", old)).toEqual(["spec.svid.ttl"]);
    expect(paths(changed, "AgentIdentity")).toEqual(["spec.svid.ttl"]);
  });
});

describe("CRD validation never throws, whatever the input (fails closed with findings)", () => {
  const json = fc.jsonValue({ maxDepth: 4 });
  it("arbitrary specs", () => {
    fc.assert(
      fc.property(fc.constantFrom("AgentIdentity", "AgentEnclave", "ToolManifest"), json, (kind, spec) => {
        const o = { apiVersion: "warden.dev/v1alpha1", kind, metadata: { name: "x" }, spec };
        const errs = validateCustomResource(o, CRDS.get(kind)!);
        if (typeof spec !== "object" || spec === null || Array.isArray(spec))
          expect(errs.length).toBeGreaterThan(0);
      }),
      { numRuns: 120 },
    );
  });
  it("arbitrary strings in every string field CEL or a pattern judges", () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 40 }),
        fc.string({ maxLength: 40 }),
        fc.string({ maxLength: 40 }),
        (ttl, cidr, url) => {
          const aid = baseObject("AgentIdentity", "a", "team-a");
          aid.spec.svid = { ttl };
          validateCustomResource(aid, CRDS.get("AgentIdentity")!);
          const enc = baseObject("AgentEnclave", "e", "team-a");
          enc.spec.egress[0].cidr = cidr;
          validateCustomResource(enc, CRDS.get("AgentEnclave")!);
          const tm = baseObject("ToolManifest", "t", "team-a");
          tm.spec.endpoint = url;
          validateCustomResource(tm, CRDS.get("ToolManifest")!);
        },
      ),
      { numRuns: 120 },
    );
  });
});
