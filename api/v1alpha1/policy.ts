// The compiled gateway policy: one document per agent, written by the operator into a ConfigMap,
// mounted read-only into the gateway sidecar (the gateway never talks to the Kubernetes API).
// The gateway validates it with this schema and fails closed when it does not parse.
import * as z from "zod";
import { argumentConstraint } from "./constraints.ts";

export const POLICY_API_VERSION = "warden.dev/v1alpha1";
export const POLICY_KIND = "GatewayPolicy";
export const POLICY_FILE = "policy.json";

export const compiledRateLimit = z.object({
  requests: z.number().int().min(1),
  periodSeconds: z.number().positive(),
  burst: z.number().int().min(1),
});

export const compiledTool = z.object({
  name: z.string(),
  /** Pinned digest; when present, a live definition with another digest is hidden and denied. */
  digest: z.string().optional(),
  risk: z.enum(["Low", "Medium", "High", "Critical"]),
  /** Manifest constraints and the agent's own, concatenated: all must hold. */
  arguments: z.array(argumentConstraint),
  rateLimit: compiledRateLimit.optional(),
  maxConcurrent: z.number().int().min(1).optional(),
  approval: z
    .object({ required: z.boolean(), timeoutSeconds: z.number().positive(), approvers: z.array(z.string()) })
    .optional(),
});

export const compiledServer = z.object({
  /** ToolManifest name: the route key (/servers/<manifest>/mcp on the outbound gateway). */
  manifest: z.string(),
  endpoint: z.string(),
  mode: z.enum(["Enforce", "DryRun"]),
  /** SPIFFE ID the upstream (inbound gateway) must present, when known. */
  serverSpiffeID: z.string().optional(),
  credential: z
    .object({ secretName: z.string(), key: z.string(), header: z.string(), scheme: z.string() })
    .optional(),
  tools: z.array(compiledTool),
  /**
   * The rest of the MCP surface, granted per server (absent = not granted). URI patterns and
   * prompt names use `*` as a wildcard (any run of characters, `/` included).
   */
  resources: z
    .object({
      /** resources/read (and subscribe) only for URIs matching one of these. */
      uriPatterns: z.array(z.string().min(1)),
      /** resources/subscribe and resources/unsubscribe. */
      subscribe: z.boolean().default(false),
    })
    .optional(),
  /** prompts/get only for these prompt names. */
  prompts: z.array(z.string().min(1)).optional(),
  /** completion/complete. */
  completion: z.boolean().optional(),
  /** logging/setLevel. */
  logging: z.boolean().optional(),
  /** Server→client requests the agent may be asked (absent or false: refused by the gateway). */
  clientFeatures: z
    .object({
      sampling: z.boolean().default(false),
      elicitation: z.boolean().default(false),
      roots: z.boolean().default(false),
    })
    .optional(),
});

export const gatewayPolicy = z.object({
  apiVersion: z.literal(POLICY_API_VERSION),
  kind: z.literal(POLICY_KIND),
  /** Content hash of everything below; changes whenever the effective policy changes. */
  version: z.string(),
  agent: z.object({
    name: z.string(),
    namespace: z.string(),
    spiffeID: z.string(),
    suspended: z.boolean(),
    /**
     * Set when the operator refuses the identity (e.g. DuplicateSpiffeID, EnclaveNotFound): the
     * policy is then rewritten to deny everything (suspended, no servers) and this says why.
     */
    refused: z.object({ reason: z.string(), message: z.string() }).optional(),
  }),
  taskTokens: z.object({
    required: z.boolean(),
    issuers: z.array(
      z.object({ issuer: z.string(), jwks: z.object({ keys: z.array(z.record(z.string(), z.unknown())) }) }),
    ),
  }),
  servers: z.array(compiledServer),
});

/** What the inbound gateway in front of one tool server reads: which callers it admits. */
export const inboundPolicy = z.object({
  apiVersion: z.literal(POLICY_API_VERSION),
  kind: z.literal("InboundPolicy"),
  version: z.string(),
  manifest: z.string(),
  namespace: z.string(),
  allowedCallers: z.array(z.string()),
});

export type CompiledTool = z.infer<typeof compiledTool>;
export type CompiledServer = z.infer<typeof compiledServer>;
export type GatewayPolicy = z.infer<typeof gatewayPolicy>;
export type InboundPolicy = z.infer<typeof inboundPolicy>;
