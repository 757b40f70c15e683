// The MCP surface beyond tools: resources by URI pattern, prompts by name, completion, the logging
// level, and the requests a tool server may send the agent (sampling, elicitation, roots). The
// same shapes serve the ToolManifest (what any agent may ever be granted on that server) and each
// AgentIdentity grant (what one agent is granted, always within the manifest's). The operator
// compiles the two into the gateway policy (operator/controllers/policy.ts); the gateway decides
// each such message against it (gateway/decide/surface.ts). Absent means not granted.
import * as z from "zod";
import { cel } from "./common.ts";

/**
 * A resource URI pattern: `*` alone (any URI), or a literal lower-case scheme then printable
 * ASCII without spaces or backslashes, where `*` matches any run of characters (`/` included).
 * The scheme is literal so a pattern never matches across schemes.
 */
export const URI_PATTERN_PATTERN = "^(\\*|[a-z][a-z0-9+.-]*:[!-\\[\\]-~]*)$";
/**
 * Dot segments, refused in patterns and in URIs: '.' or '..' between separators, counting the
 * ones servers split paths on in practice (';' for path parameters, '=' and '&' in queries).
 */
export const URI_DOT_SEGMENT = "(^|[/?#:;=&])[.]{1,2}([/?#;&]|$)";
/** Percent-encoded '.', '/', '\', '%' or a control character: refused in patterns and in URIs. */
export const URI_ENCODED_FORBIDDEN = "%(2[eEfF]|5[cC]|25|[01][0-9a-fA-F]|7[fF])";

export const uriPattern = z
  .string()
  .min(1)
  // Bounds that keep the CEL rule below within the API server's cost budget (64 grants × 32 patterns).
  .max(256)
  .regex(new RegExp(URI_PATTERN_PATTERN), {
    message:
      "a URI pattern is '*' or a lower-case scheme and ':' followed by printable ASCII without spaces or backslashes, e.g. file:///docs/*",
  })
  .describe(
    "A resource URI pattern: '*' for any URI, or a URI with a literal lower-case scheme in which '*' matches any run of characters ('/' included), e.g. file:///docs/* or https://wiki.example.com/pages/*.",
  )
  .meta(
    cel({
      // One regular expression, not two: the API server's cost estimate counts each matches() over
      // every pattern of every grant.
      rule: `!self.matches('${URI_DOT_SEGMENT}|${URI_ENCODED_FORBIDDEN}')`,
      message:
        "a URI pattern may not contain '.' or '..' path segments or percent-encoded '.', '/', '\\', '%' or control characters; write the canonical URI, e.g. file:///docs/*",
    }),
  );

/** Prompt names: the tool-name alphabet (MCP 2025-11-25). No wildcards: every grant names its prompts. */
export const PROMPT_NAME_PATTERN = "^[A-Za-z0-9_.-]{1,128}$";
export const promptName = z.string().min(1).max(128).regex(new RegExp(PROMPT_NAME_PATTERN), {
  message: "a prompt name is 1-128 characters of A-Z, a-z, 0-9, '_', '-' or '.' (no spaces, no wildcards)",
});

export const resourceGrant = z
  .object({
    uriPatterns: z
      .array(uriPattern)
      .min(1)
      .max(32)
      .describe("resources/read (and subscribe) only for URIs matching one of these patterns.")
      .meta({ "x-kubernetes-list-type": "set" }),
    subscribe: z
      .boolean()
      .default(false)
      .describe("resources/subscribe and resources/unsubscribe for those URIs. Defaults to false."),
  })
  .describe(
    "Resources: resources/list and resources/templates/list, and resources/read for URIs matching uriPatterns.",
  );

export const clientFeatures = z
  .object({
    sampling: z
      .boolean()
      .default(false)
      .describe(
        "sampling/createMessage: the tool server may ask the agent's model for a completion (also as a task, then poll that task with tasks/*).",
      ),
    elicitation: z
      .boolean()
      .default(false)
      .describe(
        "elicitation/create: the tool server may ask the agent (or its user) for input (also as a task, then poll that task with tasks/*).",
      ),
    roots: z.boolean().default(false).describe("roots/list: the tool server may ask for the agent's roots."),
  })
  .describe(
    "Requests the tool server may send the agent (MCP client features). Anything not true here is refused by the gateway before it reaches the agent; ping is always allowed.",
  );

/** The surface fields shared by a ToolManifest spec and an AgentIdentity grant. */
export function surfaceFields(whose: "manifest" | "grant") {
  const scope =
    whose === "manifest"
      ? "What agents may be granted on this server; each AgentIdentity grant picks within it."
      : "Granted to this agent; must lie within what the ToolManifest allows.";
  return {
    resources: resourceGrant.optional().describe(`Resources by URI pattern. ${scope}`),
    prompts: z
      .array(promptName)
      .max(256)
      .optional()
      .describe(`prompts/list, and prompts/get for these prompt names. ${scope}`)
      .meta({ "x-kubernetes-list-type": "set" }),
    completion: z
      .boolean()
      .optional()
      .describe(`completion/complete, for granted prompts and resources only. ${scope} Absent means false.`),
    logging: z
      .boolean()
      .optional()
      .describe(`logging/setLevel: the agent may set the server's log level. ${scope} Absent means false.`),
    clientFeatures: clientFeatures.optional(),
  };
}

export type ResourceGrant = z.infer<typeof resourceGrant>;
export type ClientFeatures = z.infer<typeof clientFeatures>;

/** CEL: the object (a manifest spec or a grant) offers some of the surface beyond tools. */
export const SURFACE_OFFERED_CEL =
  "has(self.resources) || (has(self.prompts) && size(self.prompts) > 0) || (has(self.completion) && self.completion) || (has(self.logging) && self.logging) || (has(self.clientFeatures) && ((has(self.clientFeatures.sampling) && self.clientFeatures.sampling) || (has(self.clientFeatures.elicitation) && self.clientFeatures.elicitation) || (has(self.clientFeatures.roots) && self.clientFeatures.roots)))";

/** The same rule as SURFACE_OFFERED_CEL, for a parsed manifest spec or grant. */
export function offersSurface(x: {
  resources?: unknown;
  prompts?: readonly string[] | undefined;
  completion?: boolean | undefined;
  logging?: boolean | undefined;
  clientFeatures?: { sampling?: boolean; elicitation?: boolean; roots?: boolean } | undefined;
}): boolean {
  const f = x.clientFeatures;
  return (
    x.resources !== undefined ||
    (x.prompts?.length ?? 0) > 0 ||
    x.completion === true ||
    x.logging === true ||
    f?.sampling === true ||
    f?.elicitation === true ||
    f?.roots === true
  );
}
