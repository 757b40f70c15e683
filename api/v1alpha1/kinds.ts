// Everything about the three kinds that is not their schema: names, short names, printer columns.
// Shared by the CRD generator, the operator's clients and the CLI.
import type * as z from "zod";
import { agentEnclaveSpec, agentEnclaveStatus } from "./enclave.ts";
import { agentIdentitySpec, agentIdentityStatus } from "./identity.ts";
import { toolManifestSpec, toolManifestStatus } from "./toolmanifest.ts";

export interface PrinterColumn {
  name: string;
  type: "string" | "integer" | "number" | "boolean" | "date";
  jsonPath: string;
  description: string;
  priority?: number;
}

export interface KindInfo {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  description: string;
  spec: z.ZodType;
  status: z.ZodType;
  printerColumns: PrinterColumn[];
  /** CEL rules on the whole object (the only place CEL can see metadata.name). */
  objectValidations?: { rule: string; message: string }[];
}

const ready: PrinterColumn = {
  name: "Ready",
  type: "string",
  jsonPath: '.status.conditions[?(@.type=="Ready")].status',
  description: "Whether the operator has made everything this object asks for.",
};
const age: PrinterColumn = {
  name: "Age",
  type: "date",
  jsonPath: ".metadata.creationTimestamp",
  description: "Time since creation.",
};

export const KINDS = {
  AgentEnclave: {
    kind: "AgentEnclave",
    plural: "agentenclaves",
    singular: "agentenclave",
    shortNames: ["enc"],
    description:
      "AgentEnclave is a project boundary in one namespace: default-deny networking, the tool servers and networks agents may reach, SVID lifetime limits and time-bounded exemptions.",
    spec: agentEnclaveSpec,
    status: agentEnclaveStatus,
    printerColumns: [
      ready,
      {
        name: "Agents",
        type: "integer",
        jsonPath: ".status.agents",
        description: "AgentIdentities in the enclave.",
      },
      {
        name: "Max TTL",
        type: "string",
        jsonPath: ".spec.maxSvidTTL",
        description: "Upper bound on SVID TTLs.",
      },
      age,
    ],
  },
  AgentIdentity: {
    kind: "AgentIdentity",
    plural: "agentidentities",
    singular: "agentidentity",
    shortNames: ["aid"],
    description:
      "AgentIdentity is one AI agent: a ServiceAccount and SPIFFE ID of its own, short-lived SVIDs, its sponsor and the tools it may call.",
    spec: agentIdentitySpec,
    status: agentIdentityStatus,
    objectValidations: [
      {
        // Pods carry the name as the warden.dev/agent label value, which is at most 63 characters.
        rule: "self.metadata.name.size() <= 63",
        // No fieldPath: the API server accepts none that points into metadata.
        message:
          "metadata.name of an AgentIdentity is at most 63 characters: pods carry it as the warden.dev/agent label value",
      },
    ],
    printerColumns: [
      {
        name: "Enclave",
        type: "string",
        jsonPath: ".spec.enclave",
        description: "The enclave of the agent.",
      },
      { name: "Type", type: "string", jsonPath: ".spec.agentType", description: "Agent type." },
      ready,
      {
        name: "SPIFFE ID",
        type: "string",
        jsonPath: ".status.spiffeID",
        description: "The agent's SPIFFE ID.",
      },
      {
        name: "Expires",
        // A string, not a date: kubectl renders date columns as time *since*, so every future
        // expiry would print as "<invalid>". The RFC 3339 time reads fine.
        type: "string",
        jsonPath: ".status.lastIssued.notAfter",
        description: "Expiry of the last SVID known to the operator.",
      },
      {
        name: "Suspended",
        type: "boolean",
        jsonPath: ".spec.suspended",
        description: "Issuance stopped.",
        priority: 1,
      },
      age,
    ],
  },
  ToolManifest: {
    kind: "ToolManifest",
    plural: "toolmanifests",
    singular: "toolmanifest",
    shortNames: ["tm"],
    description:
      "ToolManifest describes one MCP tool server: its endpoint, the tools it offers with pinned definitions, argument constraints, risk, approval and the credential the gateway substitutes.",
    spec: toolManifestSpec,
    status: toolManifestStatus,
    printerColumns: [
      { name: "Mode", type: "string", jsonPath: ".spec.mode", description: "Enforce or DryRun." },
      {
        name: "Accepted",
        type: "string",
        jsonPath: '.status.conditions[?(@.type=="Accepted")].status',
        description: "Whether the operator accepted the manifest.",
      },
      {
        name: "Agents",
        type: "integer",
        jsonPath: ".status.boundAgents",
        description: "Agents granted tools here.",
      },
      {
        name: "Endpoint",
        type: "string",
        jsonPath: ".spec.endpoint",
        description: "MCP endpoint.",
        priority: 1,
      },
      age,
    ],
  },
} satisfies Record<string, KindInfo>;

export type KindName = keyof typeof KINDS;
