// Client-side tasks through real gateways (issue 14, MCP 2025-11-25 tasks): a tool server sends
// the agent a task-augmented sampling request, the agent (the official SDK client with a task
// store) answers with a CreateTaskResult, and the server then asks the agent tasks/get,
// tasks/result, tasks/list and tasks/cancel about that task. The outbound gateway binds each such
// task to the session, tool server and agent identity it was created for: the server may ask only
// about those, the agent's tasks/list answer is cut to them, and everything else is refused with
// the spec's -32602, audited, counted and never shown to the agent.
//
// Each attack row first shows the control (the owning session's task IS answered by the agent —
// a gateway that refused every tasks/* request, as main did, fails there), then the attack.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { InMemoryTaskStore } from "@modelcontextprotocol/sdk/experimental/tasks";
import {
  CreateMessageRequestSchema,
  ListTasksRequestSchema,
  McpError,
} from "@modelcontextprotocol/sdk/types.js";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningGateway } from "../../gateway/server.ts";
import { type Harness, startHarness } from "../fixtures/gateway/harness.ts";

let h: Harness;
let rogue: RunningGateway;
const rogueAudit = () => join(h.dir, "rogue-audit.jsonl");

/** Client capabilities of an agent that runs sampling/elicitation requests as tasks. */
const TASK_CAPABLE = {
  sampling: {},
  elicitation: { form: {} },
  tasks: {
    list: {},
    cancel: {},
    requests: { sampling: { createMessage: {} }, elicitation: { create: {} } },
  },
};

interface Agent {
  client: Client;
  sid: string;
  /** Every server→client request the agent's handlers saw (method, taskId if any). */
  asked: string[];
  store: InMemoryTaskStore;
}

/**
 * An SDK client with a task store. Sampling requests that ask for a task get one: completed at
 * once when the prompt says "complete", else left working (so it can be cancelled).
 */
async function agent(url: string, name: string): Promise<Agent> {
  const store = new InMemoryTaskStore();
  const asked: string[] = [];
  const client = new Client({ name, version: "1" }, { capabilities: TASK_CAPABLE, taskStore: store });
  client.setRequestHandler(CreateMessageRequestSchema, async (req, extra) => {
    asked.push("sampling/createMessage");
    const result = {
      role: "assistant" as const,
      content: { type: "text" as const, text: "sampled" },
      model: "m",
    };
    if (!req.params.task || !extra.taskStore) return result;
    const task = await extra.taskStore.createTask({ ttl: extra.taskRequestedTtl ?? 60_000 });
    const text = JSON.stringify(req.params.messages);
    if (text.includes("complete")) await extra.taskStore.storeTaskResult(task.taskId, "completed", result);
    return { task: { ...task } };
  });
  const transport = new StreamableHTTPClientTransport(new URL(url));
  await client.connect(transport);
  const sid = transport.sessionId;
  if (!sid) throw new Error(`${name}: no session id`);
  return { client, sid, asked, store };
}

let owner: Agent; // the session whose tasks the rows are about
let sibling: Agent; // the same agent, another session on the same tool server
let rogueAgent: Agent; // another agent (own gateway, own SVID), same tool server
let rootsOnly: Agent; // the same agent on a route that grants roots but neither sampling nor elicitation
let done: string; // a completed task of `owner`
let working: string; // a working task of `owner`

/** The tool server's request on one session, settled: the answer or the error (code, rule). */
async function ask(a: Agent, method: string, params?: Record<string, unknown>) {
  return h.mcp.requestSession(a.sid, method, params).then(
    (value) => ({ ok: true as const, value }),
    (e: unknown) => ({
      ok: false as const,
      code: e instanceof McpError ? e.code : undefined,
      rule: e instanceof McpError ? (e.data as { rule?: string } | undefined)?.rule : String(e),
    }),
  );
}

/** Waits (bounded) until the agent's GET stream carries server requests. */
async function streamOpen(a: Agent): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if ((await ask(a, "ping")).ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("the agent's server stream never opened");
}

/** A task-augmented sampling request from the tool server; returns the task id the agent made. */
async function createTask(a: Agent, prompt: string): Promise<string> {
  const r = await ask(a, "sampling/createMessage", {
    task: { ttl: 60_000 },
    messages: [{ role: "user", content: { type: "text", text: prompt } }],
    maxTokens: 5,
  });
  if (!r.ok) throw new Error(`sampling with a task was refused: ${r.rule}`);
  const id = (r.value as { task?: { taskId?: string } }).task?.taskId;
  if (typeof id !== "string") throw new Error(`no task in ${JSON.stringify(r.value)}`);
  return id;
}

function audit(file: string): Record<string, unknown>[] {
  return readFileSync(file, "utf8")
    .trimEnd()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function waitPolicy(admin: string, version: string): Promise<void> {
  for (let t = Date.now(); Date.now() - t < 30_000; await new Promise((r) => setTimeout(r, 50))) {
    if ((await (await request(`${admin}/metrics`)).body.text()).includes(`version="${version}"`)) return;
  }
  throw new Error(`policy ${version} was not loaded`);
}

beforeAll(async () => {
  h = await startHarness({
    policy: (p) => {
      p.servers[0]!.clientFeatures = { sampling: true, elicitation: true, roots: false };
      const { credential: _, ...granted } = structuredClone(p.servers[0]!);
      p.servers.push({
        ...granted,
        manifest: "web-tools-roots",
        clientFeatures: { sampling: false, elicitation: false, roots: true },
      });
      return p;
    },
  });
  // A second agent shares the tool server: the inbound gateway admits it, it has its own gateway.
  rogue = await h.startSecondAgent({
    inboundVersion: "in-tasks",
    policyVersion: "rogue-tasks",
    auditFile: rogueAudit(),
  });
  await waitPolicy(h.inbound.adminURL, "in-tasks");
  owner = await agent(h.route(), "owner");
  sibling = await agent(h.route(), "sibling");
  rogueAgent = await agent(`${rogue.url}/servers/web-tools/mcp`, "rogue");
  rootsOnly = await agent(h.route("web-tools-roots"), "roots-only");
  for (const a of [owner, sibling, rogueAgent, rootsOnly]) await streamOpen(a);
  done = await createTask(owner, "complete this one");
  working = await createTask(owner, "keep working");
});

afterAll(async () => {
  for (const a of [owner, sibling, rogueAgent, rootsOnly]) {
    await a?.client.close().catch(() => {});
    a?.store.cleanup();
  }
  await rogue?.close();
  await h?.close();
});

describe("the tool server asks the agent about the tasks it requested on the session", () => {
  it("tasks/get, tasks/result, tasks/list and tasks/cancel reach the agent and its answers the server", async () => {
    const got = await ask(owner, "tasks/get", { taskId: working });
    expect(got).toMatchObject({ ok: true, value: { taskId: working, status: "working" } });
    const result = await ask(owner, "tasks/result", { taskId: done });
    expect(result).toMatchObject({ ok: true, value: { content: { text: "sampled" } } });
    const listed = await ask(owner, "tasks/list");
    expect(
      listed.ok && (listed.value as { tasks: { taskId: string }[] }).tasks.map((t) => t.taskId).sort(),
    ).toEqual([done, working].sort());
    const cancelled = await ask(owner, "tasks/cancel", { taskId: working });
    expect(cancelled).toMatchObject({ ok: true, value: { taskId: working, status: "cancelled" } });
    // Each answer was decided and audited as the answer to that server request.
    const answers = audit(h.outboundAudit).filter((r) => r.rule === "AnswersServerRequest");
    for (const m of ["sampling/createMessage", "tasks/get", "tasks/result", "tasks/list", "tasks/cancel"])
      expect(answers.map((r) => r.method)).toContain(`${m} (response)`);
  });
});

describe("a task-augmented request decided off the event loop (over 256 KiB)", () => {
  it("records its task all the same", async () => {
    const big = await createTask(owner, `complete ${"x".repeat(300 * 1024)}`);
    expect(await ask(owner, "tasks/get", { taskId: big })).toMatchObject({
      ok: true,
      value: { taskId: big, status: "completed" },
    });
  });
});

/**
 * An agent written by hand (no SDK): it opens a session and its GET stream through the gateway and
 * answers the server's requests with whatever the test says, so it can send what the SDK never
 * would — a CreateTaskResult to a request that asked for no task.
 */
class RawAgent {
  sid = "";
  readonly events: Record<string, unknown>[] = [];
  #abort = new AbortController();

  static headers(sid?: string): Record<string, string> {
    return {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": "2025-11-25",
      ...(sid ? { "mcp-session-id": sid } : {}),
    };
  }

  async open(): Promise<void> {
    const init = await request(h.route(), {
      method: "POST",
      headers: RawAgent.headers(),
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "initialize",
        params: {
          protocolVersion: "2025-11-25",
          capabilities: TASK_CAPABLE,
          clientInfo: { name: "raw", version: "1" },
        },
      }),
    });
    await init.body.text();
    this.sid = String(init.headers["mcp-session-id"]);
    const ready = await request(h.route(), {
      method: "POST",
      headers: RawAgent.headers(this.sid),
      body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }),
    });
    await ready.body.dump();
    const stream = await request(h.route(), {
      method: "GET",
      headers: {
        accept: "text/event-stream",
        "mcp-protocol-version": "2025-11-25",
        "mcp-session-id": this.sid,
      },
      signal: this.#abort.signal,
    });
    void (async () => {
      let buf = "";
      try {
        for await (const chunk of stream.body) {
          buf += chunk.toString();
          for (let i = buf.indexOf("\n\n"); i !== -1; i = buf.indexOf("\n\n")) {
            const data = buf
              .slice(0, i)
              .split("\n")
              .filter((l) => l.startsWith("data:"))
              .map((l) => l.slice(5).trim())
              .join("\n");
            buf = buf.slice(i + 2);
            if (data) this.events.push(JSON.parse(data) as Record<string, unknown>);
          }
        }
      } catch {
        // closed by close()
      }
    })();
  }

  /** The next server request with `method` on the GET stream (bounded wait). */
  async next(method: string): Promise<Record<string, unknown>> {
    for (let i = 0; i < 300; i++) {
      const at = this.events.findIndex((e) => e.method === method);
      if (at !== -1) return this.events.splice(at, 1)[0]!;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no ${method} reached the raw agent`);
  }

  async answer(id: unknown, result: Record<string, unknown>): Promise<number> {
    const r = await request(h.route(), {
      method: "POST",
      headers: RawAgent.headers(this.sid),
      body: JSON.stringify({ jsonrpc: "2.0", id, result }),
    });
    await r.body.dump();
    return r.statusCode;
  }

  close(): void {
    this.#abort.abort();
  }
}

describe("a CreateTaskResult answering a request that asked for no task creates no task", () => {
  const task = (taskId: string) => ({
    task: {
      taskId,
      status: "working",
      createdAt: "2026-01-01T00:00:00Z",
      lastUpdatedAt: "2026-01-01T00:00:00Z",
      ttl: 60_000,
    },
  });
  let raw: RawAgent;
  let rawSession: Agent;
  beforeAll(async () => {
    raw = new RawAgent();
    await raw.open();
    rawSession = { sid: raw.sid, asked: [] } as unknown as Agent;
  });
  afterAll(() => raw?.close());

  it("control: answering a task-augmented request with a task makes one the server may ask about", async () => {
    const sampling = ask(rawSession, "sampling/createMessage", {
      task: { ttl: 60_000 },
      messages: [{ role: "user", content: { type: "text", text: "hi" } }],
      maxTokens: 5,
    });
    const req = await raw.next("sampling/createMessage");
    expect(await raw.answer(req.id, task("raw-asked"))).toBe(202);
    expect(await sampling).toMatchObject({ ok: true, value: task("raw-asked") });
    const get = ask(rawSession, "tasks/get", { taskId: "raw-asked" });
    const polled = await raw.next("tasks/get");
    expect(polled.params).toEqual({ taskId: "raw-asked" });
    expect(await raw.answer(polled.id, { ...task("raw-asked").task, status: "completed" })).toBe(202);
    expect(await get).toMatchObject({ ok: true, value: { taskId: "raw-asked", status: "completed" } });
  });

  it("refuses tasks/get for a task id the agent slipped into the answer to a request without params.task", async () => {
    const sampling = ask(rawSession, "sampling/createMessage", {
      messages: [{ role: "user", content: { type: "text", text: "hi" } }],
      maxTokens: 5,
    });
    const req = await raw.next("sampling/createMessage");
    expect(await raw.answer(req.id, task("raw-unasked"))).toBe(202);
    await sampling;
    const r = await ask(rawSession, "tasks/get", { taskId: "raw-unasked" });
    expect(r).toEqual({ ok: false, code: -32602, rule: "TaskNotFound" });
    expect(raw.events.filter((e) => e.method === "tasks/get")).toEqual([]);
  });
});

describe("attacks on client-side tasks: refused with -32602, audited, never shown to the agent", () => {
  interface Row {
    what: string;
    /** The agent asked, and the method and params the tool server sends it. */
    target: () => Agent;
    method: string;
    params: () => Record<string, unknown>;
    rule: string;
    code: number;
    auditFile?: () => string;
    /** Set up the attack (after the control). */
    before?: () => Promise<void>;
  }
  const forged = "forged-task-id";
  const rows: Row[] = [
    {
      what: "another session's task id (same agent, same tool server)",
      target: () => sibling,
      method: "tasks/result",
      params: () => ({ taskId: done }),
      rule: "TaskNotFound",
      code: -32602,
    },
    {
      what: "another agent's task id (its own gateway and SVID, same tool server)",
      target: () => rogueAgent,
      method: "tasks/get",
      params: () => ({ taskId: done }),
      rule: "TaskNotFound",
      code: -32602,
      auditFile: rogueAudit,
    },
    {
      what: "a task id never created",
      target: () => owner,
      method: "tasks/get",
      params: () => ({ taskId: "never-created" }),
      rule: "TaskNotFound",
      code: -32602,
    },
    {
      what: "cancelling a task id never created",
      target: () => owner,
      method: "tasks/cancel",
      params: () => ({ taskId: "never-created" }),
      rule: "TaskNotFound",
      code: -32602,
    },
    {
      what: "tasks/get where neither sampling nor elicitation is granted",
      target: () => rootsOnly,
      method: "tasks/get",
      params: () => ({ taskId: done }),
      rule: "ServerRequestNotGranted",
      code: -32001,
    },
    {
      what: "tasks/list where neither sampling nor elicitation is granted",
      target: () => rootsOnly,
      method: "tasks/list",
      params: () => ({}),
      rule: "ServerRequestNotGranted",
      code: -32001,
    },
    {
      what: "a forged CreateTaskResult without an outstanding request, then tasks/get for it",
      target: () => owner,
      method: "tasks/get",
      params: () => ({ taskId: forged }),
      rule: "TaskNotFound",
      code: -32602,
      before: async () => {
        // The agent posts a "response" creating a task nobody asked for: refused, not recorded.
        const r = await request(h.route(), {
          method: "POST",
          headers: {
            "content-type": "application/json",
            accept: "application/json, text/event-stream",
            "mcp-protocol-version": "2025-11-25",
            "mcp-session-id": owner.sid,
          },
          body: JSON.stringify({
            jsonrpc: "2.0",
            id: "never-asked",
            result: {
              task: { taskId: forged, status: "working", createdAt: "2026-01-01T00:00:00Z", ttl: 1000 },
            },
          }),
        });
        const body = (await r.body.json()) as { error?: { data?: { rule?: string } } };
        expect({ status: r.statusCode, rule: body.error?.data?.rule }).toEqual({
          status: 400,
          rule: "UnsolicitedResponse",
        });
      },
    },
  ];
  for (const row of rows) {
    it(`refuses ${row.what} (${row.rule})`, async () => {
      // Control: the owning session's task is answered (a gateway refusing all tasks/* fails here).
      expect(await ask(owner, "tasks/get", { taskId: done })).toMatchObject({
        ok: true,
        value: { taskId: done, status: "completed" },
      });
      await row.before?.();
      const target = row.target();
      const askedBefore = target.asked.length;
      const r = await ask(target, row.method, row.params());
      expect(r).toEqual({ ok: false, code: row.code, rule: row.rule });
      expect(target.asked.length).toBe(askedBefore);
      const file = row.auditFile?.() ?? h.outboundAudit;
      await expect
        .poll(
          () =>
            audit(file).some(
              (x) =>
                x.method === row.method &&
                x.rule === row.rule &&
                x.decision === "deny" &&
                (x.detail as { direction?: string } | undefined)?.direction === "server-to-client",
            ),
          { timeout: 10_000, interval: 50 },
        )
        .toBe(true);
    });
  }

  it("the agent's tasks/list answer is cut to the tasks of the asking session", async () => {
    // An agent whose task list spans more than this session (a shared store, a buggy client).
    owner.client.setRequestHandler(ListTasksRequestSchema, () => ({
      tasks: [done, "another-sessions-task", "someone-elses"].map((taskId) => ({
        taskId,
        status: "completed" as const,
        createdAt: "2026-01-01T00:00:00Z",
        lastUpdatedAt: "2026-01-01T00:00:00Z",
        ttl: 60_000,
      })),
      nextCursor: "page-2",
    }));
    const r = await ask(owner, "tasks/list");
    expect(r.ok).toBe(true);
    const value = (r as { value: { tasks: { taskId: string }[]; nextCursor?: string } }).value;
    expect(value.tasks.map((t) => t.taskId)).toEqual([done]);
    expect(value.nextCursor).toBe("page-2");
  });

  it("refusals are counted by rule", async () => {
    const m = await (await request(`${h.outbound.adminURL}/metrics`)).body.text();
    expect(m).toMatch(/warden_gateway_calls_total\{[^}]*reason="TaskNotFound"[^}]*\} [1-9]/);
  });
});
