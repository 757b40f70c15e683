// The tools of the e2e tool server, defined once: the server lists exactly these definitions and
// the e2e ToolManifest pins them (same name, description and inputSchema, so the gateway's digest
// check passes), plus one tool the manifest does not list (the gateway must hide and refuse it).
import { z } from "zod";

export interface ToolDef {
  name: string;
  description: string;
  inputSchema: Record<string, unknown>;
}

export const SEARCH_TOOL: ToolDef = {
  name: "web_search",
  description: "Search the test index and return the top results.",
  inputSchema: {
    type: "object",
    properties: { query: { type: "string" }, limit: { type: "integer" } },
    required: ["query"],
  },
};

/** Approval-gated in the e2e ToolManifest. */
export const PUBLISH_TOOL: ToolDef = {
  name: "publish_report",
  description: "Publish a report to the shared drive.",
  inputSchema: { type: "object", properties: { title: { type: "string" } }, required: ["title"] },
};

/** Reports the sha256 of the credential it received, never the credential itself. */
export const CREDENTIAL_TOOL: ToolDef = {
  name: "credential_fingerprint",
  description: "Report the sha256 fingerprint of the credential this server received.",
  inputSchema: { type: "object", properties: {} },
};

/** Listed by the server, absent from the ToolManifest: the gateway hides it and refuses calls. */
export const UNLISTED_TOOL: ToolDef = {
  name: "delete_index",
  description: "Delete the whole index.",
  inputSchema: { type: "object", properties: {} },
};

export const SERVED_TOOLS: readonly ToolDef[] = [SEARCH_TOOL, PUBLISH_TOOL, CREDENTIAL_TOOL, UNLISTED_TOOL];

/** The port the tool server listens on (the inbound gateway's upstream); TOOLS_PORT overrides it. */
export const TOOL_SERVER_PORT = 8080;

/**
 * Another catalog for `serve`, as JSON in TOOLS_CATALOG (the demo serves the sample ToolManifest's
 * pinned definitions this way): each tool as the server lists it; a tool with showsCredential
 * answers with the sha256 of the Authorization header it received, so a caller sees that the
 * gateway injected a credential without seeing the credential.
 */
export const catalogSchema = z
  .array(
    z.strictObject({
      name: z.string().min(1).max(128),
      description: z.string().max(4096),
      inputSchema: z.record(z.string(), z.unknown()),
      showsCredential: z.boolean().optional(),
    }),
  )
  .min(1, "TOOLS_CATALOG must list at least one tool");
export type Catalog = z.infer<typeof catalogSchema>;

export function parseCatalog(json: string): Catalog {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (err) {
    throw new Error(`TOOLS_CATALOG is not JSON: ${(err as Error).message}`);
  }
  const r = catalogSchema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new Error(`TOOLS_CATALOG[${i?.path.join(".")}]: ${i?.message}`);
  }
  return r.data;
}
