// Grants for the MCP surface beyond tools: resources by URI pattern, prompts by name, completion,
// logging level, and the server→client requests (sampling, elicitation, roots). Pure functions of
// the compiled server and the message; a method whose grant is absent is refused with the rule
// naming what to grant.
import type { CompiledServer } from "../../api/v1alpha1/policy.ts";
import { type Deny, deny, INVALID_REQUEST } from "./deny.ts";

/** `*` matches any run of characters; everything else literally. */
export function wildcardMatch(pattern: string, value: string): boolean {
  const parts = pattern.split("*");
  if (parts.length === 1) return pattern === value;
  if (!value.startsWith(parts[0]!) || !value.endsWith(parts.at(-1)!)) return false;
  let at = parts[0]!.length;
  const end = value.length - parts.at(-1)!.length;
  for (const mid of parts.slice(1, -1)) {
    const i = value.indexOf(mid, at);
    if (i === -1 || i + mid.length > end) return false;
    at = i + mid.length;
  }
  return at <= end;
}

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
    return server.resources ? null : notGranted("no resources are granted", "grant resources by URI pattern");
  if (RESOURCE_BY_URI.has(method)) {
    if (!server.resources) return notGranted("no resources are granted", "grant resources by URI pattern");
    const uri = params?.uri;
    if (typeof uri !== "string")
      return deny("InvalidJsonRpc", `${method} needs params.uri (a string)`, m, INVALID_REQUEST);
    if (method !== "resources/read" && !server.resources.subscribe)
      return deny("ResourceNotGranted", `subscriptions are not granted (resources.subscribe is false)`, m);
    if (!server.resources.uriPatterns.some((p) => wildcardMatch(p, uri)))
      return deny(
        "ResourceNotGranted",
        `resource ${JSON.stringify(uri.slice(0, 256))} matches no granted URI pattern (${server.resources.uriPatterns.join(", ")})`,
        m,
      );
    return null;
  }
  if (method === "prompts/list")
    return server.prompts ? null : notGranted("no prompts are granted", "grant prompts by name");
  if (method === "prompts/get") {
    if (!server.prompts) return notGranted("no prompts are granted", "grant prompts by name");
    const name = params?.name;
    if (typeof name !== "string")
      return deny("InvalidJsonRpc", "prompts/get needs params.name (a string)", m, INVALID_REQUEST);
    return server.prompts.some((p) => wildcardMatch(p, name))
      ? null
      : deny("PromptNotGranted", `prompt ${JSON.stringify(name.slice(0, 128))} is not granted`, m);
  }
  if (method === "completion/complete")
    return server.completion ? null : notGranted("completion is not granted", "set completion: true");
  if (method === "logging/setLevel")
    return server.logging ? null : notGranted("the logging level is not granted", "set logging: true");
  return undefined;
}

const SERVER_REQUEST_FEATURE: Record<string, "sampling" | "elicitation" | "roots"> = {
  "sampling/createMessage": "sampling",
  "elicitation/create": "elicitation",
  "roots/list": "roots",
};

/** Whether a server→client request may reach the agent under this server's grants. */
export function serverRequestGranted(server: CompiledServer | undefined, method: string): boolean {
  if (method === "ping") return true;
  const feature = SERVER_REQUEST_FEATURE[method];
  return feature !== undefined && server?.clientFeatures?.[feature] === true;
}
