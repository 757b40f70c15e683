// Client-side tasks (MCP 2025-11-25, tasks): a tool server may augment a sampling/createMessage or
// elicitation/create request with `params.task`; the agent then answers with a CreateTaskResult (a
// task id the agent created) and the server polls the agent with tasks/get, tasks/result,
// tasks/list and tasks/cancel. The gateway stands on the agent's side of that exchange, so it
// binds each such task to what created it — the session, the tool server, the agent identity —
// as the spec asks receivers to bind tasks to the requestor's authorization context:
//   - a task is recorded only from the agent's answer to a request the gateway passed on this
//     session (a granted, task-augmented sampling/elicitation request still outstanding);
//   - tasks/get, tasks/result and tasks/cancel pass only for such a task; anything else is
//     refused with the spec's error for an unknown task (-32602 Invalid params), so a server
//     cannot read another session's or another agent's results by guessing or replaying ids;
//   - tasks/list passes, and the agent's answer is cut to those tasks (the spec: the list holds
//     only the requestor's tasks, and every task tasks/get can reach is listed).
// Pure: reads and updates only the session it is given.
import { type Deny, deny } from "../decide/deny.ts";
import { createdTask, INVALID_PARAMS } from "./ownership.ts";
import type { PendingServerRequest, Session } from "./sessions.ts";

/** The server→client task requests that name one task. */
const TASK_BY_ID = new Set(["tasks/get", "tasks/result", "tasks/cancel"]);
/** Every server→client task request. */
export const CLIENT_TASK_REQUESTS: readonly string[] = [...TASK_BY_ID, "tasks/list"];
/** The server→client requests whose answer may create a client-side task. */
const TASK_CREATING = new Set(["sampling/createMessage", "elicitation/create"]);

/** The key of a client-side task: the agent that created it and its id. */
export function clientTaskKey(agent: string, taskId: string): string {
  return `${agent}\u0000${taskId}`;
}

/**
 * Records the task the agent's answer created, if `answered` was a task-augmented sampling or
 * elicitation request and the answer is a CreateTaskResult. Returns the task id recorded.
 */
export function recordClientTask(
  scope: Session,
  answered: PendingServerRequest,
  result: unknown,
  agent: string,
): string | undefined {
  if (!answered.taskAugmented || !TASK_CREATING.has(answered.method)) return undefined;
  if (typeof result !== "object" || result === null || Array.isArray(result)) return undefined;
  const taskId = createdTask(result as Record<string, unknown>);
  if (taskId === undefined || taskId.length === 0 || taskId.length > 256) return undefined;
  scope.clientTasks.add(clientTaskKey(agent, taskId));
  return taskId;
}

/** The refusal of a server→client task request on this session, or undefined when it may pass. */
export function clientTaskRefusal(
  scope: Session,
  agent: string,
  method: string,
  params: Record<string, unknown> | undefined,
  manifest: string,
): Deny | undefined {
  if (!TASK_BY_ID.has(method)) return undefined;
  const taskId = params?.taskId;
  if (typeof taskId === "string" && scope.clientTasks.has(clientTaskKey(agent, taskId))) return undefined;
  return deny(
    "TaskNotFound",
    `the tool server asked the agent for ${method} of task ${JSON.stringify(String(taskId).slice(0, 128))}, ` +
      "which the agent did not create on this session in answer to this server's task-augmented request; " +
      "a server may ask only about tasks it requested on the same session",
    manifest,
    INVALID_PARAMS,
  );
}

/** The agent's tasks/list answer cut to the tasks the server may ask about on this session. */
export function ownClientTasks(
  result: Record<string, unknown>,
  scope: Session,
  agent: string,
): Record<string, unknown> {
  const tasks = Array.isArray(result.tasks) ? (result.tasks as unknown[]) : [];
  return {
    ...result,
    tasks: tasks.filter((t) => {
      const id = typeof t === "object" && t !== null ? (t as { taskId?: unknown }).taskId : undefined;
      return typeof id === "string" && scope.clientTasks.has(clientTaskKey(agent, id));
    }),
  };
}
