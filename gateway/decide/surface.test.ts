// The MCP surface beyond tools, decided by the gateway core: one named row per attack on the
// resource, prompt and completion grants, and the allowed counterparts.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { CompiledServer } from "../../api/v1alpha1/policy.ts";
import { decideMessage } from "./decide.ts";
import { filterSurfaceList, serverRequestGranted, surfaceDecision } from "./surface.ts";

const server: CompiledServer = {
  manifest: "docs",
  endpoint: "https://docs:15443/mcp",
  mode: "Enforce",
  tools: [],
  resources: { uriPatterns: ["file:///docs/*"], subscribe: false },
  prompts: ["summarize", "review_code"],
  completion: true,
};
const bare: CompiledServer = { manifest: "docs", endpoint: server.endpoint, mode: "Enforce", tools: [] };
const decide = (method: string, params?: Record<string, unknown>, s: CompiledServer = server) =>
  decideMessage({
    server: s,
    method,
    params,
    task: { state: "absent" },
    taskTokenRequired: false,
    drifted: new Set(),
  });

describe("surface grants: allowed when granted", () => {
  const rows: [string, string, Record<string, unknown> | undefined][] = [
    ["resources/list", "resources/list", undefined],
    ["resources/templates/list", "resources/templates/list", undefined],
    ["reading a granted URI", "resources/read", { uri: "file:///docs/guide.md" }],
    ["prompts/list", "prompts/list", undefined],
    ["a granted prompt", "prompts/get", { name: "summarize", arguments: { text: "x" } }],
    [
      "completion for a granted prompt",
      "completion/complete",
      { ref: { type: "ref/prompt", name: "summarize" }, argument: { name: "a", value: "" } },
    ],
    [
      "completion for a granted resource template",
      "completion/complete",
      { ref: { type: "ref/resource", uri: "file:///docs/{name}" }, argument: { name: "name", value: "g" } },
    ],
  ];
  for (const [what, method, params] of rows) {
    it(what, () => {
      const v = decide(method, params);
      expect(v.outcome).toBe("allow");
      // The params are what the audit records for the call.
      if (params) expect(v.args).toEqual(params);
    });
  }
});

describe("surface grants: attacks", () => {
  const rows: [string, string, Record<string, unknown> | undefined, string, CompiledServer?][] = [
    ["resources/list with no resources granted", "resources/list", undefined, "MethodNotGranted", bare],
    [
      "resources/read with no resources granted",
      "resources/read",
      { uri: "file:///docs/a" },
      "MethodNotGranted",
      bare,
    ],
    ["prompts/list with no prompts granted", "prompts/list", undefined, "MethodNotGranted", bare],
    [
      "completion not granted",
      "completion/complete",
      { ref: { type: "ref/prompt", name: "summarize" } },
      "MethodNotGranted",
      { ...server, completion: undefined },
    ],
    ["logging/setLevel not granted", "logging/setLevel", { level: "debug" }, "MethodNotGranted"],
    ["resources/read without a uri", "resources/read", {}, "InvalidJsonRpc"],
    ["resources/read with a non-string uri", "resources/read", { uri: ["file:///docs/a"] }, "InvalidJsonRpc"],
    ["dot-dot escape", "resources/read", { uri: "file:///docs/../etc/passwd" }, "ResourceNotGranted"],
    [
      "encoded dot-dot escape",
      "resources/read",
      { uri: "file:///docs/%2e%2e/etc/passwd" },
      "ResourceNotGranted",
    ],
    ["double-encoded escape", "resources/read", { uri: "file:///docs/%252e%252e/etc" }, "ResourceNotGranted"],
    ["backslash escape", "resources/read", { uri: "file:///docs\\..\\etc" }, "ResourceNotGranted"],
    ["fullwidth dots", "resources/read", { uri: "file:///docs/\uff0e\uff0e/etc" }, "ResourceNotGranted"],
    ["scheme confusion", "resources/read", { uri: "http:///docs/a" }, "ResourceNotGranted"],
    ["sibling directory", "resources/read", { uri: "file:///docs-private/a" }, "ResourceNotGranted"],
    [
      "subscribe when only read is granted",
      "resources/subscribe",
      { uri: "file:///docs/a" },
      "ResourceNotGranted",
    ],
    [
      "unsubscribe when only read is granted",
      "resources/unsubscribe",
      { uri: "file:///docs/a" },
      "ResourceNotGranted",
    ],
    ["prompt not granted", "prompts/get", { name: "delete_repo" }, "PromptNotGranted"],
    ["prompt in another case", "prompts/get", { name: "Summarize" }, "PromptNotGranted"],
    ["prompt in upper case", "prompts/get", { name: "SUMMARIZE" }, "PromptNotGranted"],
    ["prompt with a trailing space", "prompts/get", { name: "summarize " }, "PromptNotGranted"],
    ["prompt with a zero-width space", "prompts/get", { name: "summa\u200brize" }, "PromptNotGranted"],
    ["prompt with a right-to-left override", "prompts/get", { name: "\u202esummarize" }, "PromptNotGranted"],
    ["prompt with a NUL", "prompts/get", { name: "summarize\u0000" }, "PromptNotGranted"],
    ["prompt with a Cyrillic look-alike", "prompts/get", { name: "ѕummarize" }, "PromptNotGranted"],
    ["prompt in fullwidth letters", "prompts/get", { name: "ｓｕｍｍａｒｉｚｅ" }, "PromptNotGranted"],
    ["prompt in decomposed (NFD) form", "prompts/get", { name: "re\u0301sume\u0301" }, "PromptNotGranted"],
    ["prompts/get without a name", "prompts/get", {}, "InvalidJsonRpc"],
    [
      "completion for an ungranted prompt",
      "completion/complete",
      { ref: { type: "ref/prompt", name: "delete_repo" } },
      "PromptNotGranted",
    ],
    [
      "completion for an ungranted resource",
      "completion/complete",
      { ref: { type: "ref/resource", uri: "file:///etc/{f}" } },
      "ResourceNotGranted",
    ],
    [
      "completion with an escaping template",
      "completion/complete",
      { ref: { type: "ref/resource", uri: "file:///docs/../{f}" } },
      "ResourceNotGranted",
    ],
    [
      "completion without a ref",
      "completion/complete",
      { argument: { name: "a", value: "" } },
      "InvalidJsonRpc",
    ],
    [
      "completion with an unknown ref type",
      "completion/complete",
      { ref: { type: "ref/tool", name: "x" } },
      "InvalidJsonRpc",
    ],
  ];
  for (const [what, method, params, rule, s] of rows) {
    it(`refuses: ${what}`, () => {
      const v = decide(method, params, s);
      expect(v.outcome).toBe("deny");
      expect(v.deny).toMatchObject({ rule, manifest: "docs" });
    });
  }

  it("every refusal for a missing grant names the field to set", () => {
    const fields: [string, string][] = [
      ["resources/list", "resources.uriPatterns"],
      ["prompts/list", "prompts"],
      ["completion/complete", "completion: true"],
      ["logging/setLevel", "logging: true"],
    ];
    for (const [m, field] of fields) {
      const d = surfaceDecision(bare, m, { ref: { type: "ref/prompt", name: "x" } });
      expect(d?.constraint).toContain(field);
      expect(d?.constraint).toMatch(/grant/);
    }
  });

  it("a prompt name that is not exactly a granted one is never granted (property)", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", maxLength: 12 }), (name) => {
        fc.pre(name !== "summarize" && name !== "review_code");
        expect(decide("prompts/get", { name }).outcome).toBe("deny");
      }),
      { numRuns: 2000 },
    );
  });
});

describe("server→client requests", () => {
  it("are granted per feature; ping always; anything else never", () => {
    const s = { ...bare, clientFeatures: { sampling: true, elicitation: false, roots: false } };
    expect(serverRequestGranted(s, "sampling/createMessage")).toBe(true);
    expect(serverRequestGranted(s, "elicitation/create")).toBe(false);
    expect(serverRequestGranted(s, "roots/list")).toBe(false);
    expect(serverRequestGranted(s, "ping")).toBe(true);
    expect(serverRequestGranted(bare, "sampling/createMessage")).toBe(false);
    expect(serverRequestGranted(s, "__proto__")).toBe(false);
    expect(serverRequestGranted(s, "constructor")).toBe(false);
  });
  it("tasks/* only with sampling or elicitation (client-side tasks exist only for those)", () => {
    const only = (f: Partial<Record<"sampling" | "elicitation" | "roots", boolean>>) => ({
      ...bare,
      clientFeatures: { sampling: false, elicitation: false, roots: false, ...f },
    });
    for (const m of ["tasks/get", "tasks/result", "tasks/list", "tasks/cancel"]) {
      expect(serverRequestGranted(only({ sampling: true }), m)).toBe(true);
      expect(serverRequestGranted(only({ elicitation: true }), m)).toBe(true);
      expect(serverRequestGranted(only({ roots: true }), m)).toBe(false);
      expect(serverRequestGranted(bare, m)).toBe(false);
    }
    expect(serverRequestGranted(only({ sampling: true }), "tasks/update")).toBe(false);
  });
});

describe("lists narrowed to the grant", () => {
  it("resources/list shows only canonical URIs matching a granted pattern", () => {
    const r = filterSurfaceList(
      "resources/list",
      {
        resources: [
          { uri: "file:///docs/a.md", name: "a" },
          { uri: "file:///etc/passwd", name: "p" },
          { uri: "file:///docs/../etc/shadow", name: "s" },
          { uri: 7 },
          "junk",
        ],
        nextCursor: "c2",
      },
      server,
    );
    expect(r).toEqual({ resources: [{ uri: "file:///docs/a.md", name: "a" }], nextCursor: "c2" });
  });
  it("resources/templates/list shows templates within a granted pattern", () => {
    const r = filterSurfaceList(
      "resources/templates/list",
      { resourceTemplates: [{ uriTemplate: "file:///docs/{path}" }, { uriTemplate: "file:///{path}" }] },
      server,
    );
    expect(r).toEqual({ resourceTemplates: [{ uriTemplate: "file:///docs/{path}" }] });
  });
  it("prompts/list shows granted prompts only, by exact name", () => {
    const r = filterSurfaceList(
      "prompts/list",
      {
        prompts: [
          { name: "summarize" },
          { name: "Summarize" },
          { name: "delete_repo" },
          { name: "review_code" },
        ],
      },
      server,
    );
    expect(r).toEqual({ prompts: [{ name: "summarize" }, { name: "review_code" }] });
  });
  it("leaves other results alone", () => {
    expect(filterSurfaceList("tools/list", { tools: [] }, server)).toBeUndefined();
    expect(filterSurfaceList("prompts/list", { other: 1 }, server)).toBeUndefined();
  });
});

describe("task tokens over the surface", () => {
  const token = (allowedResources: string[], allowedPrompts: string[]) => ({
    taskId: "task-7",
    allowedTools: [],
    allowedResources,
    allowedPrompts,
    subject: "spiffe://example.org/ns/agents/sa/researcher",
    issuer: "https://orchestrator.example.org",
    expiresAt: 0,
  });
  const under = (
    method: string,
    params: Record<string, unknown> | undefined,
    task: Parameters<typeof decideMessage>[0]["task"],
    taskTokenRequired = false,
  ) => decideMessage({ server, method, params, task, taskTokenRequired, drifted: new Set() });
  const docsTask = { state: "valid" as const, token: token(["file:///docs/guides/*"], ["summarize"]) };
  const read = (uri: string) => ({ uri });
  const promptRef = (name: string) => ({
    ref: { type: "ref/prompt", name },
    argument: { name: "a", value: "" },
  });
  const resourceRef = (uri: string) => ({
    ref: { type: "ref/resource", uri },
    argument: { name: "n", value: "" },
  });

  const allowed: [string, string, Record<string, unknown> | undefined][] = [
    ["a URI within both the grant and the token", "resources/read", read("file:///docs/guides/a.md")],
    ["a prompt in both", "prompts/get", { name: "summarize" }],
    ["completion for a prompt in both", "completion/complete", promptRef("summarize")],
    ["completion for a resource in both", "completion/complete", resourceRef("file:///docs/guides/{n}")],
    // Discovery and housekeeping are not a task's to narrow, as tools/list is not.
    ["resources/list", "resources/list", undefined],
    ["prompts/list", "prompts/list", undefined],
  ];
  for (const [what, method, params] of allowed)
    it(`allows: ${what}`, () => expect(under(method, params, docsTask).outcome).toBe("allow"));

  const attacks: [
    string,
    string,
    Record<string, unknown>,
    Parameters<typeof decideMessage>[0]["task"],
    string,
    boolean?,
  ][] = [
    [
      "a granted URI outside the token's patterns",
      "resources/read",
      read("file:///docs/secrets.md"),
      docsTask,
      "TaskTokenNarrowed",
    ],
    [
      "a URI the token lists but the policy does not (no widening)",
      "resources/read",
      read("file:///etc/passwd"),
      { state: "valid", token: token(["*"], []) },
      "ResourceNotGranted",
    ],
    [
      "a token with no allowed_resources reading a granted URI (fail closed)",
      "resources/read",
      read("file:///docs/guides/a.md"),
      { state: "valid", token: token([], ["summarize"]) },
      "TaskTokenNarrowed",
    ],
    [
      "a granted prompt the token does not list",
      "prompts/get",
      { name: "review_code" },
      docsTask,
      "TaskTokenNarrowed",
    ],
    [
      "completion enumerating a prompt outside the task",
      "completion/complete",
      promptRef("review_code"),
      docsTask,
      "TaskTokenNarrowed",
    ],
    [
      "completion enumerating resources outside the task",
      "completion/complete",
      resourceRef("file:///docs/{n}"),
      docsTask,
      "TaskTokenNarrowed",
    ],
    [
      "no token where the policy requires one (resources/read)",
      "resources/read",
      read("file:///docs/guides/a.md"),
      { state: "absent" },
      "TaskTokenRequired",
      true,
    ],
    [
      "no token where the policy requires one (prompts/get)",
      "prompts/get",
      { name: "summarize" },
      { state: "absent" },
      "TaskTokenRequired",
      true,
    ],
    [
      "an invalid token on a resource read",
      "resources/read",
      read("file:///docs/guides/a.md"),
      { state: "invalid", reason: "the task token has expired (exp)" },
      "TaskTokenInvalid",
    ],
    [
      "a dot-segment URI under a token (the policy check runs first)",
      "resources/read",
      read("file:///docs/guides/../../etc/passwd"),
      docsTask,
      "ResourceNotGranted",
    ],
  ];
  for (const [what, method, params, task, rule, required] of attacks)
    it(`refuses: ${what}`, () => {
      const v = under(method, params, task, required ?? false);
      expect(v.outcome).toBe("deny");
      expect(v.deny?.rule).toBe(rule);
      // The refusal names the fix: the claim to mint the token with, or the header to send.
      if (rule === "TaskTokenNarrowed")
        expect(v.deny?.constraint).toMatch(/task task-7 .*allowed_(resources|prompts)/);
      expect(v.args).toEqual(params);
    });

  it("property: under a token, a read is allowed iff the policy and the token both match the URI", () => {
    const segment = fc.stringMatching(/^[a-z0-9_-]{1,8}$/);
    const uri = fc.array(segment, { minLength: 1, maxLength: 4 }).map((s) => `file:///docs/${s.join("/")}`);
    const pattern = fc.oneof(
      fc.constant("*"),
      fc
        .array(segment, { minLength: 0, maxLength: 3 })
        .map((s) => `file:///docs/${s.join("/")}${s.length ? "/" : ""}*`),
      uri,
    );
    fc.assert(
      fc.property(uri, fc.array(pattern, { maxLength: 3 }), (u, patterns) => {
        const v = under("resources/read", read(u), { state: "valid", token: token(patterns, []) });
        const expected = patterns.some(
          (p) => p === "*" || (p.endsWith("*") ? u.startsWith(p.slice(0, -1)) : u === p),
        );
        expect(v.outcome).toBe(expected ? "allow" : "deny");
        if (!expected) expect(v.deny?.rule).toBe("TaskTokenNarrowed");
      }),
    );
  });
});
