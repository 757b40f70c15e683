// The one tool-definition digest: `sha256:<hex>` of the canonical JSON of {name, description,
// inputSchema}. The operator pins it in ToolManifest status and compiled policies; the gateway
// recomputes it over what the live server lists and hides any tool whose definition drifted (a
// "rug pull"). Both import this function, so the bytes hashed cannot diverge.
import { hash } from "node:crypto";
import { canonicalJSON } from "./canonical-json.ts";

/**
 * Hex sha256 of a UTF-8 string or bytes. The one-shot `crypto.hash` makes no Hash object: the
 * gateway takes several per call (each audit record, each call's arguments).
 */
export function sha256Hex(data: string | Uint8Array): string {
  return hash("sha256", data, "hex");
}

/** The part of a tool definition that is pinned. Other fields (title, annotations) are not. */
export interface PinnedDefinition {
  name: string;
  description?: string | undefined;
  inputSchema?: unknown;
}

/** `sha256:<64 hex>` over canonical JSON of {name, description, inputSchema}. */
export function toolDigest(def: PinnedDefinition): string {
  return `sha256:${sha256Hex(canonicalJSON({ description: def.description, inputSchema: def.inputSchema, name: def.name }))}`;
}
