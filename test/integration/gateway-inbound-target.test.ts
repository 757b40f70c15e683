// The inbound gateway builds what it sends to the tool server: the upstream is the one configured
// origin, the caller contributes only an origin-form path, and caller-supplied identity and
// hop-by-hop headers never pass. Proved with raw HTTP/1.1 over real mTLS (so the request-target
// is exactly what an attacker writes), a real upstream that records what it gets, and an "evil"
// listener on another loopback port that must never see a request.
import { once } from "node:events";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tls from "node:tls";
import * as fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../gateway/config.ts";
import { CALLER_HEADER, originFormProblem } from "../../gateway/inbound.ts";
import { type RunningGateway, startGateway } from "../../gateway/server.ts";
import { issueFor, testCA } from "../../lib/identity/testing.ts";
import { createLogger } from "../../lib/log.ts";

const TD = "example.org";
const AGENT = `spiffe://${TD}/ns/agents/sa/researcher`;
const SERVER = `spiffe://${TD}/ns/tools/sa/web-tools`;

interface Recorder {
  server: Server;
  port: number;
  seen: { url: string; headers: IncomingHttpHeaders }[];
}

async function recorder(): Promise<Recorder> {
  const seen: Recorder["seen"] = [];
  const server = createServer((req, res) => {
    seen.push({ url: req.url ?? "", headers: req.headers });
    req.resume();
    res.writeHead(200, { "content-type": "text/plain", connection: "x-upstream-hop", "x-upstream-hop": "1" });
    res.end("ok");
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { server, port: (server.address() as AddressInfo).port, seen };
}

let upstream: Recorder;
let evil: Recorder;
let gw: RunningGateway;
let agent: { chainPem: string; keyPem: string };
let bundlePem: string;

beforeAll(async () => {
  [upstream, evil] = await Promise.all([recorder(), recorder()]);
  const ca = await testCA(TD);
  bundlePem = ca.certPem;
  const [a, s] = await Promise.all([issueFor(ca, AGENT), issueFor(ca, SERVER)]);
  agent = a;
  const dir = mkdtempSync(join(tmpdir(), "warden-inbound-target-"));
  const file = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };
  gw = await startGateway(
    parseConfig({
      mode: "inbound",
      listen: "127.0.0.1:0",
      adminListen: "127.0.0.1:0",
      policyFile: file(
        "policy.json",
        JSON.stringify({
          apiVersion: "warden.dev/v1alpha1",
          kind: "InboundPolicy",
          version: "in-1",
          manifest: "web-tools",
          namespace: "tools",
          allowedCallers: [AGENT],
        }),
      ),
      bundleFile: file("bundle.pem", bundlePem),
      auditFile: join(dir, "audit.jsonl"),
      svidCertFile: file("tls.crt", s.chainPem),
      svidKeyFile: file("tls.key", s.keyPem),
      upstream: `http://127.0.0.1:${upstream.port}`,
      trustDomain: TD,
    }),
    { log: createLogger("inbound-target-test", { level: "error" }) },
  );
}, 60_000);
afterAll(async () => {
  await gw?.close();
  upstream?.server.close();
  evil?.server.close();
});

/**
 * Writes `head` (request line + headers, CRLF-joined, no body) over mTLS and reads until the server
 * closes (the request asks for Connection: close); returns the status, or "closed" when the server
 * closed without an HTTP answer (Node's parser refusing a malformed request line).
 */
async function raw(head: string): Promise<number | "closed"> {
  const port = Number(new URL(gw.url).port);
  const socket = tls.connect({
    host: "127.0.0.1",
    port,
    ca: bundlePem,
    cert: agent.chainPem,
    key: agent.keyPem,
    checkServerIdentity: () => undefined,
  });
  await once(socket, "secureConnect");
  const withClose = /\r\nconnection:/i.test(head) ? head : `${head}\r\nConnection: close`;
  socket.write(`${withClose}\r\n\r\n`);
  let text = "";
  socket.setEncoding("utf8");
  socket.on("data", (c: string) => {
    text += c;
  });
  await once(socket, "close");
  const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
  return m ? Number(m[1]) : "closed";
}

const evilHost = () => `127.0.0.1:${evil.port}`;

// One row per way a request-target could name another host (or be read as doing so downstream).
const TARGETS: { name: string; line: () => string }[] = [
  { name: "network-path //host/x", line: () => `GET //${evilHost()}/x HTTP/1.1` },
  { name: "absolute-form http://host/x", line: () => `GET http://${evilHost()}/x HTTP/1.1` },
  { name: "absolute-form with userinfo", line: () => `GET http://user@${evilHost()}/x HTTP/1.1` },
  { name: "authority-form host:port", line: () => `GET ${evilHost()} HTTP/1.1` },
  { name: "asterisk-form *", line: () => "OPTIONS * HTTP/1.1" },
  { name: "backslash /\\host/x", line: () => `GET /\\${evilHost()}/x HTTP/1.1` },
  { name: "double backslash \\\\host/x", line: () => `GET \\\\${evilHost()}/x HTTP/1.1` },
  { name: "encoded slash /%2F%2Fhost/x", line: () => `GET /%2F%2F${evilHost()}/x HTTP/1.1` },
  { name: "encoded backslash /%5Chost/x", line: () => `GET /%5C${evilHost()}/x HTTP/1.1` },
  { name: "dot segments /../x", line: () => "GET /mcp/../../x HTTP/1.1" },
  { name: "encoded dot segments /%2e%2e/x", line: () => "GET /%2e%2e/%2e%2e/x HTTP/1.1" },
  { name: "bare percent /%zz", line: () => "GET /%zz HTTP/1.1" },
];

describe("inbound gateway: request-targets (attack table)", () => {
  it("control: an origin-form path reaches the configured upstream, with its query", async () => {
    const before = upstream.seen.length;
    expect(await raw("GET /mcp?x=1 HTTP/1.1\r\nHost: tools")).toBe(200);
    expect(upstream.seen.length).toBe(before + 1);
    expect(upstream.seen.at(-1)!.url).toBe("/mcp?x=1");
  });
  for (const row of TARGETS) {
    it(`refuses ${row.name}: nothing reaches the evil listener or the upstream`, async () => {
      const up = upstream.seen.length;
      const status = await raw(`${row.line()}\r\nHost: tools`);
      // 400 from the gateway, or Node's own parser closing the connection on a malformed line.
      expect([400, "closed"]).toContain(status);
      expect(evil.seen).toEqual([]);
      expect(upstream.seen.length).toBe(up);
    });
  }
});

describe("inbound gateway: origin-form check (property)", () => {
  const base = "http://127.0.0.1:8080";
  it("anything accepted stays on the configured origin, however a URL parser reads it", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.constantFrom(
            "/",
            "\\",
            ":",
            "@",
            "%",
            "2",
            "f",
            "F",
            "5",
            "c",
            ".",
            "?",
            "#",
            "a",
            " ",
            "\t",
            "e",
            "é",
          ),
          {
            maxLength: 24,
          },
        ),
        (chars) => {
          const target = chars.join("");
          if (originFormProblem(target) !== undefined) return;
          expect(new URL(`${base}${target}`).origin).toBe(base);
          expect(new URL(target, base).origin).toBe(base);
          expect(target.startsWith("/") && !target.startsWith("//")).toBe(true);
        },
      ),
      { numRuns: 2000 },
    );
  });
  it("refuses every target that does not start with exactly one '/'", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (s) => {
        if (!s.startsWith("/") || s.startsWith("//")) expect(originFormProblem(s)).toBeDefined();
      }),
    );
  });
});

describe("inbound gateway: caller-supplied headers (attack table)", () => {
  // Each row a header the caller sends to claim an identity or steer a proxy; none may arrive.
  const SPOOFED: [string, string][] = [
    ["x-forwarded-client-cert", `By=${SERVER};URI=${`spiffe://${TD}/ns/admin/sa/root`}`],
    ["x-spiffe-id", `spiffe://${TD}/ns/admin/sa/root`],
    [CALLER_HEADER, `spiffe://${TD}/ns/admin/sa/root`],
    ["x-warden-agent", "root"],
    ["x-warden-approved-by", "alice"],
    ["forwarded", "for=10.0.0.1;by=gateway"],
    ["x-forwarded-for", "10.0.0.1"],
    ["x-forwarded-host", "admin.internal"],
    ["x-client-cert", "MIIB..."],
    ["proxy-authorization", "Basic cm9vdDpyb290"],
    ["x-hop-named-in-connection", "1"],
  ];
  it("strips every spoofed identity and hop-by-hop header and asserts the verified caller only", async () => {
    const before = upstream.seen.length;
    const headers = SPOOFED.map(([k, v]) => `${k}: ${v}`).join("\r\n");
    expect(
      await raw(
        `GET /mcp HTTP/1.1\r\nHost: tools\r\nConnection: close, x-hop-named-in-connection\r\n${headers}\r\nx-tool-arg: kept`,
      ),
    ).toBe(200);
    expect(upstream.seen.length).toBe(before + 1);
    const got = upstream.seen.at(-1)!.headers;
    for (const [k] of SPOOFED) {
      if (k === CALLER_HEADER) continue;
      expect(got[k], k).toBeUndefined();
    }
    expect(got[CALLER_HEADER]).toBe(AGENT);
    expect(Object.keys(got).filter((k) => k.startsWith("x-warden-"))).toEqual([CALLER_HEADER]);
    expect(got["x-tool-arg"]).toBe("kept");
  });
  for (const [name, value] of SPOOFED) {
    it(`drops ${name} sent alone`, async () => {
      const before = upstream.seen.length;
      const connection = name === "x-hop-named-in-connection" ? `Connection: close, ${name}\r\n` : "";
      expect(await raw(`GET /mcp HTTP/1.1\r\nHost: tools\r\n${connection}${name}: ${value}`)).toBe(200);
      expect(upstream.seen.length).toBe(before + 1);
      const got = upstream.seen.at(-1)!.headers;
      if (name === CALLER_HEADER) expect(got[name]).toBe(AGENT);
      else expect(got[name]).toBeUndefined();
    });
  }
});
