// Argument constraints, rate limits and approval: shared by ToolManifest tools (what the server
// owner allows anyone) and AgentIdentity grants (what one agent is allowed, always narrower).
import * as z from "zod";
import { cel, duration } from "./common.ts";

export const argumentConstraint = z
  .object({
    argument: z
      .string()
      .min(1)
      .max(256)
      .regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, {
        message: "argument must be a dotted path of names such as query or options.limit",
      })
      .describe(
        "Dotted path of the tool argument this constraint applies to, e.g. `url` or `options.limit`.",
      ),
    required: z.boolean().optional().describe("The argument must be present."),
    type: z
      .enum(["string", "number", "integer", "boolean", "array", "object"])
      .optional()
      .describe("JSON type the argument must have."),
    enum: z
      .array(z.string().max(1024))
      .max(256)
      .optional()
      .describe("The argument, as a string, must equal one of these values."),
    pattern: z
      .string()
      .min(1)
      .max(1024)
      .optional()
      .describe(
        "An ECMAScript regular expression the whole string argument must match (anchored by the gateway).",
      ),
    prefix: z
      .string()
      .min(1)
      .max(1024)
      .optional()
      .describe("The string argument must start with this prefix."),
    minLength: z.number().int().min(0).max(1048576).optional().describe("Minimum string or array length."),
    maxLength: z.number().int().min(0).max(1048576).optional().describe("Maximum string or array length."),
    minimum: z.number().optional().describe("Minimum numeric value (inclusive)."),
    maximum: z.number().optional().describe("Maximum numeric value (inclusive)."),
    hostAllowlist: z
      .array(
        z
          .string()
          .min(1)
          .max(253)
          .regex(/^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, {
            message: "a host is a lower-case DNS name, optionally starting with '*.' for subdomains",
          }),
      )
      .max(256)
      .optional()
      .describe(
        "The argument must be an http(s) URL whose host is one of these; `*.example.com` allows subdomains only.",
      ),
  })
  .describe("A constraint on one tool argument, evaluated by the gateway before the call is forwarded.")
  .meta(
    cel(
      {
        rule: "!has(self.minLength) || !has(self.maxLength) || self.minLength <= self.maxLength",
        message: "minLength must not exceed maxLength",
        fieldPath: ".maxLength",
      },
      {
        rule: "!has(self.minimum) || !has(self.maximum) || self.minimum <= self.maximum",
        message: "minimum must not exceed maximum",
        fieldPath: ".maximum",
      },
    ),
  );
export type ArgumentConstraint = z.infer<typeof argumentConstraint>;

export const argumentConstraints = z
  .array(argumentConstraint)
  .max(64)
  .describe("Constraints on the tool's arguments; all must hold.");

export const rateLimit = z
  .object({
    requests: z.number().int().min(1).max(1000000).describe("Calls allowed per period (at least 1)."),
    period: duration("rateLimit.period")
      .default("1m")
      .describe("The period, as a duration such as 1s, 1m or 1h. Defaults to 1m.")
      .meta(
        cel({
          rule: "duration(self) >= duration('1s') && duration(self) <= duration('24h')",
          message: "period must be between 1s and 24h",
        }),
      ),
    burst: z
      .number()
      .int()
      .min(1)
      .max(1000000)
      .optional()
      .describe("Calls allowed at once before the rate applies; defaults to requests."),
  })
  .describe("A token-bucket rate limit, applied per agent and per tool by the gateway.");

export const approval = z
  .object({
    required: z.boolean().default(false).describe("Hold each call until an approver allows it."),
    timeout: duration("approval.timeout")
      .default("5m")
      .describe("How long a held call waits for a decision; when it passes, the call is denied.")
      .meta(
        cel({
          rule: "duration(self) >= duration('1s') && duration(self) <= duration('1h')",
          message: "timeout must be between 1s and 1h",
        }),
      ),
    approvers: z
      .array(z.string().min(1).max(256))
      .max(64)
      .optional()
      .describe("Who may approve (user names or SPIFFE IDs, as the approval channel authenticates them)."),
  })
  .describe("Human (or bot) approval of individual calls, bound to the exact arguments.");

export const riskClass = z
  .enum(["Low", "Medium", "High", "Critical"])
  .describe(
    "How much harm a misuse of the tool can do. High and Critical tools need an explicit per-agent grant.",
  );
