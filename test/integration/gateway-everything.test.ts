// The official SDK client against the official reference server (server-everything), through the
// outbound gateway → mTLS → inbound gateway, on three routes to the same server:
//   everything       every tool and the whole surface granted, sampling/elicitation/roots too;
//   everything-tools every tool, nothing else (no resources, prompts, completion, logging, and no
//                    server→client requests);
//   everything-docs  every tool, and the surface narrowed: static documents only, one prompt,
//                    completion, no subscriptions, no logging.
// Every server-everything tool behaves through the gateways as it does directly; each surface
// method is allowed where granted and refused (with the rule, audited) where not; sampling,
// elicitation and roots reach the agent only where granted.
import { readFileSync } from "node:fs";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { InMemoryTaskStore } from "@modelcontextprotocol/sdk/experimental/tasks";
import type { RequestTaskStore } from "@modelcontextprotocol/sdk/shared/protocol.js";
import {
  type CallToolResult,
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  McpError,
  type Result,
} from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  applyPolicy,
  type Everything,
  FULL_CLIENT_CAPABILITIES,
  startEverything,
} from "../fixtures/gateway/everything.ts";
import { type Harness, startHarness } from "../fixtures/gateway/harness.ts";

let h: Harness;
let everything: Everything;

/**
 * A client that can answer every server→client request, counting what it was asked. Sampling and
 * elicitation requests that ask for a task run as one in the client's task store: the answer is a
 * CreateTaskResult, the result is stored a moment later, and the server polls tasks/get and fetches
 * tasks/result (the SDK client's built-in handlers answer those).
 */
function agentClient(name: string) {
  const asked: string[] = [];
  const store = new InMemoryTaskStore();
  const client = new Client(
    { name, version: "1" },
    { capabilities: FULL_CLIENT_CAPABILITIES, taskStore: store },
  );
  const asTask = async (
    params: { task?: unknown },
    extra: { taskStore?: RequestTaskStore; taskRequestedTtl?: number | null },
    result: Result,
  ) => {
    if (!params.task || !extra.taskStore) return result;
    const taskStore = extra.taskStore;
    const task = await taskStore.createTask({ ttl: extra.taskRequestedTtl ?? 60_000 });
    // Completed after the answer, so the server sees it working and polls.
    setTimeout(() => void taskStore.storeTaskResult(task.taskId, "completed", result), 100);
    return { task };
  };
  client.setRequestHandler(CreateMessageRequestSchema, (req, extra) => {
    asked.push(req.params.task ? "sampling/createMessage (task)" : "sampling/createMessage");
    return asTask(req.params, extra, {
      role: "assistant",
      content: { type: "text", text: "sampled" },
      model: "m",
    });
  });
  client.setRequestHandler(ElicitRequestSchema, (req, extra) => {
    asked.push(req.params.task ? "elicitation/create (task)" : "elicitation/create");
    return asTask(req.params, extra, { action: "accept", content: { name: "Ada" } });
  });
  client.setRequestHandler(ListRootsRequestSchema, () => {
    asked.push("roots/list");
    return { roots: [{ uri: "file:///work", name: "work" }] };
  });
  return { client, asked, store };
}

const clients: Record<
  "direct" | "granted" | "bare" | "docs" | "resourcesOnly",
  ReturnType<typeof agentClient>
> = {
  direct: agentClient("direct"),
  granted: agentClient("granted"),
  bare: agentClient("bare"),
  docs: agentClient("docs"),
  resourcesOnly: agentClient("resources-only"),
};

beforeAll(async () => {
  h = await startHarness();
  everything = await startEverything(h);
  const policy = structuredClone(h.policy);
  policy.version = "v-everything-routes";
  policy.servers.push(
    everything.server("everything", {
      resources: { uriPatterns: ["demo:*"], subscribe: true },
      prompts: ["simple-prompt", "args-prompt", "completable-prompt", "resource-prompt"],
      completion: true,
      logging: true,
      clientFeatures: { sampling: true, elicitation: true, roots: true },
    }),
    everything.server("everything-tools"),
    // A resources-only server (a ToolManifest with no tools): the same server, no tool granted.
    everything.server("everything-resources-only", {
      tools: [],
      resources: { uriPatterns: ["demo://resource/static/*"], subscribe: false },
    }),
    everything.server("everything-docs", {
      resources: { uriPatterns: ["demo://resource/static/*"], subscribe: false },
      prompts: ["simple-prompt", "completable-prompt"],
      completion: true,
    }),
  );
  await applyPolicy(h, policy);
  const connect = (c: Client, url: string) => c.connect(new StreamableHTTPClientTransport(new URL(url)));
  await Promise.all([
    connect(clients.direct.client, everything.direct),
    connect(clients.granted.client, h.route("everything")),
    connect(clients.bare.client, h.route("everything-tools")),
    connect(clients.docs.client, h.route("everything-docs")),
    connect(clients.resourcesOnly.client, h.route("everything-resources-only")),
  ]);
  // The SDK learns from tools/list which tools need task-based calls.
  for (const c of Object.values(clients)) await c.client.listTools();
});

afterAll(async () => {
  for (const c of Object.values(clients)) {
    await c.client.close().catch(() => {});
    c.store.cleanup();
  }
  await everything?.close();
  await h?.close();
});

/** Arguments that make each tool do its work without leaving the machine. */
const ARGS: Record<string, Record<string, unknown>> = {
  echo: { message: "hello through the gateways" },
  "get-annotated-message": { messageType: "success", includeImage: true },
  "get-resource-links": { count: 2 },
  "get-resource-reference": { resourceType: "Text", resourceId: 2 },
  "get-structured-content": { location: "Chicago" },
  "get-sum": { a: 2, b: 40 },
  "gzip-file-as-resource": { name: "hello.gz", data: "data:text/plain;base64,aGVsbG8gd29ybGQ=" },
  "trigger-long-running-operation": { duration: 1, steps: 2 },
  "trigger-sampling-request": { prompt: "say hi", maxTokens: 5 },
  "trigger-sampling-request-async": { prompt: "say hi later", maxTokens: 5 },
  "simulate-research-query": { topic: "gateways" },
  "trigger-url-elicitation": { url: "https://approve.example.org/consent", message: "open it" },
};

/** Calls a tool (task-based ones through the SDK's task stream) and returns its final result. */
async function callTool(c: Client, name: string): Promise<CallToolResult> {
  const tool = everything.tools.find((t) => t.name === name);
  const params = { name, arguments: ARGS[name] ?? {} };
  if (tool?.execution?.taskSupport === "required") {
    for await (const m of c.experimental.tasks.callToolStream(params)) {
      if (m.type === "result") return m.result as CallToolResult;
      if (m.type === "error") throw m.error;
    }
    throw new Error(`${name}: the task stream ended without a result`);
  }
  return (await c.callTool(params)) as CallToolResult;
}

/** What must be the same through the gateways as directly: error or not, and the content kinds. */
const shape = (r: CallToolResult) => ({
  isError: r.isError ?? false,
  content: r.content.map((x) => x.type),
  structured: r.structuredContent !== undefined,
});

function auditRecords(file: string): Record<string, unknown>[] {
  return readFileSync(file, "utf8")
    .trimEnd()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe("every server-everything tool through both gateways, as directly", () => {
  it("lists the same tools through the gateways as directly", async () => {
    const names = (await clients.granted.client.listTools()).tools.map((t) => t.name).sort();
    expect(names).toEqual(everything.tools.map((t) => t.name).sort());
    // The tools that need the agent's capabilities are among them.
    expect(names).toEqual(
      expect.arrayContaining(["trigger-sampling-request", "trigger-elicitation-request", "get-roots-list"]),
    );
  });

  // Every tool the server lists to a client with sampling, form/URL elicitation, roots and
  // client-side tasks: 19 with server-everything 2026.8.31, including the two *-async tools, whose
  // server sends a task-augmented request and then polls the agent with tasks/get and tasks/result.
  it("calls each tool with the same outcome through the gateways as directly", async () => {
    const rows: string[] = [];
    for (const t of everything.tools) {
      const direct = await callTool(clients.direct.client, t.name);
      const gateways = await callTool(clients.granted.client, t.name);
      // Neither is an error (the text says why when one is), and both have the same shape.
      const failure = (r: CallToolResult) => (r.isError ? JSON.stringify(r.content).slice(0, 300) : "");
      expect({ tool: t.name, direct: failure(direct), gateways: failure(gateways) }).toEqual({
        tool: t.name,
        direct: "",
        gateways: "",
      });
      expect({ tool: t.name, ...shape(gateways) }).toEqual({ tool: t.name, ...shape(direct) });
      if (t.name.endsWith("-async")) {
        // The task path ran to its end both ways: created, polled, result fetched (not [SYNC],
        // [TIMEOUT] or [FAILED]).
        for (const r of [direct, gateways]) {
          const text = r.content.map((x) => (x.type === "text" ? x.text : "")).join("\n");
          expect({ tool: t.name, text: text.slice(0, 40) }).toEqual({
            tool: t.name,
            text: expect.stringMatching(/^\[COMPLETED\]/),
          });
          expect(text).toMatch(/Task created: \S+/);
          expect(text).toMatch(/Poll 1: completed/);
        }
      }
      rows.push(t.name);
    }
    console.error(`[everything] ${rows.length} tools, same outcome through the gateways: ${rows.join(", ")}`);
    expect(rows.length).toBe(everything.tools.length);
    expect(rows).toEqual(
      expect.arrayContaining(["trigger-sampling-request-async", "trigger-elicitation-request-async"]),
    );
    expect(rows.length).toBe(19);
  });

  it("the granted server→client requests reached the agent through the gateways, and were audited", async () => {
    expect(new Set(clients.granted.asked)).toEqual(
      new Set([
        "sampling/createMessage",
        "sampling/createMessage (task)",
        "elicitation/create",
        "elicitation/create (task)",
        "roots/list",
      ]),
    );
    const answers = auditRecords(h.outboundAudit).filter(
      (r) => r.rule === "AnswersServerRequest" && r.decision === "allow",
    );
    expect(answers.map((r) => r.method)).toEqual(
      expect.arrayContaining([
        "sampling/createMessage (response)",
        "elicitation/create (response)",
        "roots/list (response)",
        "tasks/get (response)",
        "tasks/result (response)",
      ]),
    );
    // No server→client task request was refused on the granted route.
    expect(
      auditRecords(h.outboundAudit).filter(
        (r) => r.manifest === "everything" && String(r.method).startsWith("tasks/") && r.decision === "deny",
      ),
    ).toEqual([]);
  });
});

describe("server→client requests where they are not granted", () => {
  const rows: [string, string, string][] = [
    ["sampling", "trigger-sampling-request", "sampling/createMessage"],
    ["elicitation", "trigger-elicitation-request", "elicitation/create"],
    ["sampling as a task", "trigger-sampling-request-async", "sampling/createMessage"],
    ["elicitation as a task", "trigger-elicitation-request-async", "elicitation/create"],
  ];
  for (const [feature, tool, method] of rows) {
    it(`${feature}: the request never reaches the agent, the tool gets the refusal, the audit says why`, async () => {
      const before = clients.bare.asked.length;
      const outcome = await callTool(clients.bare.client, tool).then(
        (r) => JSON.stringify(r.content),
        (e: Error) => e.message,
      );
      expect(outcome).toMatch(/ServerRequestNotGranted/);
      expect(clients.bare.asked.slice(before).filter((a) => a.startsWith(method))).toEqual([]);
      expect(
        auditRecords(h.outboundAudit).find(
          (r) =>
            r.method === method && r.rule === "ServerRequestNotGranted" && r.manifest === "everything-tools",
        ),
      ).toBeDefined();
    });
  }

  it("roots: the server never learns the agent's roots", async () => {
    const r = await callTool(clients.bare.client, "get-roots-list");
    expect(JSON.stringify(r.content)).not.toContain("file:///work");
    expect(clients.bare.asked).not.toContain("roots/list");
    await expect
      .poll(
        () =>
          auditRecords(h.outboundAudit).some(
            (x) => x.method === "roots/list" && x.rule === "ServerRequestNotGranted",
          ),
        { timeout: 10_000, interval: 50 },
      )
      .toBe(true);
  });
});

type Call = (c: Client) => Promise<unknown>;
const STATIC_DOC = "demo://resource/static/document/architecture.md";
const SURFACE: [string, string, Call][] = [
  ["resources/list", "resources/list", (c) => c.listResources()],
  ["resources/templates/list", "resources/templates/list", (c) => c.listResourceTemplates()],
  ["resources/read of a static document", "resources/read", (c) => c.readResource({ uri: STATIC_DOC })],
  [
    "resources/read of a dynamic resource",
    "resources/read",
    (c) => c.readResource({ uri: "demo://resource/dynamic/text/1" }),
  ],
  ["resources/subscribe", "resources/subscribe", (c) => c.subscribeResource({ uri: STATIC_DOC })],
  ["resources/unsubscribe", "resources/unsubscribe", (c) => c.unsubscribeResource({ uri: STATIC_DOC })],
  ["prompts/list", "prompts/list", (c) => c.listPrompts()],
  ["prompts/get simple-prompt", "prompts/get", (c) => c.getPrompt({ name: "simple-prompt" })],
  [
    "prompts/get args-prompt",
    "prompts/get",
    (c) => c.getPrompt({ name: "args-prompt", arguments: { city: "Oslo" } }),
  ],
  [
    "completion/complete for a prompt argument",
    "completion/complete",
    (c) =>
      c.complete({
        ref: { type: "ref/prompt", name: "completable-prompt" },
        argument: { name: "department", value: "E" },
      }),
  ],
  ["logging/setLevel", "logging/setLevel", (c) => c.setLoggingLevel("debug")],
];

/** route → which SURFACE rows it grants (the rest must be refused with the given rule). */
const EXPECT: Record<"granted" | "bare" | "docs", Record<string, string | "allow">> = {
  granted: Object.fromEntries(SURFACE.map(([what]) => [what, "allow"])),
  bare: Object.fromEntries(SURFACE.map(([what]) => [what, "MethodNotGranted"])),
  docs: {
    "resources/list": "allow",
    "resources/templates/list": "allow",
    "resources/read of a static document": "allow",
    "resources/read of a dynamic resource": "ResourceNotGranted",
    "resources/subscribe": "ResourceNotGranted",
    "resources/unsubscribe": "ResourceNotGranted",
    "prompts/list": "allow",
    "prompts/get simple-prompt": "allow",
    "prompts/get args-prompt": "PromptNotGranted",
    "completion/complete for a prompt argument": "allow",
    "logging/setLevel": "MethodNotGranted",
  },
};

describe("resources, prompts, completion and logging: allowed where granted, refused where not", () => {
  for (const route of ["granted", "bare", "docs"] as const) {
    for (const [what, method, call] of SURFACE) {
      const want = EXPECT[route][what]!;
      it(`${route}: ${what} → ${want}`, async () => {
        const outcome = await call(clients[route].client).then(
          () => "allow",
          (e: unknown) => (e instanceof McpError ? String((e.data as { rule?: string })?.rule) : String(e)),
        );
        expect(outcome).toBe(want);
        if (want === "allow") {
          // The same call directly succeeds too: the gateway added nothing and took nothing away.
          await expect(call(clients.direct.client)).resolves.toBeDefined();
        }
        const manifest = { granted: "everything", bare: "everything-tools", docs: "everything-docs" }[route];
        await expect
          .poll(
            () =>
              auditRecords(h.outboundAudit).some(
                (r) =>
                  r.manifest === manifest &&
                  r.method === method &&
                  (want === "allow" ? r.decision === "allow" : r.decision === "deny" && r.rule === want),
              ),
            { timeout: 10_000, interval: 50 },
          )
          .toBe(true);
      });
    }
  }

  it("docs: lists show only what is granted (resources, templates, prompts)", async () => {
    // Each session gets a resource of its own outside the static documents.
    const gz = { name: "gzip-file-as-resource", arguments: { name: "mine.gz", data: "data:,hello" } };
    await clients.docs.client.callTool(gz);
    await clients.granted.client.callTool(gz);
    const session = "demo://resource/session/mine.gz";
    const all = (await clients.granted.client.listResources()).resources.map((r) => r.uri);
    expect(all).toContain(session);
    const docs = (await clients.docs.client.listResources()).resources.map((r) => r.uri);
    expect(docs.length).toBeGreaterThan(0);
    expect(docs).not.toContain(session);
    expect(docs).toEqual(all.filter((u) => u.startsWith("demo://resource/static/")));
    expect((await clients.granted.client.listResourceTemplates()).resourceTemplates.length).toBeGreaterThan(
      0,
    );
    expect((await clients.docs.client.listResourceTemplates()).resourceTemplates).toEqual([]);
    expect((await clients.docs.client.listPrompts()).prompts.map((p) => p.name).sort()).toEqual([
      "completable-prompt",
      "simple-prompt",
    ]);
    // Everything granted: the same prompts as directly.
    expect((await clients.granted.client.listPrompts()).prompts.length).toBe(
      (await clients.direct.client.listPrompts()).prompts.length,
    );
  });

  const attacks: [string, Call, string][] = [
    [
      "dot-dot out of the granted directory",
      (c) => c.readResource({ uri: "demo://resource/static/../dynamic/text/1" }),
      "ResourceNotGranted",
    ],
    [
      "encoded dot-dot out of the granted directory",
      (c) => c.readResource({ uri: "demo://resource/static/%2e%2e/dynamic/text/1" }),
      "ResourceNotGranted",
    ],
    [
      "a granted prefix without its separator",
      (c) => c.readResource({ uri: "demo://resource/staticx/document/x" }),
      "ResourceNotGranted",
    ],
    ["another case of a granted prompt", (c) => c.getPrompt({ name: "Simple-Prompt" }), "PromptNotGranted"],
    [
      "a zero-width space in a granted prompt",
      (c) => c.getPrompt({ name: "simple\u200b-prompt" }),
      "PromptNotGranted",
    ],
    [
      "completion for an ungranted prompt",
      (c) =>
        c.complete({
          ref: { type: "ref/prompt", name: "args-prompt" },
          argument: { name: "city", value: "O" },
        }),
      "PromptNotGranted",
    ],
    [
      "completion for a resource template outside the granted patterns",
      (c) =>
        c.complete({
          ref: { type: "ref/resource", uri: "demo://resource/dynamic/text/{resourceId}" },
          argument: { name: "resourceId", value: "1" },
        }),
      "ResourceNotGranted",
    ],
  ];
  for (const [what, call, rule] of attacks) {
    it(`docs: refuses ${what} (${rule}), and the message says what to grant`, async () => {
      const e = await call(clients.docs.client).then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(e).toBeInstanceOf(McpError);
      expect((e as McpError).data).toMatchObject({ rule, manifest: "everything-docs" });
      expect((e as McpError).message).toMatch(/grant|canonical/);
    });
  }
});

describe("a server described without tools (resources only)", () => {
  it("lists no tools, reads its granted resources, refuses every tool call", async () => {
    expect((await clients.resourcesOnly.client.listTools()).tools).toEqual([]);
    const r = await clients.resourcesOnly.client.readResource({ uri: STATIC_DOC });
    expect(r.contents.length).toBeGreaterThan(0);
    const e = await clients.resourcesOnly.client.callTool({ name: "echo", arguments: { message: "x" } }).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(McpError);
    expect((e as McpError).data).toMatchObject({
      rule: "ToolNotGranted",
      manifest: "everything-resources-only",
    });
  });
});
