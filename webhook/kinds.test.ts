import { describe, expect, it } from "vitest";
import { durationMs } from "./kinds.ts";
import { check, enclave, identity, type Loose, searchManifest, snapshot } from "./rules/testkit.ts";

const rules = (v: { violations: { rule: string; path: string }[] }) =>
  v.violations.map((x) => `${x.rule} ${x.path}`);

describe("semantic checks of the warden kinds", () => {
  it("AgentIdentity: sponsor required by the enclave", () => {
    const snap = snapshot([enclave({ requireSponsor: true }), searchManifest()]);
    expect(rules(check(identity(), { snap }))).toEqual(["identity.sponsorRequired spec.sponsor"]);
    expect(rules(check(identity({ sponsor: { name: "alice" } }), { snap }))).toEqual([]);
  });

  it("AgentIdentity: enclave of the namespace, cross-namespace grants, unknown tools", () => {
    const id: Loose = identity({
      enclave: "elsewhere",
      grants: [
        { manifest: { name: "search", namespace: "other-team" }, tools: [{ name: "web_search" }] },
        { manifest: { name: "search" }, tools: [{ name: "web_search" }, { name: "rm_rf" }] },
      ],
    });
    expect(rules(check(id))).toEqual([
      "identity.enclave spec.enclave",
      "identity.crossNamespaceGrant spec.grants[0].manifest.namespace",
      "identity.unknownTool spec.grants[1].tools[1].name",
    ]);
  });

  it("AgentIdentity: resources, prompts and features beyond what the ToolManifest allows", () => {
    const docs: Loose = searchManifest();
    docs.spec.resources = { uriPatterns: ["file:///docs/*"], subscribe: false };
    docs.spec.prompts = ["summarize"];
    docs.spec.completion = true;
    const snap = snapshot([enclave(), docs]);
    const within: Loose = identity({
      grants: [
        {
          manifest: { name: "search" },
          tools: [],
          resources: { uriPatterns: ["file:///docs/public/*"], subscribe: false },
          prompts: ["summarize"],
          completion: true,
        },
      ],
    });
    expect(rules(check(within, { snap }))).toEqual([]);
    const beyond: Loose = identity({
      grants: [
        {
          manifest: { name: "search" },
          tools: [{ name: "web_search" }],
          resources: { uriPatterns: ["file:///docs/*", "file:///docs-private/*"], subscribe: true },
          prompts: ["Summarize"],
          logging: true,
          clientFeatures: { sampling: true, elicitation: false, roots: false },
        },
      ],
    });
    const v = check(beyond, { snap });
    expect(rules(v)).toEqual([
      "identity.surfaceNotInManifest spec.grants[0].resources.uriPatterns[1]",
      "identity.surfaceNotInManifest spec.grants[0].resources.subscribe",
      "identity.surfaceNotInManifest spec.grants[0].prompts[0]",
      "identity.surfaceNotInManifest spec.grants[0].logging",
      "identity.surfaceNotInManifest spec.grants[0].clientFeatures.sampling",
    ]);
    // Each names what to do.
    for (const x of v.violations) expect(x.fix).toMatch(/^(narrow|set|fix|add)/);
  });

  it("AgentIdentity: warnings for what may legitimately arrive later or is capped", () => {
    const v = check(
      identity({
        svid: { ttl: "2h", delivery: "Issuer" },
        grants: [{ manifest: { name: "later" }, tools: [{ name: "x" }] }],
      }),
      { snap: snapshot([enclave({ maxSvidTTL: "1h" })]) },
    );
    expect(v.violations).toEqual([]);
    expect(v.warnings.join("\n")).toMatch(/svid.ttl 2h exceeds the enclave's maxSvidTTL 1h/);
    expect(v.warnings.join("\n")).toMatch(/ToolManifest later .* does not exist yet/);
  });

  it("AgentEnclave: one per namespace, known rule ids, expiring and expired exemptions", () => {
    const other: Loose = enclave();
    other.metadata.name = "second";
    expect(rules(check(other))).toEqual(["enclave.onePerNamespace metadata.name"]);
    const ex: Loose = enclave({
      exemptions: [
        {
          name: "soon",
          rules: ["pod.hostPath"],
          startsAt: "2026-05-20T00:00:00Z",
          expiresAt: "2026-06-01T20:00:00Z",
          reason: "collector migration window",
        },
        {
          name: "gone",
          rules: ["pod.hostpath"],
          startsAt: "2026-04-20T00:00:00Z",
          expiresAt: "2026-05-01T00:00:00Z",
          reason: "an old and misspelt one",
        },
      ],
    });
    const v = check(ex, { snap: snapshot([searchManifest()]) });
    expect(rules(v)).toEqual(["enclave.exemptionRule spec.exemptions[1].rules[0]"]);
    expect(v.warnings).toEqual([
      expect.stringMatching(/exemption soon expires within 24h/),
      expect.stringMatching(/exemption gone expired/),
    ]);
  });

  it("ToolManifest: UPDATE removing a granted tool warns", () => {
    const before = searchManifest();
    const after: Loose = structuredClone(before);
    after.spec.tools = [{ name: "other_tool", risk: "Low" }];
    const snap = snapshot([
      enclave(),
      identity({ grants: [{ manifest: { name: "search" }, tools: [{ name: "web_search" }] }] }),
    ]);
    const v = check(after, { snap, old: before });
    expect(v.warnings).toEqual([
      expect.stringMatching(/removing web_search breaks grants of AgentIdentity researcher/),
    ]);
  });

  it("ToolManifest: a resources- or prompts-only server is admitted; one that offers nothing is not", () => {
    const docs: Loose = searchManifest();
    docs.spec.tools = [];
    docs.spec.resources = { uriPatterns: ["file:///docs/*"], subscribe: false };
    expect(rules(check(docs))).toEqual([]);
    const prompts: Loose = searchManifest();
    delete prompts.spec.tools;
    prompts.spec.prompts = ["summarize"];
    expect(rules(check(prompts))).toEqual([]);
    const nothing: Loose = searchManifest();
    nothing.spec.tools = [];
    const v = check(nothing);
    expect(rules(v)).toEqual(["object.invalid spec.tools"]);
    expect(v.violations[0]!.message).toMatch(/list the server's tools in spec.tools, or set spec.resources/);
    expect(v.violations[0]!.fix).toMatch(/spec.tools/);
  });

  it("schema errors are reported as object.invalid with the field", () => {
    const bad: Loose = identity();
    bad.spec.agentType = "Not A Label";
    expect(rules(check(bad))[0]).toBe("object.invalid spec.agentType");
  });

  it("durationMs reads Go durations", () => {
    expect(durationMs("1h30m")).toBe(5_400_000);
    expect(durationMs("90s")).toBe(90_000);
    expect(durationMs("250ms")).toBe(250);
  });
});
