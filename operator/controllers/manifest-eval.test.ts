import { describe, expect, it } from "vitest";
import { toolDigest } from "../../lib/tool-digest.ts";
import { evaluateManifest } from "./manifest-eval.ts";

const base = { endpoint: "https://s.ns.svc:8443/mcp", server: { port: 8443 } };

describe("evaluateManifest", () => {
  it("computes the digest when the definition is given and fills defaults", () => {
    const def = { name: "search", description: "d", inputSchema: { type: "object" } };
    const r = evaluateManifest({ spec: { ...base, tools: [def, { name: "plain" }] } as never });
    expect(r.accepted.status).toBe("True");
    expect(r.tools).toEqual([
      { name: "search", digest: toolDigest(def), risk: "Medium" },
      { name: "plain", digest: undefined, risk: "Medium" },
    ]);
    expect(r.accepted.message).toContain("not pinned");
    expect(r.spec?.mode).toBe("Enforce");
  });

  it("refuses a pinned digest that does not match the definition, naming the tool", () => {
    const r = evaluateManifest({
      spec: {
        ...base,
        tools: [{ name: "fetch", description: "d", digest: `sha256:${"0".repeat(64)}` }],
      } as never,
    });
    expect(r.accepted).toMatchObject({ status: "False", reason: "DigestMismatch" });
    expect(r.accepted.message).toContain("fetch");
  });

  it("reports an invalid spec with the field path", () => {
    const r = evaluateManifest({ spec: { ...base, tools: [{ name: "bad name" }] } as never });
    expect(r.accepted).toMatchObject({ status: "False", reason: "Invalid" });
    expect(r.accepted.message).toContain("spec.tools[0].name");
  });
});
