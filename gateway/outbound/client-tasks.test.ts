import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CLIENT_TASK_REQUESTS, clientTaskRefusal, ownClientTasks, recordClientTask } from "./client-tasks.ts";
import { type Session, SessionTable } from "./sessions.ts";

const AGENT = "spiffe://example.org/ns/agents/sa/researcher";
const OTHER = "spiffe://example.org/ns/agents/sa/rogue";

function session(id: string): Session {
  const t = new SessionTable();
  return t.open("m", id, "2025-11-25");
}

const created = (taskId: unknown) => ({ task: { taskId, status: "working" } });
const sampling = { method: "sampling/createMessage", taskAugmented: true };

describe("recordClientTask", () => {
  const rows: [string, { method: string; taskAugmented: boolean }, unknown, string | undefined][] = [
    ["a task-augmented sampling request answered with a task", sampling, created("t1"), "t1"],
    [
      "a task-augmented elicitation request answered with a task",
      { method: "elicitation/create", taskAugmented: true },
      created("t1"),
      "t1",
    ],
    [
      "a sampling request that asked for no task (a forged CreateTaskResult)",
      { method: "sampling/createMessage", taskAugmented: false },
      created("t1"),
      undefined,
    ],
    [
      "roots/list, which has no tasks",
      { method: "roots/list", taskAugmented: true },
      created("t1"),
      undefined,
    ],
    [
      "tasks/get answered with something task-shaped",
      { method: "tasks/get", taskAugmented: true },
      created("t1"),
      undefined,
    ],
    ["a result that is not a CreateTaskResult", sampling, { role: "assistant" }, undefined],
    ["a task id that is not a string", sampling, created(7), undefined],
    ["an empty task id", sampling, created(""), undefined],
    ["an array result", sampling, [created("t1")], undefined],
  ];
  for (const [what, answered, result, want] of rows) {
    it(`${what} → ${want ?? "nothing recorded"}`, () => {
      const s = session("s1");
      expect(recordClientTask(s, answered, result, AGENT)).toBe(want);
      expect(s.clientTasks.size).toBe(want === undefined ? 0 : 1);
    });
  }
});

describe("clientTaskRefusal", () => {
  const s = session("s1");
  recordClientTask(s, sampling, created("t1"), AGENT);
  const other = session("s2");
  recordClientTask(other, sampling, created("t2"), AGENT);

  it("passes tasks/get, tasks/result and tasks/cancel for the session's own task", () => {
    for (const m of ["tasks/get", "tasks/result", "tasks/cancel"])
      expect(clientTaskRefusal(s, AGENT, m, { taskId: "t1" }, "m")).toBeUndefined();
  });
  const attacks: [string, string, Record<string, unknown> | undefined, string][] = [
    ["another session's task", "tasks/get", { taskId: "t2" }, AGENT],
    ["another agent's task (same id, other identity)", "tasks/result", { taskId: "t1" }, OTHER],
    ["a task never created", "tasks/cancel", { taskId: "t9" }, AGENT],
    ["no task id", "tasks/get", {}, AGENT],
    ["no params", "tasks/get", undefined, AGENT],
    ["a task id that is not a string", "tasks/get", { taskId: ["t1"] }, AGENT],
  ];
  for (const [what, method, params, agent] of attacks) {
    it(`refuses ${what} with -32602 TaskNotFound`, () => {
      const d = clientTaskRefusal(s, agent, method, params, "m");
      expect(d).toMatchObject({ rule: "TaskNotFound", code: -32602, manifest: "m" });
    });
  }
  it("leaves tasks/list (narrowed on the answer) and other methods to other rules", () => {
    expect(clientTaskRefusal(s, AGENT, "tasks/list", {}, "m")).toBeUndefined();
    expect(clientTaskRefusal(s, AGENT, "sampling/createMessage", {}, "m")).toBeUndefined();
    expect(CLIENT_TASK_REQUESTS).toEqual(["tasks/get", "tasks/result", "tasks/cancel", "tasks/list"]);
  });
  it("refuses every task id the session did not record (property)", () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 64 }),
        fc.constantFrom("tasks/get", "tasks/result", "tasks/cancel"),
        (id, m) => {
          fc.pre(id !== "t1");
          expect(clientTaskRefusal(s, AGENT, m, { taskId: id }, "m")?.rule).toBe("TaskNotFound");
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe("ownClientTasks", () => {
  it("cuts the agent's list to the session's tasks, keeping the cursor", () => {
    const s = session("s1");
    recordClientTask(s, sampling, created("mine"), AGENT);
    const r = ownClientTasks(
      {
        tasks: [{ taskId: "mine", status: "working" }, { taskId: "theirs" }, { taskId: 1 }, "junk", null],
        nextCursor: "c2",
      },
      s,
      AGENT,
    );
    expect(r).toEqual({ tasks: [{ taskId: "mine", status: "working" }], nextCursor: "c2" });
    expect(ownClientTasks({ tasks: [{ taskId: "mine" }] }, s, OTHER)).toEqual({ tasks: [] });
    expect(ownClientTasks({ tasks: "not a list" }, s, AGENT)).toEqual({ tasks: [] });
  });
});
