// Task tokens govern resources and prompts as they govern tools, through real gateway processes
// (outbound → mTLS → inbound) in front of the official reference server (server-everything), with
// the official SDK client. The policy requires a task token; every resource and prompt of the
// server is granted, so whatever is refused below is refused by the task token alone:
//   - no token: resources/read, prompts/get and completion refused (TaskTokenRequired); lists and
//     the logging level are discovery and housekeeping, as tools/list, and pass;
//   - a token listing allowed_resources / allowed_prompts: the effective grant is policy ∩ token;
//   - a token listing tools only: no resource and no prompt (fail closed).
// Every decision is audited with the task; what is allowed crosses to the tool server's side.
import { readFileSync } from "node:fs";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TASK_SCOPED_METHODS } from "../../gateway/decide/surface.ts";
import { applyPolicy, type Everything, startEverything } from "../fixtures/gateway/everything.ts";
import { type Harness, startHarness } from "../fixtures/gateway/harness.ts";

const ROUTE = "everything-tasks";
const STATIC_DOC = "demo://resource/static/document/architecture.md";
const DYNAMIC = "demo://resource/dynamic/text/1";

let h: Harness;
let everything: Everything;
const clients: Record<"none" | "docsTask" | "toolsTask", Client> = {} as never;

beforeAll(async () => {
  h = await startHarness();
  everything = await startEverything(h);
  const policy = structuredClone(h.policy);
  policy.version = "v-task-surface";
  policy.taskTokens.required = true;
  policy.servers.push(
    everything.server(ROUTE, {
      resources: { uriPatterns: ["demo:*"], subscribe: true },
      prompts: ["simple-prompt", "args-prompt", "completable-prompt", "resource-prompt"],
      completion: true,
      logging: true,
    }),
  );
  await applyPolicy(h, policy);
  const docsTask = await h.mintTaskToken({
    task_id: "task-docs",
    allowed_tools: ["echo"],
    allowed_resources: ["demo://resource/static/*"],
    allowed_prompts: ["simple-prompt"],
  });
  const toolsTask = await h.mintTaskToken({ task_id: "task-tools", allowed_tools: ["echo"] });
  clients.none = await h.connect({}, ROUTE);
  clients.docsTask = await h.connect({ "warden-task-token": docsTask }, ROUTE);
  clients.toolsTask = await h.connect({ "warden-task-token": toolsTask }, ROUTE);
});

afterAll(async () => {
  await everything?.close();
  await h?.close();
});

const records = (file: string) =>
  readFileSync(file, "utf8")
    .trimEnd()
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

/** The inbound gateway's write-ahead records: one per request it forwarded to the server. */
const forwarded = () =>
  records(everything.inboundAudit).filter(
    (r) => (r.detail as { phase?: string } | undefined)?.phase === "intent",
  ).length;

type Call = (c: Client) => Promise<unknown>;
const CALLS: Record<string, [method: string, call: Call]> = {
  "read a static document": ["resources/read", (c) => c.readResource({ uri: STATIC_DOC })],
  "read a dynamic resource": ["resources/read", (c) => c.readResource({ uri: DYNAMIC })],
  "subscribe to a static document": ["resources/subscribe", (c) => c.subscribeResource({ uri: STATIC_DOC })],
  "get simple-prompt": ["prompts/get", (c) => c.getPrompt({ name: "simple-prompt" })],
  "get args-prompt": [
    "prompts/get",
    (c) => c.getPrompt({ name: "args-prompt", arguments: { city: "Oslo" } }),
  ],
  "complete a prompt argument": [
    "completion/complete",
    (c) =>
      c.complete({
        ref: { type: "ref/prompt", name: "completable-prompt" },
        argument: { name: "department", value: "E" },
      }),
  ],
  "list resources": ["resources/list", (c) => c.listResources()],
  "list prompts": ["prompts/list", (c) => c.listPrompts()],
  "set the logging level": ["logging/setLevel", (c) => c.setLoggingLevel("debug")],
};

/** client → call → "allow" or the rule that refuses it, and the task the audit names. */
const EXPECT: Record<keyof typeof clients, [Record<string, string>, string | undefined]> = {
  none: [
    {
      "read a static document": "TaskTokenRequired",
      "read a dynamic resource": "TaskTokenRequired",
      "subscribe to a static document": "TaskTokenRequired",
      "get simple-prompt": "TaskTokenRequired",
      "get args-prompt": "TaskTokenRequired",
      "complete a prompt argument": "TaskTokenRequired",
      "list resources": "allow",
      "list prompts": "allow",
      "set the logging level": "allow",
    },
    undefined,
  ],
  docsTask: [
    {
      "read a static document": "allow",
      "read a dynamic resource": "TaskTokenNarrowed",
      "subscribe to a static document": "allow",
      "get simple-prompt": "allow",
      "get args-prompt": "TaskTokenNarrowed",
      "complete a prompt argument": "TaskTokenNarrowed",
      "list resources": "allow",
      "list prompts": "allow",
      "set the logging level": "allow",
    },
    "task-docs",
  ],
  toolsTask: [
    {
      "read a static document": "TaskTokenNarrowed",
      "read a dynamic resource": "TaskTokenNarrowed",
      "subscribe to a static document": "TaskTokenNarrowed",
      "get simple-prompt": "TaskTokenNarrowed",
      "get args-prompt": "TaskTokenNarrowed",
      "complete a prompt argument": "TaskTokenNarrowed",
      "list resources": "allow",
      "list prompts": "allow",
      "set the logging level": "allow",
    },
    "task-tools",
  ],
};

describe("task tokens over resources and prompts, through both gateways", () => {
  for (const who of Object.keys(EXPECT) as (keyof typeof clients)[]) {
    const [wants, taskId] = EXPECT[who];
    for (const [what, want] of Object.entries(wants)) {
      const [method, call] = CALLS[what]!;
      it(`${who}: ${what} → ${want}`, async () => {
        const inboundBefore = forwarded();
        const outcome = await call(clients[who]).then(
          () => "allow",
          (e: unknown) => (e instanceof McpError ? String((e.data as { rule?: string })?.rule) : String(e)),
        );
        expect(outcome).toBe(want);
        await expect
          .poll(
            () =>
              records(h.outboundAudit).some(
                (r) =>
                  r.manifest === ROUTE &&
                  r.method === method &&
                  (want === "allow" ? r.decision === "allow" : r.decision === "deny" && r.rule === want) &&
                  // Task-scoped calls carry the presented task in the record; lists need none.
                  (!TASK_SCOPED_METHODS.has(method) || r.taskId === (taskId ?? null)),
              ),
            { timeout: 10_000, interval: 50 },
          )
          .toBe(true);
        // An allowed call crossed to the tool server's side: the inbound gateway's write-ahead record
        // is on disk before it forwards, so before the answer reached the agent.
        if (want === "allow") expect(forwarded()).toBeGreaterThan(inboundBefore);
      });
    }
  }

  it("what a task may read is what the server answers directly (the gateways add and take nothing)", async () => {
    const through = await clients.docsTask.readResource({ uri: STATIC_DOC });
    const prompt = await clients.docsTask.getPrompt({ name: "simple-prompt" });
    expect(through.contents[0]).toMatchObject({ uri: STATIC_DOC });
    expect(JSON.stringify(through.contents[0])).toContain("text");
    expect(prompt.messages.length).toBeGreaterThan(0);
  });
});
