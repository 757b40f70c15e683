// Pinned tool digests: sha256 of the canonical JSON (keys sorted at every level, no whitespace) of
// {name, description, inputSchema}. The gateway computes the same over what the live server lists
// and hides any tool whose definition drifted (a "rug pull").
import { createHash } from "node:crypto";

/** JSON with object keys sorted recursively and no whitespace; undefined members are dropped. */
export function canonicalJSON(value: unknown): string {
  if (value === null || typeof value !== "object") {
    if (typeof value === "number" && !Number.isFinite(value))
      throw new Error("canonical JSON has no Infinity/NaN");
    return JSON.stringify(value);
  }
  if (Array.isArray(value))
    return `[${value.map((v) => (v === undefined ? "null" : canonicalJSON(v))).join(",")}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJSON(v)}`).join(",")}}`;
}

export function sha256Hex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** `sha256:<hex>` of a tool definition, the form ToolManifest digests are pinned in. */
export function toolDigest(tool: {
  name: string;
  description?: string;
  inputSchema?: Record<string, unknown>;
}): string {
  return `sha256:${sha256Hex(canonicalJSON({ name: tool.name, description: tool.description, inputSchema: tool.inputSchema }))}`;
}
