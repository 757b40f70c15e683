// Digests the gateway takes: tool definitions (the project-wide toolDigest, re-exported so the
// gateway's imports stay local) and the hash of a call's arguments that audit records and
// approvals are bound to. The canonical JSON is the project's one function (lib/canonical-json.ts).
import { canonicalJSON } from "../../lib/canonical-json.ts";
import { sha256Hex } from "../../lib/tool-digest.ts";

/** The project's canonicalJSON under the gateway's older name (one function, two spellings). */
export { canonicalJSON, canonicalJSON as canonicalJson } from "../../lib/canonical-json.ts";
export { type PinnedDefinition, sha256Hex, toolDigest } from "../../lib/tool-digest.ts";

/** Hash of a tool call's arguments: what audit records and approvals are bound to. */
export function argsHash(args: unknown): string {
  return `sha256:${sha256Hex(canonicalJSON(args ?? {}))}`;
}
