// The demo's MCP tool server: the official SDK's low-level Server over Streamable HTTP on
// 127.0.0.1. It lists the tools exactly as manifests/samples/20-toolmanifest-search-tools.yaml pins
// them (same description and inputSchema, so the gateway's digest check passes) plus one tool the
// manifest does not list, which the outbound gateway must hide and refuse.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { CallToolRequestSchema, ListToolsRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import YAML from "yaml";
import { serveMcpOverHttp } from "../test/support/mcp-http.ts";

export const SEARCH_TOOLS_MANIFEST = join(
  import.meta.dirname,
  "..",
  "manifests",
  "samples",
  "20-toolmanifest-search-tools.yaml",
);
/** Listed by the server, absent from the ToolManifest: the gateway hides it. */
export const UNLISTED_TOOL = "delete_index";

interface ToolDef {
  name: string;
  description?: string;
  inputSchema?: Record<string, unknown>;
}

export interface SearchToolsServer {
  url: string;
  /** tools/call invocations that reached this server, by tool. */
  executed: Map<string, number>;
  close(): Promise<void>;
}

function pinnedTools(): ToolDef[] {
  const doc = YAML.parse(readFileSync(SEARCH_TOOLS_MANIFEST, "utf8")) as { spec: { tools: ToolDef[] } };
  return doc.spec.tools.map((t) => ({
    name: t.name,
    description: t.description,
    inputSchema: t.inputSchema ?? { type: "object" },
  }));
}

export async function startSearchToolsServer(): Promise<SearchToolsServer> {
  const tools: ToolDef[] = [
    ...pinnedTools(),
    {
      name: UNLISTED_TOOL,
      description: "Delete the whole search index.",
      inputSchema: { type: "object", properties: {} },
    },
  ];
  const executed = new Map<string, number>();

  const makeServer = () => {
    const s = new Server({ name: "search-tools", version: "1.0.0" }, { capabilities: { tools: {} } });
    s.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: tools as never }));
    s.setRequestHandler(CallToolRequestSchema, async (req) => {
      const { name, arguments: args = {} } = req.params;
      executed.set(name, (executed.get(name) ?? 0) + 1);
      const text = (t: string) => ({ content: [{ type: "text" as const, text: t }] });
      if (name === "web_search") {
        const q = String(args.query);
        const n = Number(args.limit ?? 3);
        return text(
          Array.from({ length: n }, (_, i) => `${i + 1}. result for "${q}" (demo index)`).join("\n"),
        );
      }
      if (name === "fetch_url") return text(`fetched ${String(args.url)} (demo)`);
      if (name === UNLISTED_TOOL) return text("index deleted");
      return { isError: true, content: [{ type: "text" as const, text: `unknown tool ${name}` }] };
    });
    return s;
  };

  const host = await serveMcpOverHttp(makeServer);
  return { url: host.url, executed, close: host.close };
}
