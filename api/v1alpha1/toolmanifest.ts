import * as z from "zod";
import { cel, cidr, conditions, dnsLabel, objectMeta, objectName, port, toolName } from "./common.ts";
import { approval, argumentConstraints, rateLimit, riskClass } from "./constraints.ts";
import { offersSurface, SURFACE_OFFERED_CEL, surfaceFields } from "./surface.ts";

/** The manifest describes nothing an agent could use: what is wrong, and the fix. */
export const DESCRIBES_NOTHING =
  "spec.tools is empty and the manifest offers nothing else: list the server's tools in spec.tools, or set spec.resources, spec.prompts, spec.completion, spec.logging or spec.clientFeatures";

export const DIGEST_PATTERN = "^sha256:[a-f0-9]{64}$";

export const toolDefinition = z
  .object({
    name: toolName.describe("The tool's name as the server lists it in tools/list."),
    description: z.string().max(8192).optional().describe("The tool's description as the server lists it."),
    inputSchema: z
      .record(z.string(), z.unknown())
      .optional()
      .describe("The tool's JSON input schema as the server lists it; used to compute the pinned digest.")
      .meta({ "x-kubernetes-preserve-unknown-fields": true }),
    digest: z
      .string()
      .regex(new RegExp(DIGEST_PATTERN), { message: "digest must be sha256:<64 lower-case hex digits>" })
      .optional()
      .describe(
        "Pinned sha256 of the canonical JSON of {name, description, inputSchema}. A live definition with another digest is hidden and denied. Computed by the operator when description/inputSchema are given.",
      ),
    risk: riskClass.default("Medium"),
    arguments: argumentConstraints.optional(),
    rateLimit: rateLimit.optional(),
    approval: approval.optional(),
  })
  .describe("One tool offered by the server and the rules that apply to every agent calling it.");

export const toolServerLocation = z
  .object({
    serviceAccountName: dnsLabel("server.serviceAccountName")
      .optional()
      .describe(
        "ServiceAccount of the tool-server pods: its SPIFFE ID is the identity the inbound gateway presents.",
      ),
    port: port.describe(
      "Port the tool server's MCP endpoint listens on inside its pod. The webhook-injected inbound gateway forwards to it on 127.0.0.1 and is itself what agents reach, on port 15443 (mTLS only); a pod annotation warden.dev/tool-server-port overrides it. For externalCIDRs servers: the port agents connect to.",
    ),
    podLabels: z
      .record(z.string(), z.string())
      .optional()
      .describe("Labels selecting the tool-server pods; defaults to warden.dev/tool-server=<manifest name>."),
    externalCIDRs: z
      .array(cidr)
      .max(32)
      .optional()
      .describe("For a server outside the cluster: the networks it lives in (egress is allowed by CIDR)."),
  })
  .describe("Where the tool server runs, for NetworkPolicies and mTLS.");

export const credentialRef = z
  .object({
    secretName: objectName("credential.secretName").describe(
      "Secret in this namespace holding the credential.",
    ),
    key: z.string().min(1).max(253).default("token").describe("Key in the Secret. Defaults to token."),
    header: z
      .string()
      .min(1)
      .max(128)
      .regex(/^[A-Za-z0-9-]+$/, { message: "header must be an HTTP header name" })
      .default("Authorization")
      .describe("Header that carries the credential upstream. Defaults to Authorization."),
    scheme: z
      .string()
      .max(32)
      .default("Bearer")
      .describe("Prefix before the credential, e.g. Bearer; empty for none."),
  })
  .describe(
    "The tool server's own credential. The gateway substitutes it upstream; the agent's credentials never leave the pod.",
  );

export const toolManifestSpec = z
  .object({
    endpoint: z
      .string()
      .min(1)
      .max(2048)
      .describe("URL of the MCP endpoint, e.g. https://search-tools.agents.svc:8443/mcp.")
      .meta(
        cel({
          rule: "isURL(self) && (url(self).getScheme() == 'https' || url(self).getScheme() == 'http') && url(self).getHostname() != ''",
          message:
            "endpoint must be an http(s) URL with a host, e.g. https://search-tools.agents.svc:8443/mcp",
        }),
      ),
    transport: z
      .enum(["StreamableHTTP"])
      .default("StreamableHTTP")
      .describe(
        "MCP transport. Only Streamable HTTP is supported (the older HTTP+SSE transport is deprecated).",
      ),
    server: toolServerLocation,
    tools: z
      .array(toolDefinition)
      .max(512)
      .default([])
      .describe(
        "Tools offered by the server, unique by name. Tools not listed here are never granted. May be empty when the server offers something else (resources, prompts, completion, logging or clientFeatures).",
      )
      // A list map keyed by name: the API server refuses duplicates itself ("Duplicate value" at the
      // item's path) at no CEL cost, and server-side apply merges tools by name.
      .meta({ "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"] }),
    ...surfaceFields("manifest"),
    credential: credentialRef.optional(),
    mode: z
      .enum(["Enforce", "DryRun"])
      .default("Enforce")
      .describe(
        "Enforce denies what the policy denies; DryRun records 'would deny' and lets the call through.",
      ),
  })
  .describe(
    "One MCP tool server: where it is, the tools it offers and the rules for calling them, and which of its resources, prompts, completion, logging and requests to agents may be granted.",
  )
  .meta(
    cel({
      rule: `(has(self.tools) && size(self.tools) > 0) || ${SURFACE_OFFERED_CEL}`,
      message: DESCRIBES_NOTHING,
      fieldPath: ".tools",
    }),
  )
  // The same rule for every reader that parses with zod (operator, webhook, CLI), where the API
  // server's CEL does not run: the issue names spec.tools and the fix.
  .superRefine((spec, ctx) => {
    if (spec.tools.length === 0 && !offersSurface(spec))
      ctx.addIssue({ code: "custom", path: ["tools"], message: DESCRIBES_NOTHING });
  });

export const pinnedTool = z
  .object({
    name: z.string().max(128).describe("Tool name."),
    digest: z.string().max(80).optional().describe("Pinned digest in force (from spec or computed)."),
    risk: z.string().max(16).optional().describe("Risk class."),
  })
  .describe("A tool as the operator accepted it.");

export const toolManifestStatus = z
  .object({
    observedGeneration: z.number().int().min(0).optional().describe("The generation the status reflects."),
    tools: z.array(pinnedTool).max(512).optional().describe("Accepted tools and their pinned digests."),
    boundAgents: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe("AgentIdentities that currently reference this manifest."),
    conditions: conditions.optional(),
  })
  .describe("Observed state of the tool manifest, written by the operator.");

export const toolManifest = z.object({
  apiVersion: z.literal("warden.dev/v1alpha1"),
  kind: z.literal("ToolManifest"),
  metadata: objectMeta,
  spec: toolManifestSpec,
  status: toolManifestStatus.optional(),
});

export type ToolDefinition = z.infer<typeof toolDefinition>;
export type ToolManifestSpec = z.infer<typeof toolManifestSpec>;
export type ToolManifestStatus = z.infer<typeof toolManifestStatus>;
export type ToolManifest = z.infer<typeof toolManifest>;
