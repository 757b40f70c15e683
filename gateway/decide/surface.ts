// Grants for the MCP surface beyond tools: resources by URI pattern, prompts by name, completion,
// logging level, and the server→client requests (sampling, elicitation, roots). Pure functions of
// the compiled server and the message; a method whose grant is absent is refused with the rule
// naming what to grant.
import type { CompiledServer } from "../../api/v1alpha1/policy.ts";
import { uriMatches, uriProblem, wildcardMatch } from "../../lib/uri-pattern.ts";
import { type Deny, deny, INVALID_REQUEST } from "./deny.ts";
import type { TaskToken } from "./tasktoken.ts";

/**
 * Characters a prompt name must not carry: controls, format characters (zero-width, bidi
 * overrides), line/paragraph separators. A server that strips or normalizes them would answer for
 * another prompt than the one the policy saw.
 */
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;

/** Why a requested prompt name is refused before matching, or undefined. */
function promptNameProblem(name: string): string | undefined {
  if (name.length === 0 || name.length > 1024) return "must be 1-1024 characters";
  if (INVISIBLE.test(name)) return "contains a control, format or separator character";
  if (name.normalize("NFC") !== name) return "is not in Unicode NFC form";
  return undefined;
}

/** Where the grant goes: the agent's grant, within what the ToolManifest allows. */
const FIX = {
  resources:
    "add resources.uriPatterns to this ToolManifest's grant in the AgentIdentity (within the ToolManifest's spec.resources)",
  subscribe: "set resources.subscribe: true in the grant (and in the ToolManifest's spec.resources)",
  prompts: "add the prompt to prompts in the grant (and in the ToolManifest's spec.prompts)",
  completion: "set completion: true in the grant (and in the ToolManifest's spec)",
  logging: "set logging: true in the grant (and in the ToolManifest's spec)",
};

const RESOURCE_LISTS = new Set(["resources/list", "resources/templates/list"]);
const RESOURCE_BY_URI = new Set(["resources/read", "resources/subscribe", "resources/unsubscribe"]);

/** Undefined when `method` is not a surface method; else the refusal or null (granted). */
export function surfaceDecision(
  server: CompiledServer,
  method: string,
  params: Record<string, unknown> | undefined,
): Deny | null | undefined {
  const m = server.manifest;
  const notGranted = (what: string, fix: string) =>
    deny("MethodNotGranted", `${method} is not granted: ${what}; ${fix}`, m);
  if (RESOURCE_LISTS.has(method))
    return server.resources ? null : notGranted("no resources are granted", FIX.resources);
  if (RESOURCE_BY_URI.has(method)) {
    if (!server.resources) return notGranted("no resources are granted", FIX.resources);
    const uri = params?.uri;
    if (typeof uri !== "string")
      return deny("InvalidJsonRpc", `${method} needs params.uri (a string)`, m, INVALID_REQUEST);
    if (method !== "resources/read" && !server.resources.subscribe)
      return deny("ResourceNotGranted", `subscriptions are not granted; ${FIX.subscribe}`, m);
    const bad = uriProblem(uri);
    if (bad)
      return deny(
        "ResourceNotGranted",
        `resource URI ${JSON.stringify(uri.slice(0, 256))} ${bad}; only canonical URIs are matched against the granted patterns`,
        m,
      );
    if (!server.resources.uriPatterns.some((p) => uriMatches(p, uri)))
      return deny(
        "ResourceNotGranted",
        `resource ${JSON.stringify(uri.slice(0, 256))} matches no granted URI pattern (${server.resources.uriPatterns.join(", ")}); ${FIX.resources}`,
        m,
      );
    return null;
  }
  if (method === "prompts/list")
    return server.prompts ? null : notGranted("no prompts are granted", FIX.prompts);
  if (method === "prompts/get") {
    if (!server.prompts) return notGranted("no prompts are granted", FIX.prompts);
    const name = params?.name;
    if (typeof name !== "string")
      return deny("InvalidJsonRpc", "prompts/get needs params.name (a string)", m, INVALID_REQUEST);
    return promptGranted(server, name, m);
  }
  if (method === "completion/complete") {
    if (!server.completion) return notGranted("completion is not granted", FIX.completion);
    return completionRefDecision(server, params?.ref, m);
  }
  if (method === "logging/setLevel")
    return server.logging ? null : notGranted("the logging level is not granted", FIX.logging);
  return undefined;
}

function promptGranted(server: CompiledServer, name: string, m: string): Deny | null {
  const bad = promptNameProblem(name);
  if (bad)
    return deny(
      "PromptNotGranted",
      `prompt name ${JSON.stringify(name.slice(0, 128))} ${bad}; only names exactly as granted are matched (granted: ${(server.prompts ?? []).join(", ") || "none"})`,
      m,
    );
  return server.prompts?.some((p) => wildcardMatch(p, name))
    ? null
    : deny(
        "PromptNotGranted",
        `prompt ${JSON.stringify(name.slice(0, 128))} is not granted (granted: ${(server.prompts ?? []).join(", ") || "none"}); ${FIX.prompts}`,
        m,
      );
}

/**
 * Completion is for a prompt's or a resource template's arguments: granted only for prompts and
 * URIs the agent may use, or it would enumerate what it may not read.
 */
function completionRefDecision(server: CompiledServer, ref: unknown, m: string): Deny | null {
  const r = (typeof ref === "object" && ref !== null ? ref : {}) as Record<string, unknown>;
  if (r.type === "ref/prompt" && typeof r.name === "string") {
    if (!server.prompts)
      return deny("PromptNotGranted", "completion for a prompt: no prompts are granted", m);
    return promptGranted(server, r.name, m);
  }
  if (r.type === "ref/resource" && typeof r.uri === "string") {
    if (!server.resources)
      return deny("ResourceNotGranted", "completion for a resource: no resources are granted", m);
    // A template URI ({var} placeholders) is matched as written; it passes the same shape check.
    const bad = uriProblem(r.uri);
    if (bad) return deny("ResourceNotGranted", `completion ref.uri ${bad}`, m);
    return server.resources.uriPatterns.some((p) => uriMatches(p, r.uri as string))
      ? null
      : deny(
          "ResourceNotGranted",
          `completion for resource ${JSON.stringify(r.uri.slice(0, 256))}: it matches no granted URI pattern; ${FIX.resources}`,
          m,
        );
  }
  return deny(
    "InvalidJsonRpc",
    "completion/complete needs params.ref: {type: 'ref/prompt', name} or {type: 'ref/resource', uri}",
    m,
    INVALID_REQUEST,
  );
}

/**
 * A resources/list, resources/templates/list or prompts/list result narrowed to what the grant
 * allows: an agent sees the resources (canonical URIs matching a granted pattern), templates and
 * prompts it may use, like tools/list shows only granted tools. Undefined: not such a list.
 */
export function filterSurfaceList(
  method: string,
  result: Record<string, unknown>,
  server: CompiledServer,
): Record<string, unknown> | undefined {
  const keep = (key: string, ok: (item: Record<string, unknown>) => boolean) => {
    const items = Array.isArray(result[key]) ? (result[key] as unknown[]) : undefined;
    if (!items) return undefined;
    const kept = items.filter((i) => typeof i === "object" && i !== null && ok(i as Record<string, unknown>));
    return { ...result, [key]: kept };
  };
  const uriGranted = (uri: unknown) =>
    typeof uri === "string" &&
    uriProblem(uri) === undefined &&
    (server.resources?.uriPatterns ?? []).some((p) => uriMatches(p, uri));
  if (method === "resources/list") return keep("resources", (r) => uriGranted(r.uri));
  if (method === "resources/templates/list")
    return keep("resourceTemplates", (t) => uriGranted(t.uriTemplate));
  if (method === "prompts/list")
    return keep("prompts", (p) => typeof p.name === "string" && promptGranted(server, p.name, "") === null);
  return undefined;
}

const SERVER_REQUEST_FEATURE: Record<string, "sampling" | "elicitation" | "roots"> = {
  "sampling/createMessage": "sampling",
  "elicitation/create": "elicitation",
  "roots/list": "roots",
};

/**
 * Server→client task requests: a server asks the agent about client-side tasks, which exist only
 * as answers to task-augmented sampling or elicitation requests. Granted with either feature, and
 * then each passes only for a task of the same session (outbound/client-tasks.ts).
 */
const CLIENT_TASK_REQUESTS = new Set(["tasks/get", "tasks/result", "tasks/list", "tasks/cancel"]);

/** Whether a server→client request may reach the agent under this server's grants. */
export function serverRequestGranted(server: CompiledServer | undefined, method: string): boolean {
  if (method === "ping") return true;
  if (CLIENT_TASK_REQUESTS.has(method))
    return server?.clientFeatures?.sampling === true || server?.clientFeatures?.elicitation === true;
  const feature = Object.hasOwn(SERVER_REQUEST_FEATURE, method) ? SERVER_REQUEST_FEATURE[method] : undefined;
  return feature !== undefined && server?.clientFeatures?.[feature] === true;
}

/** The server→client requests a grant can allow (each still decided by serverRequestGranted). */
export const GRANTABLE_SERVER_REQUESTS: readonly string[] = [
  "ping",
  ...Object.keys(SERVER_REQUEST_FEATURE),
  ...CLIENT_TASK_REQUESTS,
];

/**
 * Surface methods that use a resource or a prompt: a task token governs them like tool calls
 * (required when the policy requires one; when present, the effective grant is the policy's ∩ the
 * token's). Lists and the logging level are discovery and housekeeping, like tools/list.
 */
export const TASK_SCOPED_METHODS: ReadonlySet<string> = new Set([
  "resources/read",
  "resources/subscribe",
  "resources/unsubscribe",
  "prompts/get",
  "completion/complete",
]);

/**
 * For a task-scoped method the policy already granted: whether task `t` allows it too. What the
 * token does not list, the task may not use (fail closed): a token without allowed_resources
 * allows no resource.
 */
export function taskSurfaceDecision(
  t: TaskToken,
  method: string,
  params: Record<string, unknown> | undefined,
  m: string,
): Deny | null {
  const narrowed = (what: string, claim: string, allowed: readonly string[]) =>
    deny(
      "TaskTokenNarrowed",
      `task ${t.taskId} does not allow ${what} (${claim}: ${allowed.join(", ") || "none"}); the orchestrator mints the token with ${claim}`,
      m,
    );
  const resource = (uri: string) =>
    t.allowedResources.some((p) => uriMatches(p, uri))
      ? null
      : narrowed(`resource ${JSON.stringify(uri.slice(0, 256))}`, "allowed_resources", t.allowedResources);
  const prompt = (name: string) =>
    t.allowedPrompts.includes(name)
      ? null
      : narrowed(`prompt ${JSON.stringify(name.slice(0, 128))}`, "allowed_prompts", t.allowedPrompts);
  // The policy's decision ran first, so the shapes below were checked there.
  if (method === "prompts/get") return prompt(String(params?.name));
  if (method === "completion/complete") {
    const ref = (params?.ref ?? {}) as Record<string, unknown>;
    return ref.type === "ref/prompt" ? prompt(String(ref.name)) : resource(String(ref.uri));
  }
  return resource(String(params?.uri));
}
