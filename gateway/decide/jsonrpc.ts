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

// The same shapes checked by hand, for the hot path: every agent message and every tool-server
// reply goes through them, and zod's generic object/record/union machinery cost more than the rest
// of the classification (bench/gateway-profile.ts). They accept exactly what the schemas above
// accept (jsonrpc.test.ts proves it over tables and random values); whatever they refuse is handed
// to the schema, so refusals and their messages are zod's as before.

/** zod's record/plain-object test (util.isPlainObject): what `z.record` accepts as input. */
function isPlainRecord(v: unknown): v is Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const ctor = (v as { constructor?: unknown }).constructor;
  if (ctor === undefined || typeof ctor !== "function") return true;
  const prot = (ctor as { prototype?: unknown }).prototype;
  if (typeof prot !== "object" || prot === null || Array.isArray(prot)) return false;
  return Object.hasOwn(prot, "isPrototypeOf");
}

/** What `jsonRpcId` accepts: a string of 1–256 UTF-16 units or a safe integer. */
export function isJsonRpcId(v: unknown): v is JsonRpcId {
  return typeof v === "string" ? v.length >= 1 && v.length <= 256 : Number.isSafeInteger(v);
}

/** Whether every enumerable key of `m` (as zod's strict objects enumerate them) is in `allowed`. */
function onlyKeys(m: object, allowed: ReadonlySet<string>): boolean {
  for (const k in m) if (!allowed.has(k)) return false;
  return true;
}

const REQUEST_KEYS = new Set(["jsonrpc", "id", "method", "params"]);
const NOTIFICATION_KEYS = new Set(["jsonrpc", "method", "params"]);
const RESULT_KEYS = new Set(["jsonrpc", "id", "result"]);
const ERROR_KEYS = new Set(["jsonrpc", "id", "error"]);

const isMethod = (v: unknown): v is string => typeof v === "string" && v.length >= 1 && v.length <= 128;

/** `requestSchema.safeParse(m).success`, by hand. */
export function isRequestShape(m: Record<string, unknown>): boolean {
  return (
    onlyKeys(m, REQUEST_KEYS) &&
    m.jsonrpc === "2.0" &&
    isJsonRpcId(m.id) &&
    isMethod(m.method) &&
    (m.params === undefined || isPlainRecord(m.params))
  );
}

/** `notificationSchema.safeParse(m).success`, by hand. */
export function isNotificationShape(m: Record<string, unknown>): boolean {
  return (
    onlyKeys(m, NOTIFICATION_KEYS) &&
    m.jsonrpc === "2.0" &&
    isMethod(m.method) &&
    (m.params === undefined || isPlainRecord(m.params))
  );
}

/** `responseSchema.safeParse(m).success`, by hand. */
export function isResponseShape(m: Record<string, unknown>): boolean {
  if (m.jsonrpc !== "2.0") return false;
  if (onlyKeys(m, RESULT_KEYS) && isJsonRpcId(m.id) && isPlainRecord(m.result)) return true;
  if (!onlyKeys(m, ERROR_KEYS) || !(m.id === null || isJsonRpcId(m.id))) return false;
  const e = m.error;
  return (
    typeof e === "object" &&
    e !== null &&
    !Array.isArray(e) &&
    Number.isSafeInteger((e as { code?: unknown }).code) &&
    typeof (e as { message?: unknown }).message === "string"
  );
}

/**
 * `toolsCallParams.safeParse(p)` when it succeeds, by hand: the name, and the arguments copied as
 * z.record copies them (undefined when the hand check cannot tell: ask the schema).
 */
export function toolsCallShape(
  p: unknown,
): { name: string; arguments?: Record<string, unknown> } | undefined {
  if (typeof p !== "object" || p === null || Array.isArray(p)) return undefined;
  const { name, arguments: args } = p as { name?: unknown; arguments?: unknown };
  if (typeof name !== "string") return undefined;
  if (args === undefined) return { name };
  return isPlainRecord(args) ? { name, arguments: { ...args } } : undefined;
}

/** The params a schema parse would return: a copy, as z.record copies (prototype and all). */
function paramsCopy(p: unknown): Record<string, unknown> | undefined {
  return p === undefined ? undefined : { ...(p as Record<string, unknown>) };
}

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
      if (!isJsonRpcId(m.id) && !jsonRpcId.safeParse(m.id).success) {
        return deny(
          "MissingId",
          "a request must carry a string or integer id (null and fractions are refused)",
          "",
          INVALID_REQUEST,
        );
      }
      let data: { id: JsonRpcId; method: string; params?: Record<string, unknown> | undefined };
      if (isRequestShape(m))
        data = { id: m.id as JsonRpcId, method: m.method as string, params: paramsCopy(m.params) };
      else {
        const r = requestSchema.safeParse(m);
        if (!r.success) return deny("InvalidJsonRpc", issuesText(r.error), "", INVALID_REQUEST);
        data = r.data;
      }
      if (!CLIENT_REQUESTS[version].has(data.method)) {
        return deny(
          "UnknownMethod",
          `method ${JSON.stringify(data.method.slice(0, 128))} is not a client request in MCP ${version}`,
          "",
          METHOD_NOT_FOUND,
        );
      }
      return { kind: "request", id: data.id, method: data.method, params: data.params };
    }
    // No id: a notification. A method that expects a result sent without an id is refused, not
    // forwarded: some servers answer it with 202 and run nothing, others run it with no reply.
    if (typeof method === "string" && CLIENT_REQUESTS[version].has(method)) {
      return deny("MissingId", `${method} expects a result and must carry an id`, "", INVALID_REQUEST);
    }
    let data: { method: string; params?: Record<string, unknown> | undefined };
    if (isNotificationShape(m)) data = { method: m.method as string, params: paramsCopy(m.params) };
    else {
      const r = notificationSchema.safeParse(m);
      if (!r.success) return deny("InvalidJsonRpc", issuesText(r.error), "", INVALID_REQUEST);
      data = r.data;
    }
    if (!CLIENT_NOTIFICATIONS[version].has(data.method)) {
      return deny(
        "UnknownMethod",
        `notification ${JSON.stringify(data.method.slice(0, 128))} is not a client notification in MCP ${version}`,
        "",
        METHOD_NOT_FOUND,
      );
    }
    return { kind: "notification", method: data.method, params: data.params };
  }
  // A response to a server→client request (sampling, elicitation, roots).
  if (isResponseShape(m)) return { kind: "response", id: m.id as JsonRpcId | null };
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
