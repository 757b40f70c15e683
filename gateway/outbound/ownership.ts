// Ownership of what an agent message refers to: its session (one this gateway saw opened on this
// tool server), the task it names (created on that session), the server request it answers
// (passed to the agent on that session and not yet answered). Anything else is refused the way
// the transport spec refuses it: an unknown session is HTTP 404 (the client then starts a new
// one), a foreign task is a JSON-RPC error, an unsolicited response is HTTP 400. Pure: reads and
// updates only the session table it is given.
import { type Deny, deny, INVALID_REQUEST } from "../decide/deny.ts";
import type { Classified } from "../decide/jsonrpc.ts";
import { hasSessions, type ProtocolVersion } from "../decide/methods.ts";
import type { Refusal } from "./route.ts";
import { idKey, type PendingServerRequest, type Session, type SessionTable } from "./sessions.ts";

/** JSON-RPC "invalid params": what a receiver answers for a task id it does not know (MCP tasks). */
export const INVALID_PARAMS = -32602;
const TASK_METHODS = new Set(["tasks/get", "tasks/result", "tasks/cancel"]);

export interface Owned {
  /** The session (or the tool server's sessionless state) the message belongs to. */
  scope: Session;
  /** The revision has no sessions: the session header is not forwarded. */
  withoutSession: boolean;
  /** For an agent response: the server request it answers. */
  answers?: PendingServerRequest;
}

export function sessionNotFound(manifest: string, id: string): Deny {
  return deny(
    "SessionNotFound",
    `session ${JSON.stringify(id.slice(0, 128))} was not opened through this gateway on ${manifest}; ` +
      "start a new session with initialize",
    manifest,
  );
}

export function checkOwnership(
  sessions: SessionTable,
  manifest: string,
  sessionId: string | undefined,
  version: ProtocolVersion,
  msg: Classified,
): Owned | Refusal {
  const withoutSession = !hasSessions(version);
  const sid = withoutSession ? undefined : sessionId;
  if (sid !== undefined) {
    if (!sessions.get(manifest, sid)) return { deny: sessionNotFound(manifest, sid), status: 404 };
    if (msg.kind === "request" && msg.method === "initialize") {
      return {
        deny: deny(
          "SessionAlreadyInitialized",
          "initialize on a live session is refused: a session is initialized once; send initialize without Mcp-Session-Id to open a new one",
          manifest,
          INVALID_REQUEST,
        ),
        status: 400,
      };
    }
  }
  const scope = sessions.scope(manifest, sid)!;
  if (msg.kind === "response") {
    const pending = msg.id === null ? undefined : scope.serverRequests.get(idKey(msg.id));
    if (pending === undefined || msg.id === null) {
      return {
        deny: deny(
          "UnsolicitedResponse",
          `no server request with id ${JSON.stringify(msg.id)} is waiting for an answer on this session`,
          manifest,
          INVALID_REQUEST,
        ),
        status: 400,
      };
    }
    return { scope, withoutSession, answers: pending };
  }
  if (msg.kind === "request" && TASK_METHODS.has(msg.method)) {
    const taskId = msg.params?.taskId;
    if (typeof taskId !== "string" || !scope.tasks.has(taskId)) {
      return {
        deny: deny(
          "TaskNotFound",
          `task ${JSON.stringify(String(taskId).slice(0, 128))} was not created on this session`,
          manifest,
          INVALID_PARAMS,
        ),
        status: 404,
      };
    }
  }
  return { scope, withoutSession };
}

/** The task a result created (CreateTaskResult: {task: {taskId}}), if any. */
export function createdTask(result: Record<string, unknown>): string | undefined {
  const t = result.task as { taskId?: unknown } | undefined;
  return t && typeof t === "object" && typeof t.taskId === "string" ? t.taskId : undefined;
}

/** tasks/list filtered to the session's own tasks. */
export function ownTasks(result: Record<string, unknown>, scope: Session): Record<string, unknown> {
  if (!Array.isArray(result.tasks)) return result;
  return {
    ...result,
    tasks: result.tasks.filter(
      (t) =>
        typeof t === "object" && t !== null && scope.tasks.has(String((t as { taskId?: unknown }).taskId)),
    ),
  };
}
