// The e2e test image's one entrypoint (bundled into the image by test/e2e/tools/image.ts):
//   serve                         the MCP tool server on 0.0.0.0:8080 (inside a tool-server pod: on
//                                 every interface, as a naive server would, so that only the
//                                 NetworkPolicy keeps agents off this port); TOOLS_PORT and
//                                 TOOLS_CATALOG (JSON, catalog.ts) change the port and the tools
//   idle                          the agent container: waits for SIGTERM (tests kubectl exec into it)
//   call <url> <tool> <args-json> one MCP session: initialize, tools/call; prints one JSON line
//   list <url>                    one MCP session: initialize, tools/list; prints one JSON line
//   load <url> <tool> <args-json> <sessions> <ms>
//                                 <sessions> concurrent MCP sessions calling <tool> for <ms>;
//                                 prints {"calls":n,"errors":n,"firstError":...}
//   get <url> [bearer]            an HTTP GET; prints {"status":n,"body":"..."}
//   tcp <host> <port> <ms>        a TCP connect attempt; prints {"connected":bool,"error":...}
//   dns <name>                    a DNS lookup; prints {"addresses":[...]} or {"error":...}
//   cat <file>                    prints a file (the images have no shell or coreutils)
// Every command prints exactly one JSON line on stdout and exits 0 unless it could not run at all,
// so a test reads the outcome from the line, not from exit codes.
import { createHash } from "node:crypto";
import { promises as dns } from "node:dns";
import { readFileSync } from "node:fs";
import { connect } from "node:net";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import {
  CallToolRequestSchema,
  ListToolsRequestSchema,
  type McpError,
} from "@modelcontextprotocol/sdk/types.js";
import { serveMcpOverHttp } from "../../support/mcp-http.ts";
import {
  CREDENTIAL_TOOL,
  PUBLISH_TOOL,
  parseCatalog,
  SEARCH_TOOL,
  SERVED_TOOLS,
  TOOL_SERVER_PORT,
} from "./catalog.ts";

const out = (v: unknown) => process.stdout.write(`${JSON.stringify(v)}\n`);

function fingerprint(auth: string | string[] | undefined): string {
  const value = Array.isArray(auth) ? auth.join(",") : (auth ?? "");
  return value ? `sha256:${createHash("sha256").update(value).digest("hex")}` : "none";
}

async function serve(): Promise<void> {
  const custom = process.env.TOOLS_CATALOG ? parseCatalog(process.env.TOOLS_CATALOG) : undefined;
  const port = Number(process.env.TOOLS_PORT ?? TOOL_SERVER_PORT);
  const listed = custom?.map(({ showsCredential: _, ...def }) => def) ?? SERVED_TOOLS;
  const makeServer = () => {
    const s = new Server({ name: "e2e-tools", version: "1.0.0" }, { capabilities: { tools: {} } });
    s.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: listed as never }));
    s.setRequestHandler(CallToolRequestSchema, async (req, extra) => {
      const { name, arguments: args = {} } = req.params;
      const text = (t: string) => ({ content: [{ type: "text" as const, text: t }] });
      process.stderr.write(`${JSON.stringify({ msg: "tools/call", tool: name })}\n`);
      const auth = extra.requestInfo?.headers?.authorization;
      if (custom) {
        const def = custom.find((t) => t.name === name);
        const done = `${name} ${JSON.stringify(args)} done`;
        return text(def?.showsCredential ? `${done}; credential received: ${fingerprint(auth)}` : done);
      }
      if (name === SEARCH_TOOL.name) return text(`results for "${String(args.query)}" (e2e index)`);
      if (name === PUBLISH_TOOL.name) return text(`published "${String(args.title)}"`);
      if (name === CREDENTIAL_TOOL.name) return text(fingerprint(auth));
      return text(`${name} ran`);
    });
    return s;
  };
  const host = await serveMcpOverHttp(makeServer, { port, host: "0.0.0.0" });
  process.stderr.write(`${JSON.stringify({ msg: "serving", url: host.url })}\n`);
  const stop = () => void host.close().then(() => process.exit(0));
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}

async function session<T>(url: string, fn: (c: Client) => Promise<T>): Promise<void> {
  const client = new Client({ name: "e2e-agent", version: "1.0.0" });
  try {
    await client.connect(new StreamableHTTPClientTransport(new URL(url)));
    out({ ok: true, result: await fn(client) });
  } catch (err) {
    const e = err as McpError & { data?: unknown };
    out({ ok: false, error: { code: e.code, message: e.message, data: e.data } });
  } finally {
    await client.close().catch(() => undefined);
  }
}

/** Concurrent sessions calling one tool until the time is up: the sidecar under load. */
async function load(url: string, tool: string, args: Record<string, unknown>, sessions: number, ms: number) {
  const until = Date.now() + ms;
  let calls = 0;
  let errors = 0;
  let firstError: string | undefined;
  await Promise.all(
    Array.from({ length: sessions }, async () => {
      const client = new Client({ name: "e2e-load", version: "1.0.0" });
      await client.connect(new StreamableHTTPClientTransport(new URL(url)));
      try {
        while (Date.now() < until) {
          try {
            const r = await client.callTool({ name: tool, arguments: args });
            if (r.isError) throw new Error(JSON.stringify(r.content));
            calls++;
          } catch (err) {
            errors++;
            firstError ??= (err as Error).message;
          }
        }
      } finally {
        await client.close().catch(() => undefined);
      }
    }),
  );
  out({ calls, errors, firstError, ms });
}

function tcp(host: string, port: number, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const started = Date.now();
    const sock = connect({ host, port });
    const done = (v: { connected: boolean; error?: string }) => {
      sock.destroy();
      out({ ...v, ms: Date.now() - started });
      resolve();
    };
    sock.setTimeout(ms, () => done({ connected: false, error: "timeout" }));
    sock.once("connect", () => done({ connected: true }));
    sock.once("error", (e: NodeJS.ErrnoException) => done({ connected: false, error: e.code ?? e.message }));
  });
}

async function main(argv: string[]): Promise<void> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case "serve":
      return serve();
    case "idle":
      process.once("SIGTERM", () => process.exit(0));
      setInterval(() => {}, 1 << 30);
      return;
    case "call": {
      const [url, tool, args] = rest;
      if (!url || !tool) throw new Error("usage: call <url> <tool> [args-json]");
      const parsed = JSON.parse(args ?? "{}") as Record<string, unknown>;
      // Long enough for an approval to be answered; the gateway's own timeout decides first.
      return session(url, (c) =>
        c.callTool({ name: tool, arguments: parsed }, undefined, { timeout: 600_000 }),
      );
    }
    case "list": {
      const [url] = rest;
      if (!url) throw new Error("usage: list <url>");
      return session(url, async (c) => (await c.listTools()).tools.map((t) => t.name));
    }
    case "load": {
      const [url, tool, args, sessions, ms] = rest;
      if (!url || !tool) throw new Error("usage: load <url> <tool> <args-json> <sessions> <ms>");
      return load(
        url,
        tool,
        JSON.parse(args ?? "{}") as Record<string, unknown>,
        Number(sessions ?? 4),
        Number(ms ?? 10_000),
      );
    }
    case "get": {
      const [url, bearer] = rest;
      if (!url) throw new Error("usage: get <url> [bearer]");
      const r = await fetch(url, bearer ? { headers: { authorization: `Bearer ${bearer}` } } : {});
      out({ status: r.status, body: await r.text() });
      return;
    }
    case "tcp": {
      const [host, port, ms] = rest;
      if (!host || !port) throw new Error("usage: tcp <host> <port> [timeout-ms]");
      return tcp(host, Number(port), Number(ms ?? 3000));
    }
    case "dns": {
      const [name] = rest;
      if (!name) throw new Error("usage: dns <name>");
      try {
        out({ addresses: (await dns.lookup(name, { all: true })).map((a) => a.address) });
      } catch (err) {
        out({ error: (err as NodeJS.ErrnoException).code ?? String(err) });
      }
      return;
    }
    case "cat": {
      const [file] = rest;
      if (!file) throw new Error("usage: cat <file>");
      process.stdout.write(readFileSync(file));
      return;
    }
    default:
      throw new Error(`unknown command ${cmd ?? "(none)"}: serve | idle | call | list | tcp | dns | cat`);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`e2e-tools: ${(err as Error).message}\n`);
  process.exit(2);
});
