import * as z from "zod";
import { cel, cidr, conditions, dnsLabel, duration, networkPort, objectMeta, objectName } from "./common.ts";
import { MAX_EXEMPTION_LIFETIME, UNWAIVABLE_RULE_IDS } from "./exemptions.ts";

const unwaivableList = `[${UNWAIVABLE_RULE_IDS.map((r) => `'${r}'`).join(", ")}]`;

export const egressRule = z
  .object({
    cidr: cidr.describe("Destination network, e.g. 203.0.113.0/24."),
    except: z.array(cidr).max(32).optional().describe("Sub-ranges of cidr that stay blocked."),
    ports: z
      .array(networkPort)
      .max(32)
      .optional()
      .describe("Destination ports; empty means every port (prefer listing them)."),
    description: z.string().max(256).optional().describe("Why this egress is allowed."),
  })
  .describe("Egress from the enclave's agents to a network outside the cluster.");

export const taskTokenIssuer = z
  .object({
    issuer: z
      .string()
      .min(1)
      .max(512)
      .describe("The `iss` claim of task tokens from this issuer, e.g. https://orchestrator.example.com."),
    jwksConfigMap: objectName("jwksConfigMap").describe(
      "ConfigMap in this namespace whose `jwks.json` key holds the issuer's public keys (ES256).",
    ),
  })
  .describe("An issuer of task tokens (per-task narrowing of an agent's grants) that this enclave trusts.");

export const exemption = z
  .object({
    name: dnsLabel("exemption name").describe(
      "Short name, unique within the enclave, shown in audit and warnings.",
    ),
    rules: z
      .array(
        z
          .string()
          .min(1)
          .max(128)
          .regex(/^[a-z][a-zA-Z0-9.-]*$/, { message: "a rule id looks like pod.readOnlyRootFilesystem" }),
      )
      .max(32)
      .optional()
      .describe(
        `Admission rule ids to waive (as \`warden check\` names them, e.g. container.readOnlyRootFilesystem). These can never be waived: ${UNWAIVABLE_RULE_IDS.join(", ")}.`,
      )
      .meta(
        cel({
          rule: `self.all(r, !(r in ${unwaivableList}))`,
          message: `exemptions cannot waive the gateway's presence and integrity, the issuer-token and SVID rules, suspension or identity labels (${UNWAIVABLE_RULE_IDS.join(", ")})`,
        }),
      ),
    egress: z
      .array(egressRule)
      .max(16)
      .optional()
      .describe("Extra egress allowed while the exemption lasts."),
    agents: z
      .array(objectName("agent"))
      .max(256)
      .optional()
      .describe("AgentIdentity names the exemption applies to; empty means every agent in the enclave."),
    startsAt: z.iso
      .datetime({ offset: false })
      .describe(
        `RFC 3339 UTC time from which the exemption applies. Required: with expiresAt it bounds the exemption's life to at most ${MAX_EXEMPTION_LIFETIME} (30 days).`,
      ),
    expiresAt: z.iso
      .datetime({ offset: false })
      .describe(
        `RFC 3339 UTC time after which the exemption no longer applies, at most ${MAX_EXEMPTION_LIFETIME} (30 days) after startsAt. Required: exemptions are temporary.`,
      ),
    reason: z
      .string()
      .min(10)
      .max(1024)
      .describe("Why the exemption is needed (at least 10 characters), for reviewers and the audit trail."),
    approvedBy: z.string().max(256).optional().describe("Who approved the exemption."),
  })
  .describe("A time-bounded waiver of admission rules or an extra egress allowance.")
  .meta(
    cel(
      {
        rule: "(has(self.rules) && size(self.rules) > 0) || (has(self.egress) && size(self.egress) > 0)",
        message: "an exemption must waive at least one rule or allow at least one egress",
      },
      {
        // date-time strings are CEL timestamps in the API server: compared and subtracted directly.
        rule: "self.startsAt < self.expiresAt",
        message: "expiresAt must be after startsAt",
        fieldPath: ".expiresAt",
      },
      {
        rule: `self.expiresAt - self.startsAt <= duration('${MAX_EXEMPTION_LIFETIME}')`,
        message: `an exemption lasts at most ${MAX_EXEMPTION_LIFETIME} (30 days) from startsAt to expiresAt; renew it explicitly when it must go on`,
        fieldPath: ".expiresAt",
      },
    ),
  );

export const agentEnclaveSpec = z
  .object({
    toolServers: z
      .array(objectName("toolServer"))
      .max(256)
      .optional()
      .describe(
        "ToolManifest names in this namespace that agents of the enclave may reach; nothing else is reachable.",
      ),
    egress: z.array(egressRule).max(64).optional().describe("Networks outside the cluster agents may reach."),
    maxSvidTTL: duration("maxSvidTTL")
      .default("1h")
      .describe("Upper bound on any agent's SVID TTL in this enclave (5m-24h). Defaults to 1h.")
      .meta(
        cel({
          rule: "duration(self) >= duration('5m') && duration(self) <= duration('24h')",
          message: "maxSvidTTL must be between 5m and 24h",
        }),
      ),
    requireSponsor: z
      .boolean()
      .default(false)
      .describe("Every AgentIdentity in the enclave must name a sponsor (the accountable human)."),
    taskTokenIssuers: z
      .array(taskTokenIssuer)
      .max(16)
      .optional()
      .describe("Issuers of task tokens that the gateways of this enclave accept."),
    requireTaskToken: z
      .boolean()
      .default(false)
      .describe(
        "Every tool call, resource read or subscription, prompt get and completion must carry a task token from a trusted issuer.",
      ),
    exemptions: z
      .array(exemption)
      .max(64)
      .optional()
      .describe("Time-bounded waivers, unique by name; each needs expiresAt and reason.")
      .meta({ "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"] }),
  })
  .describe(
    "The boundary of one project in one namespace: what its agents may reach and how long identities live.",
  )
  .meta(
    cel({
      rule: "!self.requireTaskToken || (has(self.taskTokenIssuers) && size(self.taskTokenIssuers) > 0)",
      message: "requireTaskToken: true needs at least one taskTokenIssuers entry",
      fieldPath: ".taskTokenIssuers",
    }),
  );

export const agentEnclaveStatus = z
  .object({
    observedGeneration: z.number().int().min(0).optional().describe("The generation the status reflects."),
    conditions: conditions.optional(),
    networkPolicies: z
      .array(z.string())
      .max(64)
      .optional()
      .describe("NetworkPolicies the operator keeps for the enclave."),
    activeExemptions: z.array(z.string()).max(64).optional().describe("Exemptions in force now."),
    agents: z.number().int().min(0).optional().describe("AgentIdentities in the enclave."),
  })
  .describe("Observed state of the enclave, written by the operator.");

export const agentEnclave = z.object({
  apiVersion: z.literal("warden.dev/v1alpha1"),
  kind: z.literal("AgentEnclave"),
  metadata: objectMeta,
  spec: agentEnclaveSpec,
  status: agentEnclaveStatus.optional(),
});

export type EgressRule = z.infer<typeof egressRule>;
export type Exemption = z.infer<typeof exemption>;
export type AgentEnclaveSpec = z.infer<typeof agentEnclaveSpec>;
export type AgentEnclaveStatus = z.infer<typeof agentEnclaveStatus>;
export type AgentEnclave = z.infer<typeof agentEnclave>;
