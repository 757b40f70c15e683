// Redaction of configured argument fields (at any depth) before arguments reach the audit log.
// The hash of the full arguments is recorded separately, so redaction does not weaken the chain.
import { DEFAULT_AUDIT_REDACT } from "../../api/v1alpha1/sidecar.ts";

/** Defined with the sidecar contract: the injector omits WARDEN_AUDIT_REDACT at this value. */
export const DEFAULT_REDACT_FIELDS: string[] = [...DEFAULT_AUDIT_REDACT];
export const REDACTED = "[REDACTED]";

export function redact(value: unknown, fields: ReadonlySet<string>, depth = 0): unknown {
  if (depth > 32) return REDACTED;
  if (Array.isArray(value)) return value.map((v) => redact(v, fields, depth + 1));
  if (typeof value !== "object" || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = fields.has(k.toLowerCase()) ? REDACTED : redact(v, fields, depth + 1);
  }
  return out;
}

export function redactSet(fields: readonly string[]): ReadonlySet<string> {
  return new Set(fields.map((f) => f.toLowerCase()));
}
