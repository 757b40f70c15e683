// JSON-RPC 2.0 message classification for MCP, after the strict JSON parse. Everything the gateway
// does not positively recognise is refused: batches, requests without a usable id, unknown
// methods for the negotiated revision, tool names outside the charset, prototype keys in arguments.
import * as z from "zod";
import { zodIssues } from "../../lib/errors.ts";
import { type Deny, deny, INVALID_REQUEST, METHOD_NOT_FOUND } from "./deny.ts";
import { CLIENT_NOTIFICATIONS, CLIENT_REQUESTS, type ProtocolVersion } from "./methods.ts";

export const TOOL_NAME_RE = /^[A-Za-z0-9_.-]{1,128}$/;

/** A usable id: a non-empty string or a safe integer (floats and null are refused). */
export const jsonRpcId = z.union([
  z.string().min(1).max(256),
  z
    .number()
    .int()
    .min(-(2 ** 53) + 1)
    .max(2 ** 53 - 1),
]);
export type JsonRpcId = z.infer<typeof jsonRpcId>;

// Shared by both directions: what the agent sends (envelope.ts) and what the server sends back
// (server-messages.ts) are checked against the same JSON-RPC shapes.
const params = z.record(z.string(), z.unknown());
export const requestSchema = z.strictObject({
  jsonrpc: z.literal("2.0"),
  id: jsonRpcId,
  method: z.string().min(1).max(128),
  params: params.optional(),
});
export const notificationSchema = z.strictObject({
  jsonrpc: z.literal("2.0"),
  method: z.string().min(1).max(128),
  params: params.optional(),
});
export const responseSchema = z.union([
  z.strictObject({ jsonrpc: z.literal("2.0"), id: jsonRpcId, result: z.record(z.string(), z.unknown()) }),
  z.strictObject({
    jsonrpc: z.literal("2.0"),
    id: z.union([jsonRpcId, z.null()]),
    error: z.object({ code: z.number().int(), message: z.string() }).loose(),
  }),
]);

export const toolsCallParams = z
  .object({
    name: z.string(),
    arguments: z.record(z.string(), z.unknown()).optional(),
  })
  .loose();

export type Classified =
  | { kind: "request"; id: JsonRpcId; method: string; params: Record<string, unknown> | undefined }
  | { kind: "notification"; method: string; params: Record<string, unknown> | undefined }
  | { kind: "response"; id: JsonRpcId | null };

function issuesText(e: z.ZodError): string {
  return zodIssues(e)
    .map((i) => (i.path ? `${i.path}: ${i.message}` : i.message))
    .join("; ");
}

/** Classifies one parsed client→server message or returns the refusal. */
export function classifyClientMessage(msg: unknown, version: ProtocolVersion): Classified | Deny {
  if (Array.isArray(msg)) {
    return deny(
      "BatchRejected",
      "JSON-RPC batches are not accepted (MCP removed batching)",
      "",
      INVALID_REQUEST,
    );
  }
  if (typeof msg !== "object" || msg === null) {
    return deny("InvalidJsonRpc", "the body must be one JSON-RPC 2.0 object", "", INVALID_REQUEST);
  }
  const m = msg as Record<string, unknown>;
  if ("method" in m) {
    const method = m.method;
    if ("id" in m) {
      if (!jsonRpcId.safeParse(m.id).success) {
        return deny(
          "MissingId",
          "a request must carry a string or integer id (null and fractions are refused)",
          "",
          INVALID_REQUEST,
        );
      }
      const r = requestSchema.safeParse(m);
      if (!r.success) return deny("InvalidJsonRpc", issuesText(r.error), "", INVALID_REQUEST);
      if (!CLIENT_REQUESTS[version].has(r.data.method)) {
        return deny(
          "UnknownMethod",
          `method ${JSON.stringify(r.data.method.slice(0, 128))} is not a client request in MCP ${version}`,
          "",
          METHOD_NOT_FOUND,
        );
      }
      return { kind: "request", id: r.data.id, method: r.data.method, params: r.data.params };
    }
    // No id: a notification. A method that expects a result sent without an id is refused, not
    // forwarded: some servers answer it with 202 and run nothing, others run it with no reply.
    if (typeof method === "string" && CLIENT_REQUESTS[version].has(method)) {
      return deny("MissingId", `${method} expects a result and must carry an id`, "", INVALID_REQUEST);
    }
    const r = notificationSchema.safeParse(m);
    if (!r.success) return deny("InvalidJsonRpc", issuesText(r.error), "", INVALID_REQUEST);
    if (!CLIENT_NOTIFICATIONS[version].has(r.data.method)) {
      return deny(
        "UnknownMethod",
        `notification ${JSON.stringify(r.data.method.slice(0, 128))} is not a client notification in MCP ${version}`,
        "",
        METHOD_NOT_FOUND,
      );
    }
    return { kind: "notification", method: r.data.method, params: r.data.params };
  }
  // A response to a server→client request (sampling, elicitation, roots).
  const r = responseSchema.safeParse(m);
  if (!r.success)
    return deny("InvalidJsonRpc", "not a JSON-RPC request, notification or response", "", INVALID_REQUEST);
  return { kind: "response", id: r.data.id };
}

export function isDeny(x: unknown): x is Deny {
  return typeof x === "object" && x !== null && "rule" in x && "constraint" in x;
}

/** Tool-name check with a message that explains confusables (non-ASCII look-alikes). */
export function toolNameProblem(name: string): string | undefined {
  if (TOOL_NAME_RE.test(name)) return undefined;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the point is to detect them
  if (/[^\x00-\x7f]/.test(name)) {
    return `tool name ${JSON.stringify(name.slice(0, 64))} contains non-ASCII characters (possible look-alike of a granted tool)`;
  }
  return `tool name ${JSON.stringify(name.slice(0, 64))} is outside [A-Za-z0-9_.-]{1,128}`;
}

const PROTO_KEYS = new Set(["__proto__", "constructor", "prototype"]);

/** The dotted path of the first prototype-polluting key inside `value`, if any. */
export function prototypeKeyPath(value: unknown, path = "arguments"): string | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const p = prototypeKeyPath(value[i], `${path}[${i}]`);
      if (p) return p;
    }
    return undefined;
  }
  for (const k of Object.keys(value)) {
    if (PROTO_KEYS.has(k)) return `${path}.${k}`;
    const p = prototypeKeyPath((value as Record<string, unknown>)[k], `${path}.${k}`);
    if (p) return p;
  }
  return undefined;
}
