import { describe, expect, it } from "vitest";
import type { AgentIdentity } from "../../api/v1alpha1/index.ts";
import { gatewayPolicy, inboundPolicy } from "../../api/v1alpha1/index.ts";
import { evaluateManifest } from "./manifest-eval.ts";
import { compileInboundPolicy, compilePolicy, policyToWrite, type ResolvedManifest } from "./policy.ts";

function resolved(spec: unknown): ResolvedManifest {
  const e = evaluateManifest({ spec: spec as never });
  return {
    spec: e.spec,
    accepted: e.accepted.status === "True",
    acceptedMessage: e.accepted.message,
    tools: e.tools,
  };
}

const search = resolved({
  endpoint: "https://search.ns.svc:8443/mcp",
  server: { port: 8443, serviceAccountName: "search-sa" },
  credential: { secretName: "search-cred" },
  tools: [
    {
      name: "web_search",
      description: "Search",
      inputSchema: { type: "object" },
      risk: "Low",
      arguments: [{ argument: "q", maxLength: 500 }],
      rateLimit: { requests: 100, period: "1m" },
      approval: { required: true, timeout: "10m", approvers: ["owner"] },
    },
    { name: "fetch", risk: "High" },
  ],
});

const identity = (
  grants: AgentIdentity["spec"]["grants"],
  extra: Partial<AgentIdentity["spec"]> = {},
): AgentIdentity => ({
  apiVersion: "warden.dev/v1alpha1",
  kind: "AgentIdentity",
  metadata: { name: "bot", namespace: "ns" },
  spec: {
    enclave: "e",
    agentType: "research",
    grants,
    svid: { ttl: "15m", delivery: "Issuer" },
    suspended: false,
    ...extra,
  },
});

const base = {
  spiffeID: "spiffe://cluster.local/ns/ns/sa/bot",
  trustDomain: "cluster.local",
  enclaveToolServers: ["search"],
  taskTokens: { required: false, issuers: [] },
};

describe("compilePolicy", () => {
  it("grants the intersection, concatenates constraints, takes the stricter limit and validates", () => {
    const { policy, problems } = compilePolicy({
      ...base,
      identity: identity([
        {
          manifest: { name: "search" },
          tools: [
            {
              name: "web_search",
              arguments: [{ argument: "q", pattern: "^[a-z ]+$" }],
              rateLimit: { requests: 10, period: "1m", burst: 2 },
            },
            { name: "delete_everything" },
          ],
        },
      ]),
      manifests: new Map([["search", search]]),
    });
    expect(gatewayPolicy.parse(policy)).toEqual(policy);
    expect(problems).toEqual([expect.objectContaining({ reason: "ToolNotInManifest" })]);
    expect(problems[0]?.message).toContain("delete_everything");
    const server = policy.servers[0]!;
    expect(server).toMatchObject({
      manifest: "search",
      serverSpiffeID: "spiffe://cluster.local/ns/ns/sa/search-sa",
      credential: { secretName: "search-cred", key: "token", header: "Authorization", scheme: "Bearer" },
    });
    expect(server.tools.map((t) => t.name)).toEqual(["web_search"]);
    const tool = server.tools[0]!;
    expect(tool.arguments.map((a) => a.argument)).toEqual(["q", "q"]);
    expect(tool.rateLimit).toEqual({ requests: 10, periodSeconds: 60, burst: 2 });
    expect(tool.approval).toEqual({ required: true, timeoutSeconds: 600, approvers: ["owner"] });
    expect(tool.digest).toMatch(/^sha256:[a-f0-9]{64}$/);
  });

  it("leaves out what does not resolve, with reasons, and the version follows the content", () => {
    const grants = [
      { manifest: { name: "missing" }, tools: [{ name: "x" }] },
      { manifest: { name: "other", namespace: "elsewhere" }, tools: [{ name: "x" }] },
      { manifest: { name: "search" }, tools: [{ name: "fetch" }] },
    ];
    const a = compilePolicy({
      ...base,
      identity: identity(grants),
      manifests: new Map([["search", search]]),
    });
    expect(a.problems.map((p) => p.reason).sort()).toEqual(["CrossNamespaceReference", "ManifestNotFound"]);
    expect(a.policy.servers.map((s) => s.manifest)).toEqual(["search"]);
    const notInEnclave = compilePolicy({
      ...base,
      enclaveToolServers: [],
      identity: identity(grants),
      manifests: new Map([["search", search]]),
    });
    expect(notInEnclave.policy.servers).toEqual([]);
    expect(notInEnclave.problems.map((p) => p.reason)).toContain("ToolServerNotInEnclave");
    expect(notInEnclave.policy.version).not.toBe(a.policy.version);
    const again = compilePolicy({
      ...base,
      identity: identity(grants),
      manifests: new Map([["search", search]]),
    });
    expect(again.policy.version).toBe(a.policy.version);
  });
});

describe("compileInboundPolicy", () => {
  it("lists callers sorted and unique, and validates", () => {
    const p = compileInboundPolicy("search", "ns", [
      "spiffe://td/ns/ns/sa/b",
      "spiffe://td/ns/ns/sa/a",
      "spiffe://td/ns/ns/sa/a",
    ]);
    expect(inboundPolicy.parse(p).allowedCallers).toEqual([
      "spiffe://td/ns/ns/sa/a",
      "spiffe://td/ns/ns/sa/b",
    ]);
  });
});

describe("policyToWrite", () => {
  const granted = () =>
    compilePolicy({
      ...base,
      identity: identity([{ manifest: { name: "search" }, tools: [{ name: "web_search" }] }]),
      manifests: new Map([["search", search]]),
    }).policy;
  const refusal = {
    reason: "DuplicateSpiffeID",
    message: "AgentIdentity old already claims ServiceAccount bot",
  };

  it("writes the compiled policy of an admitted identity", () => {
    const compiled = granted();
    const decision = { admitted: true, spiffeID: base.spiffeID };
    expect(policyToWrite({ decision, compiled, identity: identity([]), hasPolicy: false })).toBe(compiled);
    expect(policyToWrite({ decision, compiled, identity: identity([]), hasPolicy: true })).toBe(compiled);
  });

  it("fails closed: a refused identity's existing policy becomes deny-all with the reason", () => {
    const compiled = granted();
    expect(compiled.servers[0]?.tools.map((t) => t.name)).toEqual(["web_search"]);
    const p = policyToWrite({
      decision: { admitted: false, spiffeID: base.spiffeID, refusal },
      compiled,
      identity: identity([{ manifest: { name: "search" }, tools: [{ name: "web_search" }] }]),
      hasPolicy: true,
    });
    expect(p).toBeDefined();
    expect(gatewayPolicy.parse(p)).toEqual(p);
    expect(p?.agent).toEqual({
      name: "bot",
      namespace: "ns",
      spiffeID: base.spiffeID,
      suspended: true,
      refused: refusal,
    });
    expect(p?.servers).toEqual([]);
    expect(p?.taskTokens).toEqual({ required: true, issuers: [] });
    expect(p?.version).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(p?.version).not.toBe(compiled.version);
  });

  it("creates no policy for a refused identity that never had one", () => {
    expect(
      policyToWrite({
        decision: { admitted: false, spiffeID: base.spiffeID, refusal },
        compiled: granted(),
        identity: identity([]),
        hasPolicy: false,
      }),
    ).toBeUndefined();
  });
});
