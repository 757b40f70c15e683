// Server→client messages (on the GET SSE stream and inside POST SSE responses) are decided like
// client messages: the gateway passes only what it positively recognises. A tool server may ask
// the client for things (sampling/createMessage, elicitation/create, roots/list, tasks/*); each
// is refused unless the server's grant (clientFeatures) allows it (fail closed; tasks/* are then
// bound to the session's own client-side tasks by outbound/client-tasks.ts): a compromised or
// drifted tool server must not be able to drive the agent's model, prompt its user or list its
// filesystem roots through the gateway without the grant saying so. Notifications pass when they
// are valid JSON-RPC notifications of the negotiated revision; anything malformed is dropped.
import { type Deny, deny, INVALID_REQUEST, METHOD_NOT_FOUND } from "./deny.ts";
import { JsonRejected, parseStrictJson } from "./json.ts";
import { isResponseShape, notificationSchema, requestSchema, responseSchema } from "./jsonrpc.ts";
import type { ProtocolVersion } from "./methods.ts";

/** Server→client requests that pass without a grant: harmless liveness only. */
export const UNGRANTED_SERVER_REQUESTS: readonly string[] = ["ping"];

const BASE_SERVER_NOTIFICATIONS = [
  "notifications/cancelled",
  "notifications/progress",
  "notifications/message",
  "notifications/resources/updated",
  "notifications/resources/list_changed",
  "notifications/tools/list_changed",
  "notifications/prompts/list_changed",
];

/** Notifications a server may send, per revision (MCP schema ServerNotification unions). */
export const SERVER_NOTIFICATIONS: Record<ProtocolVersion, ReadonlySet<string>> = {
  "2024-10-07": new Set(BASE_SERVER_NOTIFICATIONS),
  "2024-11-05": new Set(BASE_SERVER_NOTIFICATIONS),
  "2025-03-26": new Set(BASE_SERVER_NOTIFICATIONS),
  "2025-06-18": new Set(BASE_SERVER_NOTIFICATIONS),
  "2025-11-25": new Set([
    ...BASE_SERVER_NOTIFICATIONS,
    "notifications/elicitation/complete",
    "notifications/tasks/status",
  ]),
  "2026-07-28": new Set([
    ...BASE_SERVER_NOTIFICATIONS,
    "notifications/elicitation/complete",
    "notifications/tasks/status",
  ]),
};

export type ServerVerdict =
  /** Forward `message` (the parsed object) to the client. */
  | { action: "pass"; message: Record<string, unknown>; kind: "notification" | "response" | "request" }
  /** Drop; when `id` is set it was a request and the server must get `deny` as its JSON-RPC error. */
  | { action: "refuse"; deny: Deny; method: string; id?: string | number };

/** The rule for a server→client request the policy cannot grant, as a documented default. */
export function serverRequestDeny(method: string, manifest: string): Deny {
  return deny(
    "ServerRequestNotGranted",
    `the tool server asked the client for ${method.slice(0, 128)}; server→client requests are refused ` +
      "unless granted: set clientFeatures.sampling, .elicitation or .roots to true in the AgentIdentity's grant " +
      "for this ToolManifest (and in the ToolManifest's spec.clientFeatures); tasks/* come with sampling or elicitation " +
      "and pass only for tasks the agent created on the same session",
    manifest,
  );
}

/** Decides one server→client message given its raw text (an SSE event's data). */
export function decideServerMessage(
  text: string,
  version: ProtocolVersion,
  manifest: string,
  maxDepth = 32,
  maxBytes = 16 * 1024 * 1024,
  /** Server→client requests granted for this server (sampling/elicitation/roots per policy). */
  allowedRequests: readonly string[] = UNGRANTED_SERVER_REQUESTS,
): ServerVerdict {
  let msg: unknown;
  try {
    msg = parseStrictJson(text, { maxBytes, maxDepth });
  } catch (e) {
    const rule = e instanceof JsonRejected ? e.reason : "ParseError";
    return {
      action: "refuse",
      method: "(malformed)",
      deny: deny(rule, `server message dropped: ${(e as Error).message}`, manifest, INVALID_REQUEST),
    };
  }
  if (Array.isArray(msg)) {
    return {
      action: "refuse",
      method: "(batch)",
      deny: deny(
        "BatchRejected",
        "server message dropped: JSON-RPC batches are not accepted (MCP removed batching)",
        manifest,
        INVALID_REQUEST,
      ),
    };
  }
  const invalid = (what: string): ServerVerdict => ({
    action: "refuse",
    method: "(invalid)",
    deny: deny("InvalidJsonRpc", `server message dropped: ${what}`, manifest, INVALID_REQUEST),
  });
  if (typeof msg !== "object" || msg === null) return invalid("not a JSON-RPC object");
  const m = msg as Record<string, unknown>;
  if ("method" in m && "id" in m) {
    const r = requestSchema.safeParse(m);
    if (!r.success) return invalid("malformed JSON-RPC request");
    if (allowedRequests.includes(r.data.method)) return { action: "pass", message: m, kind: "request" };
    return {
      action: "refuse",
      method: r.data.method,
      id: r.data.id,
      deny: serverRequestDeny(r.data.method, manifest),
    };
  }
  if ("method" in m) {
    const r = notificationSchema.safeParse(m);
    if (!r.success) return invalid("malformed JSON-RPC notification");
    if (!SERVER_NOTIFICATIONS[version].has(r.data.method)) {
      return {
        action: "refuse",
        method: r.data.method,
        deny: deny(
          "UnknownMethod",
          `server notification ${JSON.stringify(r.data.method.slice(0, 128))} is not defined in MCP ${version}; dropped`,
          manifest,
          METHOD_NOT_FOUND,
        ),
      };
    }
    return { action: "pass", message: m, kind: "notification" };
  }
  if (!isResponseShape(m) && !responseSchema.safeParse(m).success)
    return invalid("not a JSON-RPC request, notification or response");
  return { action: "pass", message: m, kind: "response" };
}
