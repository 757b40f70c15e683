import * as z from "zod";
import { cel, conditions, dnsLabel, duration, localRef, objectMeta, objectName, toolName } from "./common.ts";
import { approval, argumentConstraints, rateLimit } from "./constraints.ts";
import { SURFACE_OFFERED_CEL, surfaceFields } from "./surface.ts";

export const sponsor = z
  .object({
    name: z
      .string()
      .min(1)
      .max(256)
      .describe("The accountable person's user name as your identity provider knows it."),
    email: z
      .string()
      .max(320)
      .regex(/^[^@\s]+@[^@\s]+$/, { message: "email must look like name@example.com" })
      .optional()
      .describe("Where to reach the sponsor."),
    team: z.string().max(256).optional().describe("Owning team, for routing alerts and approvals."),
  })
  .describe("The human who answers for this agent.");

export const toolGrant = z
  .object({
    name: toolName.describe(
      "The tool's name exactly as the tool server lists it; wildcards are not allowed.",
    ),
    arguments: argumentConstraints.optional(),
    rateLimit: rateLimit.optional(),
    maxConcurrent: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .optional()
      .describe("Calls of this tool in flight at once."),
    approval: approval.optional(),
  })
  .describe("One tool granted to the agent, optionally narrowed further than the ToolManifest allows.");

export const grant = z
  .object({
    manifest: localRef("ToolManifest"),
    tools: z
      .array(toolGrant)
      .max(256)
      .default([])
      .describe(
        "The tools of that ToolManifest granted to the agent, unique by name; each must be listed by the manifest.",
      )
      // List map keyed by name: duplicates are refused by the API server without a quadratic CEL rule.
      .meta({ "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"] }),
    ...surfaceFields("grant"),
  })
  .describe(
    "What one ToolManifest's server grants this agent: tools, and optionally resources, prompts, completion, logging and the requests the server may send the agent.",
  )
  .meta(
    cel({
      rule: `(has(self.tools) && size(self.tools) > 0) || ${SURFACE_OFFERED_CEL}`,
      message:
        "a grant must grant something: list tools, or set resources, prompts, completion, logging or clientFeatures",
    }),
  );

export const svidSpec = z
  .object({
    ttl: duration("svid.ttl")
      .default("15m")
      .describe(
        "Lifetime of each X.509-SVID, 5m-24h (default 15m); capped by the enclave's maxSvidTTL and the operator's --svid-max-ttl. Renewed at the configured fraction of the lifetime (default half-life).",
      )
      .meta(
        cel({
          rule: "duration(self) >= duration('5m') && duration(self) <= duration('24h')",
          message: "svid.ttl must be between 5m and 24h",
        }),
      ),
    delivery: z
      .enum(["Issuer", "Secret"])
      .default("Issuer")
      .describe(
        "Issuer (default): the gateway sidecar makes its key in the pod and fetches SVIDs from the issuer. Secret: the operator writes key and SVID into a Secret (weaker: the key passes through the API server).",
      ),
    secretName: objectName("svid.secretName")
      .optional()
      .describe("Secret name for Secret delivery; defaults to <name>-svid."),
    jwtAudiences: z
      .array(z.string().min(1).max(256))
      .max(16)
      .optional()
      .describe("Audiences the agent may request JWT-SVIDs for."),
  })
  .describe("How the agent's SPIFFE identity documents are issued and delivered.");

export const agentIdentitySpec = z
  .object({
    enclave: objectName("enclave").describe("The AgentEnclave in this namespace the agent belongs to."),
    agentType: dnsLabel("agentType").describe(
      "What kind of agent this is (e.g. research-assistant); pods carry it as the warden.dev/agent-type label.",
    ),
    sponsor: sponsor.optional(),
    serviceAccountName: dnsLabel("serviceAccountName")
      .optional()
      .describe("ServiceAccount the operator creates for the agent; defaults to the AgentIdentity's name."),
    grants: z
      .array(grant)
      .max(64)
      .optional()
      .describe(
        "What this agent may use, per ToolManifest: tools, resources, prompts, completion, logging and server requests.",
      ),
    svid: svidSpec.default({ ttl: "15m", delivery: "Issuer" }),
    suspended: z
      .boolean()
      .default(false)
      .describe("Stop issuing SVIDs at once and deny every call; the last SVID dies within one TTL."),
  })
  .describe("One AI agent: its identity, its sponsor and the tools it may call.")
  .meta(
    cel(
      {
        rule: "!has(self.grants) || self.grants.all(g, self.grants.exists_one(h, h.manifest.name == g.manifest.name))",
        message: "each ToolManifest may appear in only one grant",
        fieldPath: ".grants",
      },
      {
        rule: "self.svid.delivery == 'Secret' || !has(self.svid.secretName)",
        message: "svid.secretName is only used with svid.delivery: Secret",
        fieldPath: ".svid.secretName",
      },
    ),
  );

export const issuance = z
  .object({
    serial: z.string().max(128).describe("Serial number (hex) of the last SVID the operator knows of."),
    notAfter: z.iso.datetime({ offset: false }).describe("When that SVID expires."),
    issuedAt: z.iso.datetime({ offset: false }).optional().describe("When it was issued."),
  })
  .describe("The most recent issuance known to the operator (coalesced: not written on every renewal).");

export const agentIdentityStatus = z
  .object({
    observedGeneration: z.number().int().min(0).optional().describe("The generation the status reflects."),
    spiffeID: z
      .string()
      .max(2048)
      .optional()
      .describe("The agent's SPIFFE ID, spiffe://<trust domain>/ns/<ns>/sa/<sa>."),
    serviceAccountName: z.string().max(253).optional().describe("The ServiceAccount made for the agent."),
    effectiveTTL: z
      .string()
      .max(32)
      .optional()
      .describe("SVID TTL in force after the enclave cap and the cluster-wide --svid-max-ttl."),
    policy: z
      .object({
        configMap: z.string().max(253).describe("ConfigMap holding the compiled gateway policy."),
        version: z.string().max(128).describe("Content hash of the compiled policy."),
      })
      .optional()
      .describe("Where the compiled gateway policy for this agent is."),
    lastIssued: issuance.optional(),
    conditions: conditions.optional(),
  })
  .describe("Observed state of the agent identity, written by the operator.");

export const agentIdentity = z.object({
  apiVersion: z.literal("warden.dev/v1alpha1"),
  kind: z.literal("AgentIdentity"),
  metadata: objectMeta,
  spec: agentIdentitySpec,
  status: agentIdentityStatus.optional(),
});

export type Sponsor = z.infer<typeof sponsor>;
export type ToolGrant = z.infer<typeof toolGrant>;
export type Grant = z.infer<typeof grant>;
export type AgentIdentitySpec = z.infer<typeof agentIdentitySpec>;
export type AgentIdentityStatus = z.infer<typeof agentIdentityStatus>;
export type AgentIdentity = z.infer<typeof agentIdentity>;
