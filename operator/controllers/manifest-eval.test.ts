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

  it("accepts a manifest without tools that offers resources or prompts", () => {
    const r = evaluateManifest({
      spec: { ...base, resources: { uriPatterns: ["file:///docs/*"] }, prompts: ["summarize"] } as never,
    });
    expect(r.accepted).toMatchObject({ status: "True", reason: "Accepted" });
    expect(r.accepted.message).toBe("No tools; accepted for resources, prompts.");
    expect(r.tools).toEqual([]);
    expect(r.spec?.tools).toEqual([]);
  });

  const nothing: [string, Record<string, unknown>][] = [
    ["no tools and nothing else", {}],
    ["tools: [] and nothing else", { tools: [] }],
    [
      "tools: [] and only switched-off surface",
      {
        tools: [],
        prompts: [],
        completion: false,
        logging: false,
        clientFeatures: { sampling: false, elicitation: false, roots: false },
      },
    ],
  ];
  for (const [what, extra] of nothing) {
    it(`refuses a manifest that describes nothing (${what}), naming spec.tools and the fix`, () => {
      const r = evaluateManifest({ spec: { ...base, ...extra } as never });
      expect(r.accepted).toMatchObject({ status: "False", reason: "Invalid" });
      expect(r.accepted.message).toContain("spec.tools: spec.tools is empty");
      expect(r.accepted.message).toMatch(/list the server's tools in spec.tools, or set spec.resources/);
    });
  }
});
