import { describe, expect, it } from "vitest";
import { decideServerMessage } from "./server-messages.ts";
import { asksForTask, slimVerdict } from "./slim-verdict.ts";

const allowed = ["ping", "sampling/createMessage", "tasks/get", "tasks/list"];
const slim = (msg: unknown) =>
  slimVerdict(decideServerMessage(JSON.stringify(msg), "2025-11-25", "m", 32, 1 << 20, allowed));

describe("slimVerdict: what the gateway's task bookkeeping needs crosses the thread boundary", () => {
  it("keeps the task a server request names and whether it asks for a task", () => {
    expect(slim({ jsonrpc: "2.0", id: 1, method: "tasks/get", params: { taskId: "t1" } })).toEqual({
      action: "pass",
      kind: "request",
      message: { id: 1, method: "tasks/get", params: { taskId: "t1" } },
    });
    const sampling = {
      jsonrpc: "2.0",
      id: 2,
      method: "sampling/createMessage",
      params: { task: { ttl: 1000 }, messages: [], maxTokens: 5 },
    };
    expect(slim(sampling)).toEqual({
      action: "pass",
      kind: "request",
      message: { id: 2, method: "sampling/createMessage", params: { task: {} } },
    });
    const untasked = { ...sampling, params: { messages: [], maxTokens: 5 } };
    expect(slim(untasked)).toEqual({
      action: "pass",
      kind: "request",
      message: { id: 2, method: "sampling/createMessage" },
    });
  });
  it("a task list result is marked for rewriting", () => {
    expect(slim({ jsonrpc: "2.0", id: 3, result: { tasks: [] } })).toMatchObject({
      message: { id: 3, rewritable: true },
    });
  });
  const asks: [string, Record<string, unknown> | undefined, boolean][] = [
    ["task metadata", { task: { ttl: 1 } }, true],
    ["empty task metadata", { task: {} }, true],
    ["no task", {}, false],
    ["no params", undefined, false],
    ["task: null", { task: null }, false],
    ["task: an array", { task: [] }, false],
    ["task: a string", { task: "yes" }, false],
  ];
  for (const [what, params, want] of asks)
    it(`asksForTask: ${what} → ${want}`, () => expect(asksForTask(params)).toBe(want));
});
