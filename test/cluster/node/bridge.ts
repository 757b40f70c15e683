// The host's way in to a node's API server: listens on the host's loopback and forwards each
// connection to a unix socket that the node's supervisor serves from inside the node's network
// namespace (unix sockets are file-system objects, so they cross network namespaces).
//
//   node bridge.ts --to /run/warden/<id>/api.sock --port-file FILE [--port N]
//
// Writes the port it listens on to FILE once listening (port 0 = any free port). Runs until
// SIGTERM. Nothing but connection errors is logged: TLS passes through untouched.
import { renameSync, writeFileSync } from "node:fs";
import net from "node:net";
import { z } from "zod";

const argsSchema = z.strictObject({
  to: z.string().min(1, "--to must name the node's API socket"),
  portFile: z.string().min(1, "--port-file must name a file to write the port to"),
  port: z.coerce.number().int().min(0).max(65535).default(0),
});

export function parseBridgeArgs(argv: string[]): z.infer<typeof argsSchema> {
  const raw: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const m = /^--(to|port-file|port)(?:=(.*))?$/.exec(argv[i] as string);
    if (!m)
      throw new Error(
        `unknown argument ${JSON.stringify(argv[i])} (usage: --to SOCK --port-file FILE [--port N])`,
      );
    const key = m[1] === "port-file" ? "portFile" : (m[1] as string);
    raw[key] = m[2] ?? (argv[++i] as string);
  }
  return argsSchema.parse(raw);
}

/** Starts the bridge in this process; resolves with the server once it listens. */
export function startBridge(socketPath: string, port: number): Promise<net.Server> {
  const server = net.createServer((client) => {
    const upstream = net.connect(socketPath);
    client.pipe(upstream).pipe(client);
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    // Loopback only: the node's API server is for this machine's tests and developer.
    server.listen(port, "127.0.0.1", () => resolve(server));
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = parseBridgeArgs(process.argv.slice(2));
  const server = await startBridge(args.to, args.port);
  const { port } = server.address() as net.AddressInfo;
  writeFileSync(`${args.portFile}.tmp`, `${port}\n`);
  renameSync(`${args.portFile}.tmp`, args.portFile);
  // A dumb pipe: on SIGTERM it goes at once (server.close() would wait for every client to hang up).
  const stop = () => process.exit(0);
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  process.on("SIGHUP", () => {});
}
