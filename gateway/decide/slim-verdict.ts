// The part of a server-message verdict the gateway's bookkeeping needs, small enough to pass
// between threads: the message's id, method, the task a request, notification or result names (and
// whether a request asks for a task), and whether
// the result is a list the gateway rewrites (tools, tasks, resources, prompts). Everything else stays in the bytes.
import type { ServerVerdict } from "./server-messages.ts";

export interface SlimMessage extends Record<string, unknown> {
  id?: string | number | null;
  method?: string;
  /** The task a request names (taskId), and whether it asks for a task (params.task). */
  params?: { taskId?: unknown; task?: Record<string, never> };
  result?: { task?: { taskId?: unknown } };
  /** The result carries a list the gateway filters (tools/list, tasks/list, ...): parse it in full. */
  rewritable?: boolean;
}

export type SlimVerdict =
  | { action: "pass"; message: SlimMessage; kind: "notification" | "response" | "request" }
  | Extract<ServerVerdict, { action: "refuse" }>;

/** Result lists the gateway filters to what is granted (tools, tasks, resources, templates, prompts). */
const LISTS = ["tools", "tasks", "resources", "resourceTemplates", "prompts"];

/** Whether request params ask the receiver to run the request as a task (MCP 2025-11-25 `task`). */
export function asksForTask(params: Record<string, unknown> | undefined): boolean {
  const t = params?.task;
  return typeof t === "object" && t !== null && !Array.isArray(t);
}

export function slimVerdict(v: ServerVerdict): SlimVerdict {
  if (v.action === "refuse") return v;
  const m = v.message;
  const slim: SlimMessage = {};
  if ("id" in m) slim.id = m.id as string | number | null;
  if (typeof m.method === "string") slim.method = m.method;
  const params = m.params as Record<string, unknown> | undefined;
  if (params && ("taskId" in params || "task" in params)) {
    slim.params = {};
    if ("taskId" in params) slim.params.taskId = params.taskId;
    if (asksForTask(params)) slim.params.task = {};
  }
  const result = m.result as Record<string, unknown> | undefined;
  if (result && typeof result === "object") {
    const task = result.task as { taskId?: unknown } | undefined;
    slim.result = task && typeof task === "object" ? { task: { taskId: task.taskId } } : {};
    if (LISTS.some((k) => Array.isArray(result[k]))) slim.rewritable = true;
  }
  return { action: "pass", message: slim, kind: v.kind };
}
