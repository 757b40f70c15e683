// Canonical JSON and tool-definition digests. The operator pins `sha256:<hex>` digests of each
// tool's {name, description, inputSchema}; the gateway recomputes them from live tools/list
// results. Both sides MUST use these functions so the bytes hashed are identical.
//
// Canonical form (RFC 8785 style, sufficient for JSON produced by JSON.parse): object keys sorted
// by UTF-16 code units, no whitespace, strings and numbers as JSON.stringify writes them, keys
// whose value is `undefined` omitted. Non-finite numbers cannot occur in parsed JSON and are refused.
import { createHash } from "node:crypto";

export function canonicalJson(value: unknown): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "string":
    case "boolean":
      return JSON.stringify(value);
    case "number":
      if (!Number.isFinite(value)) throw new TypeError("canonicalJson: non-finite number");
      return JSON.stringify(value);
    case "object": {
      if (Array.isArray(value))
        return `[${value.map((v) => (v === undefined ? "null" : canonicalJson(v))).join(",")}]`;
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj)
        .filter((k) => obj[k] !== undefined)
        .sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(",")}}`;
    }
    default:
      throw new TypeError(`canonicalJson: cannot encode a ${typeof value}`);
  }
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** The part of a tool definition that is pinned. Other fields (title, annotations) are not. */
export interface PinnedDefinition {
  name: string;
  description?: string | undefined;
  inputSchema?: unknown;
}

/** `sha256:<64 hex>` over canonical JSON of {name, description, inputSchema}. */
export function toolDigest(def: PinnedDefinition): string {
  return `sha256:${sha256Hex(canonicalJson({ name: def.name, description: def.description, inputSchema: def.inputSchema }))}`;
}

/** Hash of a tool call's arguments: what audit records and approvals are bound to. */
export function argsHash(args: unknown): string {
  return `sha256:${sha256Hex(canonicalJson(args ?? {}))}`;
}
