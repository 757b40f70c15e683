// Isolation through real gateways (issue 14): sessions, tasks and pending server requests belong
// to the agent and session that created them; Host/Origin are checked (DNS rebinding); agent
// responses pass only for outstanding server requests; unsolicited upstream responses are
// dropped and counted; headers must agree with the body per protocol version. Two agents share
// one tool server: "researcher" (the harness's outbound gateway) and "rogue" (a second outbound
// gateway with its own SVID), both admitted by the inbound gateway. Every row below was an attack
// that succeeded before this change.
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { Agent, request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningGateway } from "../../gateway/server.ts";
import { type Harness, SERVER_ID, startHarness } from "../fixtures/gateway/harness.ts";

let h: Harness;
let rogue: RunningGateway;
let raw: Server;
let sid: string;
const V = "2025-11-25";

beforeAll(async () => {
  h = await startHarness();
  // A tool server whose replies carry responses nobody asked for.
  raw = createServer(
    { cert: h.server.certChainPem, key: h.server.keyPem, ca: h.ca.certPem, requestCert: true },
    (req, res) => {
      req.resume();
      req.on("end", () => {
        res.writeHead(200, { "content-type": "text/event-stream" });
        res.write('data: {"jsonrpc":"2.0","id":"someone-elses","result":{"secret":"not for you"}}\n\n');
        res.end('data: {"jsonrpc":"2.0","id":9,"result":{}}\n\n');
      });
    },
  );
  await new Promise<void>((r) => raw.listen(0, "127.0.0.1", r));
  const policy = structuredClone(h.policy);
  policy.version = "v-own";
  policy.servers.push({
    manifest: "raw-tools",
    endpoint: `https://127.0.0.1:${(raw.address() as AddressInfo).port}/mcp`,
    mode: "Enforce",
    serverSpiffeID: SERVER_ID,
    tools: [],
  });
  h.setPolicy(policy);
  // The inbound gateway admits the second agent too: they share the tool server.
  rogue = await h.startSecondAgent({
    inboundVersion: "in-2",
    policyVersion: "rogue-1",
    auditFile: join(h.dir, "rogue-audit.jsonl"),
  });
  // Wait (bounded) until both gateways have reloaded their policies.
  for (const [admin, want] of [
    [h.outbound.adminURL, "v-own"],
    [h.inbound.adminURL, "in-2"],
  ] as const) {
    for (let t = Date.now(); Date.now() - t < 10_000; await new Promise((r) => setTimeout(r, 50))) {
      if ((await (await request(`${admin}/metrics`)).body.text()).includes(`version="${want}"`)) break;
    }
  }
  // The victim's session, opened with plain requests (an SDK client would also hold a GET stream
  // open in the background, and its reconnects would blur the upstream request counts below).
  const init = await request(h.route(), {
    method: "POST",
    headers: mcpHeaders(),
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: V, capabilities: {}, clientInfo: { name: "victim", version: "1" } },
    }),
  });
  await init.body.text();
  sid = String(init.headers["mcp-session-id"]);
  const ready = await request(h.route(), {
    method: "POST",
    headers: mcpHeaders({ "mcp-session-id": sid }),
    body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }),
  });
  await ready.body.dump();
  expect(ready.statusCode).toBe(202);
});

afterAll(async () => {
  await rogue?.close();
  await h?.close();
  await new Promise<void>((r) => (raw ? raw.close(() => r()) : r()));
});

const mcpHeaders = (extra: Record<string, string> = {}) => ({
  "content-type": "application/json",
  accept: "application/json, text/event-stream",
  "mcp-protocol-version": V,
  ...extra,
});
const searchCall = (id: number | string = 5) =>
  JSON.stringify({
    jsonrpc: "2.0",
    id,
    method: "tools/call",
    params: { name: "search", arguments: { q: "mine" } },
  });

interface Answer {
  status: number;
  text: string;
  rule: string | undefined;
}
async function send(
  url: string,
  method: string,
  headers: Record<string, string>,
  body?: string,
): Promise<Answer> {
  const r = await request(url, {
    method: method as "POST",
    headers,
    ...(body !== undefined ? { body } : {}),
  });
  const text = await r.body.text();
  let rule: string | undefined;
  try {
    rule = (JSON.parse(text) as { error?: { data?: { rule?: string } } }).error?.data?.rule;
  } catch {
    rule = undefined;
  }
  return { status: r.statusCode, text, rule };
}
const rogueRoute = () => `${rogue.url}/servers/web-tools/mcp`;

describe("ownership: another agent cannot use a session it did not open", () => {
  // [attack, send it, expected HTTP status, expected rule]
  const rows: [string, () => Promise<Answer>, number, string][] = [
    [
      "POST tools/call in the victim's session via the rogue agent's own gateway",
      () => send(rogueRoute(), "POST", mcpHeaders({ "mcp-session-id": sid }), searchCall()),
      404,
      "SessionNotFound",
    ],
    [
      "GET the victim's server stream",
      () =>
        send(rogueRoute(), "GET", {
          accept: "text/event-stream",
          "mcp-protocol-version": V,
          "mcp-session-id": sid,
        }),
      404,
      "SessionNotFound",
    ],
    [
      "resume the victim's stream with Last-Event-ID",
      () =>
        send(rogueRoute(), "GET", {
          accept: "text/event-stream",
          "mcp-protocol-version": V,
          "mcp-session-id": sid,
          "last-event-id": "0",
        }),
      404,
      "SessionNotFound",
    ],
    [
      "resume a stream with Last-Event-ID and no session",
      () =>
        send(rogueRoute(), "GET", {
          accept: "text/event-stream",
          "mcp-protocol-version": V,
          "last-event-id": "0",
        }),
      400,
      "SessionRequired",
    ],
    [
      "DELETE the victim's session",
      () => send(rogueRoute(), "DELETE", { "mcp-protocol-version": V, "mcp-session-id": sid }),
      404,
      "SessionNotFound",
    ],
    [
      "a made-up session id on the victim's own gateway",
      () => send(h.route(), "POST", mcpHeaders({ "mcp-session-id": "guessed-session" }), searchCall()),
      404,
      "SessionNotFound",
    ],
  ];
  for (const [attack, attempt, status, rule] of rows) {
    it(`refuses: ${attack}`, async () => {
      const before = h.mcp.requests;
      const a = await attempt();
      expect(a.status).toBe(status);
      expect(a.rule).toBe(rule);
      expect(h.mcp.requests).toBe(before);
    });
  }

  it("refuses the victim's session at the inbound gateway too (a caller that skips its outbound checks)", async () => {
    const d = new Agent({
      connect: {
        ca: h.ca.certPem,
        cert: h.rogue.certChainPem,
        key: h.rogue.keyPem,
        checkServerIdentity: () => undefined,
      },
    });
    const before = h.mcp.requests;
    for (const [method, body] of [
      ["POST", searchCall()],
      ["GET", undefined],
      ["DELETE", undefined],
    ] as const) {
      const r = await request(`${h.inbound.url}/mcp`, {
        method,
        headers: mcpHeaders({ "mcp-session-id": sid }),
        ...(body ? { body } : {}),
        dispatcher: d,
      });
      const j = (await r.body.json()) as { error: { data: { rule: string } } };
      expect([method, r.statusCode, j.error.data.rule]).toEqual([method, 404, "SessionNotFound"]);
    }
    expect(h.mcp.requests).toBe(before);
    await d.close();
  });

  it("the victim's session still works after all of that", async () => {
    const a = await send(h.route(), "POST", mcpHeaders({ "mcp-session-id": sid }), searchCall(6));
    expect(a.status).toBe(200);
    expect(a.text).toContain("results for mine");
  });

  it("a rogue agent's own session works through its own gateway (ownership, not a blanket refusal)", async () => {
    const init = await request(rogueRoute(), {
      method: "POST",
      headers: mcpHeaders(),
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "initialize",
        params: { protocolVersion: V, capabilities: {}, clientInfo: { name: "rogue", version: "1" } },
      }),
    });
    await init.body.text();
    const own = String(init.headers["mcp-session-id"]);
    expect(own).not.toBe(sid);
    const a = await send(rogueRoute(), "POST", mcpHeaders({ "mcp-session-id": own }), searchCall(7));
    expect(a.text).toContain("results for mine");
  });
});

describe("ownership: session lifecycle and per-version headers", () => {
  it("refuses a second initialize on a live session without forwarding it", async () => {
    const before = h.mcp.requests;
    const a = await send(
      h.route(),
      "POST",
      mcpHeaders({ "mcp-session-id": sid }),
      JSON.stringify({
        jsonrpc: "2.0",
        id: 2,
        method: "initialize",
        params: { protocolVersion: V, capabilities: {}, clientInfo: { name: "again", version: "1" } },
      }),
    );
    expect([a.status, a.rule]).toEqual([200, "SessionAlreadyInitialized"]);
    expect(h.mcp.requests).toBe(before);
  });

  it("does not forward the session header on a revision without sessions (2026-07-28)", async () => {
    const a = await send(
      h.route(),
      "POST",
      mcpHeaders({
        "mcp-protocol-version": "2026-07-28",
        "mcp-method": "server/discover",
        "mcp-session-id": "stale-session-from-an-older-revision",
      }),
      JSON.stringify({ jsonrpc: "2.0", id: 3, method: "server/discover", params: {} }),
    );
    expect(a.text).not.toContain("rule ");
    expect(h.mcp.lastHeaders?.["mcp-method"]).toBe("server/discover");
    expect(h.mcp.lastHeaders?.["mcp-session-id"]).toBeUndefined();
  });

  it("refuses tasks/get, tasks/result and tasks/cancel for a task not created on the session", async () => {
    const before = h.mcp.requests;
    for (const method of ["tasks/get", "tasks/result", "tasks/cancel"]) {
      const a = await send(
        h.route(),
        "POST",
        mcpHeaders({ "mcp-session-id": sid }),
        JSON.stringify({ jsonrpc: "2.0", id: 4, method, params: { taskId: "someone-elses-task" } }),
      );
      expect([method, a.rule]).toEqual([method, "TaskNotFound"]);
    }
    expect(h.mcp.requests).toBe(before);
  });
});

describe("Host and Origin (DNS rebinding)", () => {
  const rows: [string, Record<string, string>, string][] = [
    ["a rebinding page's Origin", { origin: "http://evil.example" }, "OriginNotAllowed"],
    ["the null Origin of a sandboxed page", { origin: "null" }, "OriginNotAllowed"],
    ["a foreign Host (name rebound to 127.0.0.1)", { host: "evil.example:15001" }, "HostNotAllowed"],
    ["a Host with userinfo tricks", { host: "localhost@evil.example" }, "HostNotAllowed"],
  ];
  for (const [attack, headers, rule] of rows) {
    it(`refuses ${attack} with 403 before anything is forwarded`, async () => {
      const before = h.mcp.requests;
      const a = await send(
        h.route(),
        "POST",
        mcpHeaders({ "mcp-session-id": sid, ...headers }),
        searchCall(),
      );
      expect([a.status, a.rule]).toEqual([403, rule]);
      expect(h.mcp.requests).toBe(before);
    });
  }
  it("accepts loopback Host names", async () => {
    const port = new URL(h.route()).port;
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`]) {
      const a = await send(h.route(), "POST", mcpHeaders({ "mcp-session-id": sid, host }), searchCall());
      expect(a.text).toContain("results for mine");
    }
  });
});

describe("responses: only for outstanding server requests", () => {
  it("refuses an agent response that answers no server request, without forwarding it", async () => {
    const before = h.mcp.requests;
    const a = await send(
      h.route(),
      "POST",
      mcpHeaders({ "mcp-session-id": sid }),
      JSON.stringify({ jsonrpc: "2.0", id: "forged", result: { content: [{ type: "text", text: "x" }] } }),
    );
    expect([a.status, a.rule]).toEqual([400, "UnsolicitedResponse"]);
    expect(h.mcp.requests).toBe(before);
  });

  it("passes the agent's answer to a server request it was sent, decided and audited", async () => {
    // An SDK client holds the GET stream open; the server pings every session on it.
    const agent = await h.connect();
    await agent.ping();
    const answers = await h.mcp.requestClients("ping");
    expect(answers.some((a) => a.status === "fulfilled")).toBe(true);
    await expect
      .poll(
        () =>
          readFileSync(h.outboundAudit, "utf8")
            .trimEnd()
            .split("\n")
            .map((l) => JSON.parse(l) as Record<string, unknown>)
            .find((r) => r.method === "ping (response)"),
        { timeout: 5000, interval: 20 },
      )
      .toMatchObject({ decision: "allow", rule: "AnswersServerRequest" });
  });

  it("drops and counts an upstream response nobody asked for", async () => {
    const r = await request(`${h.outbound.url}/servers/raw-tools/mcp`, {
      method: "POST",
      headers: mcpHeaders(),
      body: JSON.stringify({ jsonrpc: "2.0", id: 9, method: "ping" }),
    });
    const text = await r.body.text();
    expect(text).toContain('"id":9');
    expect(text).not.toContain("someone-elses");
    const m = await (await request(`${h.outbound.adminURL}/metrics`)).body.text();
    expect(m).toMatch(/warden_gateway_unsolicited_responses_total\{direction="from_server"\} [1-9]/);
  });
});
