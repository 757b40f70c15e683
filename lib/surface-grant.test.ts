import { describe, expect, it } from "vitest";
import type { Grant, ToolManifestSpec } from "../api/v1alpha1/index.ts";
import { gatewayPolicy, toolManifestSpec } from "../api/v1alpha1/index.ts";
import { evaluateManifest } from "../operator/controllers/manifest-eval.ts";
import { compilePolicy } from "../operator/controllers/policy.ts";
import { compileSurface } from "./surface-grant.ts";

const manifest: ToolManifestSpec = toolManifestSpec.parse({
  endpoint: "https://docs.ns.svc:8443/mcp",
  server: { port: 8443 },
  tools: [{ name: "search" }],
  resources: { uriPatterns: ["file:///docs/*", "https://wiki.example.com/pages/*"], subscribe: false },
  prompts: ["summarize", "review_code"],
  completion: true,
  logging: false,
  clientFeatures: { sampling: true, elicitation: false },
});

const grant = (extra: Partial<Grant>): Grant => ({ manifest: { name: "docs" }, tools: [], ...extra });

describe("compileSurface: a grant yields only what the ToolManifest allows", () => {
  const rows: {
    what: string;
    grant: Partial<Grant>;
    surface: Record<string, unknown>;
    problems: { reason: string; mentions: string }[];
  }[] = [
    { what: "nothing asked, nothing granted", grant: {}, surface: {}, problems: [] },
    {
      what: "a URI pattern inside the manifest's",
      grant: { resources: { uriPatterns: ["file:///docs/public/*"], subscribe: false } },
      surface: { resources: { uriPatterns: ["file:///docs/public/*"], subscribe: false } },
      problems: [],
    },
    {
      what: "the manifest's own pattern",
      grant: { resources: { uriPatterns: ["https://wiki.example.com/pages/*"], subscribe: false } },
      surface: { resources: { uriPatterns: ["https://wiki.example.com/pages/*"], subscribe: false } },
      problems: [],
    },
    {
      what: "'*' is wider than the manifest: left out",
      grant: { resources: { uriPatterns: ["*"], subscribe: false } },
      surface: {},
      problems: [{ reason: "ResourceNotInManifest", mentions: "spec.resources.uriPatterns" }],
    },
    {
      what: "a sibling directory sharing a prefix (file:///docs-private/*)",
      grant: { resources: { uriPatterns: ["file:///docs-private/*"], subscribe: false } },
      surface: {},
      problems: [{ reason: "ResourceNotInManifest", mentions: "docs-private" }],
    },
    {
      what: "a wildcard that widens the host (https://wiki.example.com*)",
      grant: { resources: { uriPatterns: ["https://wiki.example.com*"], subscribe: false } },
      surface: {},
      problems: [{ reason: "ResourceNotInManifest", mentions: "not within" }],
    },
    {
      what: "a dot-segment escape in the pattern (file:///docs/../etc/*)",
      grant: { resources: { uriPatterns: ["file:///docs/../etc/*"], subscribe: false } },
      surface: {},
      problems: [{ reason: "ResourceNotInManifest", mentions: "'..' segment" }],
    },
    {
      what: "an encoded dot-segment escape (file:///docs/%2e%2e/etc/*)",
      grant: { resources: { uriPatterns: ["file:///docs/%2e%2e/etc/*"], subscribe: false } },
      surface: {},
      problems: [{ reason: "ResourceNotInManifest", mentions: "percent-encodes" }],
    },
    {
      what: "another scheme with the same path (http://docs/*)",
      grant: { resources: { uriPatterns: ["http:///docs/*"], subscribe: false } },
      surface: {},
      problems: [{ reason: "ResourceNotInManifest", mentions: "not within" }],
    },
    {
      what: "subscribe the manifest does not allow: resources kept, subscribe dropped",
      grant: { resources: { uriPatterns: ["file:///docs/*"], subscribe: true } },
      surface: { resources: { uriPatterns: ["file:///docs/*"], subscribe: false } },
      problems: [{ reason: "NotAllowedByManifest", mentions: "spec.resources.subscribe" }],
    },
    {
      what: "a listed prompt, and one the manifest does not list",
      grant: { prompts: ["summarize", "delete_repo"] },
      surface: { prompts: ["summarize"] },
      problems: [{ reason: "PromptNotInManifest", mentions: "delete_repo" }],
    },
    {
      what: "a prompt name in another case is another prompt",
      grant: { prompts: ["Summarize"] },
      surface: {},
      problems: [{ reason: "PromptNotInManifest", mentions: "Summarize" }],
    },
    {
      what: "completion allowed by both",
      grant: { completion: true },
      surface: { completion: true },
      problems: [],
    },
    {
      what: "logging the manifest does not allow",
      grant: { logging: true },
      surface: {},
      problems: [{ reason: "NotAllowedByManifest", mentions: "spec.logging" }],
    },
    {
      what: "sampling allowed, elicitation and roots not",
      grant: { clientFeatures: { sampling: true, elicitation: true, roots: true } },
      surface: { clientFeatures: { sampling: true, elicitation: false, roots: false } },
      problems: [
        { reason: "NotAllowedByManifest", mentions: "spec.clientFeatures.elicitation" },
        { reason: "NotAllowedByManifest", mentions: "spec.clientFeatures.roots" },
      ],
    },
    {
      what: "only features the manifest refuses: none compiled",
      grant: { clientFeatures: { sampling: false, elicitation: true, roots: false } },
      surface: {},
      problems: [{ reason: "NotAllowedByManifest", mentions: "elicitation" }],
    },
  ];
  for (const row of rows) {
    it(row.what, () => {
      const r = compileSurface("docs", manifest, grant(row.grant));
      expect(r.surface).toEqual(row.surface);
      expect(r.problems.map((p) => p.reason)).toEqual(row.problems.map((p) => p.reason));
      row.problems.forEach((p, i) => {
        expect(r.problems[i]!.message).toContain(p.mentions);
        // Every problem says what to do about it.
        expect(r.problems[i]!.message).toMatch(/; (add|fix|narrow|set|remove)/);
      });
    });
  }

  it("a manifest without resources grants none, whatever the agent asks", () => {
    const bare = toolManifestSpec.parse({ ...manifest, resources: undefined });
    const r = compileSurface("docs", bare, grant({ resources: { uriPatterns: ["*"], subscribe: true } }));
    expect(r.surface).toEqual({});
    expect(r.problems[0]!.message).toContain("add spec.resources.uriPatterns to ToolManifest docs");
  });

  it("compilePolicy puts the surface into the gateway policy, which parses", () => {
    const e = evaluateManifest({ spec: manifest });
    const { policy, problems } = compilePolicy({
      identity: {
        apiVersion: "warden.dev/v1alpha1",
        kind: "AgentIdentity",
        metadata: { name: "bot", namespace: "ns" },
        spec: {
          enclave: "e",
          agentType: "research",
          grants: [
            grant({
              tools: [{ name: "search" }],
              resources: { uriPatterns: ["file:///docs/*"], subscribe: false },
              prompts: ["summarize"],
              completion: true,
              clientFeatures: { sampling: true, elicitation: false, roots: false },
            }),
          ],
          svid: { ttl: "15m", delivery: "Issuer" },
          suspended: false,
        },
      },
      spiffeID: "spiffe://cluster.local/ns/ns/sa/bot",
      trustDomain: "cluster.local",
      enclaveToolServers: ["docs"],
      taskTokens: { required: false, issuers: [] },
      manifests: new Map([
        [
          "docs",
          { spec: e.spec, accepted: e.accepted.status === "True", acceptedMessage: "", tools: e.tools },
        ],
      ]),
    });
    expect(problems).toEqual([]);
    expect(gatewayPolicy.parse(policy)).toEqual(policy);
    expect(policy.servers[0]).toMatchObject({
      manifest: "docs",
      tools: [{ name: "search" }],
      resources: { uriPatterns: ["file:///docs/*"], subscribe: false },
      prompts: ["summarize"],
      completion: true,
      clientFeatures: { sampling: true, elicitation: false, roots: false },
    });
    expect(policy.servers[0]).not.toHaveProperty("logging");
  });
});
