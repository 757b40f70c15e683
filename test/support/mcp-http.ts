// Hosts an MCP SDK server over Streamable HTTP on 127.0.0.1 with stateful sessions: one SDK
// server + transport per session, 404 "Session not found" for unknown/missing sessions on
// non-initialize requests. Shared by the gateway test fixture and the demo's tool server so the
// session handling they both depend on is written once.
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";

/** Both the low-level `Server` and `McpServer` satisfy this. */
export interface ConnectableMcpServer {
  connect(transport: StreamableHTTPServerTransport): Promise<void>;
}

export interface McpHttpHostOptions {
  /** Answer with plain JSON instead of SSE streams (the SDK default is SSE). */
  jsonResponse?: boolean;
  /** Called for every HTTP request before it is handled (for request counting/inspection). */
  onRequest?: (req: IncomingMessage) => void;
  /** Port (default: any free one). */
  port?: number;
  /** Address to listen on (default 127.0.0.1; the e2e tool server listens on every interface). */
  host?: string;
}

export interface McpHttpHost {
  url: string;
  close(): Promise<void>;
}

export async function serveMcpOverHttp(
  makeServer: () => ConnectableMcpServer,
  opts: McpHttpHostOptions = {},
): Promise<McpHttpHost> {
  const transports = new Map<string, StreamableHTTPServerTransport>();
  const http = createServer(async (req, res) => {
    opts.onRequest?.(req);
    try {
      let body: unknown;
      if (req.method === "POST") {
        const chunks: Buffer[] = [];
        for await (const c of req) chunks.push(c as Buffer);
        body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      }
      const sid = req.headers["mcp-session-id"];
      let transport = typeof sid === "string" ? transports.get(sid) : undefined;
      if (!transport) {
        // Only a POST without a session id may open a session (initialize).
        if (typeof sid === "string" || req.method !== "POST") {
          res.writeHead(404, { "content-type": "application/json" }).end(
            JSON.stringify({
              jsonrpc: "2.0",
              id: null,
              error: { code: -32001, message: "Session not found" },
            }),
          );
          return;
        }
        const t = new StreamableHTTPServerTransport({
          sessionIdGenerator: () => randomUUID(),
          enableJsonResponse: opts.jsonResponse ?? false,
          onsessioninitialized: (id) => {
            transports.set(id, t);
          },
        });
        t.onclose = () => {
          if (t.sessionId) transports.delete(t.sessionId);
        };
        await makeServer().connect(t);
        transport = t;
      }
      await transport.handleRequest(req, res, body);
    } catch (e) {
      if (!res.headersSent) res.writeHead(500).end(String(e));
    }
  });
  await new Promise<void>((r) => http.listen(opts.port ?? 0, opts.host ?? "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
    close: async () => {
      for (const t of transports.values()) await t.close().catch(() => {});
      await new Promise<void>((r) => {
        http.close(() => r());
        http.closeAllConnections();
      });
    },
  };
}
