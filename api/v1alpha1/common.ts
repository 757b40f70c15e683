// Building blocks shared by the three kinds. Everything here must convert to a *structural*
// OpenAPI schema (see scripts/gen-crds.ts): no transforms, refinements, unions of objects or
// z.lazy — cross-field rules go into CEL (`x-kubernetes-validations`) or the webhook.
import * as z from "zod";

export const GROUP = "warden.dev";
export const VERSION = "v1alpha1";
export const API_VERSION = `${GROUP}/${VERSION}`;

/** CEL rules the API server enforces; attached with `.meta(cel(...))`. */
export function cel(...rules: { rule: string; message: string; fieldPath?: string; reason?: string }[]) {
  return { "x-kubernetes-validations": rules };
}

/** Go-style duration ("90s", "15m", "1h30m") — the form CEL's duration() and kubectl users know. */
export const DURATION_PATTERN = "^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$";
export const duration = (what: string) =>
  z
    .string()
    .regex(new RegExp(DURATION_PATTERN), { message: `${what} must be a duration such as 90s, 15m or 1h30m` })
    .max(32);

/** RFC 1123 DNS label: names of Kubernetes objects that become labels or ServiceAccounts. */
export const DNS_LABEL_PATTERN = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
export const dnsLabel = (what: string) =>
  z
    .string()
    .min(1)
    .max(63)
    .regex(new RegExp(DNS_LABEL_PATTERN), {
      message: `${what} must be a DNS label: lower-case letters, digits and '-', starting and ending with a letter or digit`,
    });

/** DNS subdomain (RFC 1123): the names of most Kubernetes objects. */
export const DNS_SUBDOMAIN_PATTERN = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
export const objectName = (what: string) =>
  z
    .string()
    .min(1)
    .max(253)
    .regex(new RegExp(DNS_SUBDOMAIN_PATTERN), {
      message: `${what} must be a Kubernetes object name (lower-case DNS subdomain)`,
    });

/**
 * MCP tool names (MCP 2025-11-25): 1–128 characters from A–Z, a–z, 0–9, '_', '-', '.'.
 * No wildcards: every grant names its tools, so a new tool on a server is never granted silently.
 */
export const TOOL_NAME_PATTERN = "^[A-Za-z0-9_.-]{1,128}$";
export const toolName = z.string().min(1).max(128).regex(new RegExp(TOOL_NAME_PATTERN), {
  message: "a tool name is 1-128 characters of A-Z, a-z, 0-9, '_', '-' or '.' (no spaces, no wildcards)",
});

/** An IPv4 or IPv6 CIDR; the API server's CEL `isCIDR()` does the exact check. */
export const cidr = z
  .string()
  .min(3)
  .max(64)
  .describe("An IPv4 or IPv6 CIDR such as 10.20.0.0/16 or 2001:db8::/32.")
  .meta(cel({ rule: "isCIDR(self)", message: "must be a CIDR such as 10.20.0.0/16" }));

export const port = z.number().int().min(1).max(65535);

export const networkPort = z
  .object({
    port: port.describe("Destination port, 1-65535."),
    protocol: z.enum(["TCP", "UDP", "SCTP"]).default("TCP").describe("Transport protocol. Defaults to TCP."),
  })
  .describe("A destination port.");

export const timestamp = z.iso.datetime({ offset: false });

/** metav1.Condition, field for field. */
export const condition = z
  .object({
    type: z.string().min(1).max(316).describe("Condition type in CamelCase, e.g. Ready or ToolsBound."),
    status: z.enum(["True", "False", "Unknown"]).describe("True, False or Unknown."),
    observedGeneration: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe("The .metadata.generation this condition was computed from."),
    lastTransitionTime: timestamp.describe("When the status last changed."),
    reason: z.string().min(1).max(1024).describe("Machine-readable CamelCase reason."),
    message: z.string().max(32768).describe("What happened and, when it is a problem, how to fix it."),
  })
  .describe("A standard Kubernetes condition (metav1.Condition).");
export type Condition = z.infer<typeof condition>;

export const conditions = z
  .array(condition)
  .max(16)
  .describe("Current state as standard conditions; Ready summarises the others.")
  .meta({ "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"] });

export const objectMeta = z
  .object({
    name: z.string().optional(),
    namespace: z.string().optional(),
    generation: z.number().int().optional(),
    resourceVersion: z.string().optional(),
    uid: z.string().optional(),
    labels: z.record(z.string(), z.string()).optional(),
    annotations: z.record(z.string(), z.string()).optional(),
    creationTimestamp: z.union([z.string(), z.date()]).optional(),
    deletionTimestamp: z.union([z.string(), z.date()]).optional(),
  })
  .passthrough();

/** A reference to an object in the same namespace; `namespace` exists only to be refused clearly. */
export const localRef = (what: string) =>
  z
    .object({
      name: objectName(`${what} name`).describe(`Name of the ${what} in this namespace.`),
      namespace: z
        .string()
        .optional()
        .describe(
          `Must be empty or this object's own namespace: cross-namespace ${what} references are refused so that one team cannot borrow another's grants.`,
        ),
    })
    .describe(`A reference to a ${what} in the same namespace.`);
