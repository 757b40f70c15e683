import { describe, expect, it } from "vitest";
import { decideServerMessage } from "./server-messages.ts";

const decide = (text: string, v: "2025-06-18" | "2025-11-25" = "2025-11-25") =>
  decideServerMessage(text, v, "web-tools");

describe("decideServerMessage", () => {
  it("passes valid notifications of the negotiated revision, responses and ping", () => {
    for (const method of [
      "notifications/progress",
      "notifications/message",
      "notifications/tools/list_changed",
    ]) {
      expect(decide(JSON.stringify({ jsonrpc: "2.0", method, params: {} }))).toMatchObject({
        action: "pass",
        kind: "notification",
      });
    }
    expect(decide('{"jsonrpc":"2.0","id":3,"result":{"tools":[]}}')).toMatchObject({
      action: "pass",
      kind: "response",
    });
    expect(decide('{"jsonrpc":"2.0","id":"s-1","method":"ping"}')).toMatchObject({
      action: "pass",
      kind: "request",
    });
  });

  it("refuses sampling, elicitation and roots requests by default, keeping the id to answer", () => {
    for (const method of ["sampling/createMessage", "elicitation/create", "roots/list"]) {
      const v = decide(JSON.stringify({ jsonrpc: "2.0", id: 7, method, params: {} }));
      expect(v).toMatchObject({ action: "refuse", id: 7, method, deny: { rule: "ServerRequestNotGranted" } });
      if (v.action === "refuse")
        expect(v.deny.constraint).toMatch(/refused unless granted: set clientFeatures\.sampling/);
    }
  });

  it("drops notifications that do not exist in the negotiated revision", () => {
    const text = '{"jsonrpc":"2.0","method":"notifications/tasks/status","params":{}}';
    expect(decide(text, "2025-11-25")).toMatchObject({ action: "pass" });
    expect(decide(text, "2025-06-18")).toMatchObject({ action: "refuse", deny: { rule: "UnknownMethod" } });
    expect(decide('{"jsonrpc":"2.0","method":"notifications/evil"}')).toMatchObject({
      action: "refuse",
      deny: { rule: "UnknownMethod" },
    });
  });

  it("drops malformed messages: duplicate keys, batches, bad JSON, wrong envelope", () => {
    expect(
      decide('{"jsonrpc":"2.0","method":"notifications/progress","method":"sampling/createMessage","id":1}'),
    ).toMatchObject({
      action: "refuse",
      deny: { rule: "DuplicateKey" },
    });
    const batch = decide('[{"jsonrpc":"2.0","id":1,"method":"sampling/createMessage"}]');
    expect(batch).toMatchObject({ action: "refuse", deny: { rule: "BatchRejected" } });
    expect(batch).not.toHaveProperty("id");
    expect(decide("{not json")).toMatchObject({ action: "refuse", deny: { rule: "ParseError" } });
    expect(decide('{"jsonrpc":"1.0","method":"notifications/progress"}')).toMatchObject({
      action: "refuse",
      deny: { rule: "InvalidJsonRpc" },
    });
    expect(decide('{"jsonrpc":"2.0","id":null,"method":"roots/list"}')).toMatchObject({
      action: "refuse",
      deny: { rule: "InvalidJsonRpc" },
    });
  });
});
