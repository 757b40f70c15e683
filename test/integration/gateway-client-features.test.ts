// Server→client requests when the grant allows them (issue 14): the official SDK client, through
// the outbound and inbound gateways, answers sampling, elicitation and roots requests from the
// tool server, and each answer is decided and audited as a response to that request. Without the
// grant the same requests are refused (gateway-server-messages.test.ts).
import { readFileSync } from "node:fs";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, startHarness } from "../fixtures/gateway/harness.ts";

let h: Harness;
let agent: Client;
const asked: string[] = [];

beforeAll(async () => {
  h = await startHarness({
    policy: (p) => {
      p.servers[0]!.clientFeatures = { sampling: true, elicitation: true, roots: true };
      return p;
    },
  });
  agent = new Client(
    { name: "agent-with-capabilities", version: "1" },
    { capabilities: { sampling: {}, elicitation: {}, roots: { listChanged: true } } },
  );
  agent.setRequestHandler(CreateMessageRequestSchema, () => {
    asked.push("sampling");
    return { role: "assistant", content: { type: "text", text: "sampled" }, model: "m" };
  });
  agent.setRequestHandler(ElicitRequestSchema, () => {
    asked.push("elicitation");
    return { action: "decline" };
  });
  agent.setRequestHandler(ListRootsRequestSchema, () => {
    asked.push("roots");
    return { roots: [{ uri: "file:///work" }] };
  });
  await agent.connect(new StreamableHTTPClientTransport(new URL(h.route())));
  await agent.ping(); // the GET stream is open once the session is live
});

afterAll(async () => {
  await agent?.close();
  await h?.close();
});

describe("granted server→client requests through both gateways", () => {
  const rows: [string, string, Record<string, unknown>, (r: unknown) => void][] = [
    [
      "sampling",
      "sampling/createMessage",
      { messages: [{ role: "user", content: { type: "text", text: "hi" } }], maxTokens: 5 },
      (r) => expect(r).toMatchObject({ content: { text: "sampled" } }),
    ],
    [
      "elicitation",
      "elicitation/create",
      { message: "ok?", requestedSchema: { type: "object", properties: {} } },
      (r) => expect(r).toMatchObject({ action: "decline" }),
    ],
    ["roots", "roots/list", {}, (r) => expect(r).toMatchObject({ roots: [{ uri: "file:///work" }] })],
  ];
  for (const [feature, method, params, check] of rows) {
    it(`passes ${method} to the agent and its answer back to the server, audited`, async () => {
      // Bounded: the GET stream may still be opening on a busy machine.
      let answered: PromiseSettledResult<unknown> | undefined;
      for (let i = 0; i < 50 && answered?.status !== "fulfilled"; i++) {
        answered = (await h.mcp.requestClients(method, params)).find((r) => r.status === "fulfilled");
        if (answered?.status !== "fulfilled") await new Promise((r) => setTimeout(r, 100));
      }
      expect(answered?.status).toBe("fulfilled");
      check((answered as PromiseFulfilledResult<unknown>).value);
      expect(asked).toContain(feature);
      await expect
        .poll(
          () =>
            readFileSync(h.outboundAudit, "utf8")
              .trimEnd()
              .split("\n")
              .map((l) => JSON.parse(l) as Record<string, unknown>)
              .find((r) => r.method === `${method} (response)`),
          { timeout: 5000, interval: 20 },
        )
        .toMatchObject({ decision: "allow", rule: "AnswersServerRequest" });
    });
  }
});
