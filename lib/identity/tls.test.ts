import { once } from "node:events";
import type { AddressInfo } from "node:net";
import * as tls from "node:tls";
import { afterEach, describe, expect, it } from "vitest";
import { issueFor, testCA } from "./testing.ts";
import { checkSpiffeServer, peerSpiffeID } from "./tls.ts";
import type { IssuedSVID } from "./x509-svid.ts";

// A real TLS 1.3 handshake between two issued SVIDs; each side checks the other's SPIFFE ID.
const SERVER = "spiffe://example.org/ns/tools/sa/search";
const CLIENT = "spiffe://example.org/ns/agents/sa/bot";
const ca = await testCA("example.org");
const servers: tls.Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

type Cred = IssuedSVID & { keyPem: string };

async function serve(cred: Cred, bundlePem: string, allowClient: (id: string) => boolean) {
  const seen: (string | undefined)[] = [];
  const server = tls.createServer(
    {
      cert: cred.chainPem,
      key: cred.keyPem,
      ca: bundlePem,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: "TLSv1.2",
    },
    (socket) => {
      const id = peerSpiffeID(socket);
      seen.push(id);
      if (!id || !allowClient(id)) {
        socket.destroy();
        return;
      }
      socket.end("hello");
    },
  );
  servers.push(server);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { port: (server.address() as AddressInfo).port, seen };
}

function connect(
  port: number,
  cred: Cred,
  bundlePem: string,
  allowServer: (id: string) => boolean,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: "127.0.0.1",
      port,
      cert: cred.chainPem,
      key: cred.keyPem,
      ca: bundlePem,
      checkServerIdentity: checkSpiffeServer(allowServer),
    });
    let data = "";
    socket.on("data", (d: Buffer) => {
      data += d.toString();
    });
    socket.on("end", () => resolve(data));
    socket.on("close", () => resolve(data));
    socket.on("error", reject);
  });
}

describe("mTLS between SVIDs", () => {
  it("succeeds when both chains verify and each side sees the SPIFFE ID it expects", async () => {
    const server = await issueFor(ca, SERVER);
    const client = await issueFor(ca, CLIENT);
    const s = await serve(server, ca.certPem, (id) => id === CLIENT);
    expect(await connect(s.port, client, ca.certPem, (id) => id === SERVER)).toBe("hello");
    expect(s.seen).toEqual([CLIENT]);
  });
  it("fails for a client certificate from another CA", async () => {
    const other = await testCA("example.org");
    const server = await issueFor(ca, SERVER);
    const intruder = await issueFor(other, CLIENT);
    const s = await serve(server, ca.certPem, (id) => id === CLIENT);
    const out = await connect(s.port, intruder, ca.certPem, (id) => id === SERVER).catch(
      (e: Error) => `error: ${e.message}`,
    );
    expect(out).not.toBe("hello");
    expect(s.seen).toEqual([]);
  });
  it("fails for a server certificate from another CA", async () => {
    const other = await testCA("example.org");
    const server = await issueFor(other, SERVER);
    const client = await issueFor(ca, CLIENT);
    const s = await serve(server, other.certPem, () => true);
    await expect(connect(s.port, client, ca.certPem, (id) => id === SERVER)).rejects.toThrow(/certificate/);
  });
  it("fails for a peer from another trust domain, even one the bundle trusts", async () => {
    const foreign = await testCA("other.org");
    const bundle = ca.certPem + foreign.certPem;
    const server = await issueFor(ca, SERVER);
    const client = await issueFor(foreign, "spiffe://other.org/ns/agents/sa/bot");
    const s = await serve(server, bundle, (id) => id.startsWith("spiffe://example.org/"));
    expect(await connect(s.port, client, bundle, (id) => id === SERVER)).toBe("");
    expect(s.seen).toEqual(["spiffe://other.org/ns/agents/sa/bot"]);
    // And the client refuses a server that presents another trust domain's ID.
    const foreignServer = await issueFor(foreign, "spiffe://other.org/ns/tools/sa/search");
    const s2 = await serve(foreignServer, bundle, () => true);
    await expect(connect(s2.port, await issueFor(ca, CLIENT), bundle, (id) => id === SERVER)).rejects.toThrow(
      /not the one expected/,
    );
  });
});
