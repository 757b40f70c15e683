// Adversarial TLS peers against real gateways: certificates built to break the X.509-SVID rules,
// each signed for real by a bring-your-own CA that is in the gateways' trust bundle, presented over
// real TLS — as a caller to the inbound gateway, and as a tool server to the outbound gateway.
// Every row must be refused before a byte reaches the other side, and the refusal must be counted
// (warden_gateway_peer_refusals_total{side,reason}), and on the inbound side audited.
import { once } from "node:events";
import { readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { Agent, request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  attackLeaf,
  byoCA,
  type LeafAttack,
  pathLengthViolation,
  type TestCA,
} from "../../lib/identity/attack-certs.ts";
import {
  AGENT_ID,
  type Harness,
  SERVER_ID,
  startHarness,
  TOOL_CREDENTIAL,
} from "../fixtures/gateway/harness.ts";

let byo: TestCA;
let pathLimitedRoot: TestCA;
let stranger: TestCA;
let h: Harness;
let impostor: Server;
let impostorRequests = 0;
const impostorSeen: Record<string, string | string[] | undefined>[] = [];

beforeAll(async () => {
  [byo, pathLimitedRoot, stranger] = await Promise.all([
    byoCA("bring-your-own CA"),
    byoCA("bring-your-own CA with pathLength 0", 0),
    byoCA("a CA nobody trusts"),
  ]);
  // The impostor tool server: serves whatever certificate the row sets, counts what reaches it.
  const first = await attackLeaf(byo, "valid", SERVER_ID);
  impostor = createServer(
    { cert: first.chainPem, key: first.keyPem, ciphers: "DEFAULT@SECLEVEL=0" },
    (req, res) => {
      impostorRequests++;
      impostorSeen.push(req.headers);
      req.resume();
      res.writeHead(200, { "content-type": "application/json" }).end('{"jsonrpc":"2.0","id":1,"result":{}}');
    },
  );
  impostor.listen(0, "127.0.0.1");
  await once(impostor, "listening");
  const port = (impostor.address() as AddressInfo).port;
  h = await startHarness({
    extraTrustPem: byo.certPem + pathLimitedRoot.certPem,
    policy: (p) => ({
      ...p,
      servers: [
        ...p.servers,
        {
          manifest: "impostor",
          endpoint: `https://127.0.0.1:${port}/mcp`,
          mode: "Enforce",
          serverSpiffeID: SERVER_ID,
          credential: p.servers[0]!.credential,
          tools: p.servers[0]!.tools.filter((t) => t.name === "search"),
        },
      ],
    }),
  });
  // The impostor reuses web-tools' credential: the operator projects each granted server's
  // credential under its ToolManifest's name, so mount it under "impostor" too. The refusal rows
  // prove that this credential never reaches the impostor.
  writeFileSync(join(h.dir, "credentials", "impostor"), `${TOOL_CREDENTIAL}\n`);
}, 60_000);
afterAll(async () => {
  await h?.close();
  impostor?.closeAllConnections();
  impostor?.close();
});

async function metricValue(adminURL: string, side: string, reason: string): Promise<number> {
  const text = await (await request(`${adminURL}/metrics`)).body.text();
  const m = new RegExp(
    `warden_gateway_peer_refusals_total\\{side="${side}",reason="${reason}"\\} (\\d+)`,
  ).exec(text);
  return m ? Number(m[1]) : 0;
}

function auditRecords(file: string): Record<string, unknown>[] {
  try {
    return readFileSync(file, "utf8")
      .trimEnd()
      .split("\n")
      .filter(Boolean)
      .flatMap((l) => {
        try {
          return [JSON.parse(l) as Record<string, unknown>];
        } catch {
          return []; // a line being written right now
        }
      });
  } catch {
    return [];
  }
}

type Cred = { chainPem: string; keyPem: string } | undefined;

/** One request from a TLS client presenting `cred` to the inbound gateway; status or the error. */
async function callInbound(cred: Cred): Promise<number | Error> {
  const d = new Agent({
    connect: {
      ca: readFileSync(h.bundleFile, "utf8"),
      ...(cred ? { cert: cred.chainPem, key: cred.keyPem } : {}),
      // The attacker's client would present a 1024-bit key or a SHA-1 chain if the server took it.
      ciphers: "DEFAULT@SECLEVEL=0",
      checkServerIdentity: () => undefined,
    },
  });
  try {
    const r = await request(`${h.inbound.url}/mcp`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "initialize",
        params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "x", version: "1" } },
      }),
      dispatcher: d,
    });
    await r.body.dump();
    return r.statusCode;
  } catch (e) {
    return e as Error;
  } finally {
    await d.close().catch(() => {});
  }
}

// The reason each attack is refused for, and by which layer. Where OpenSSL's own chain check
// already refuses the certificate (duplicate extensions, unknown critical extensions, SHA-1, a
// 1024-bit RSA key at its default security level, path lengths of CAs), the gateway now counts it
// as ChainUntrusted instead of a silent reset; the profile check (svid-profile.ts) refuses the
// same certificates again should OpenSSL's settings ever change (unit-tested in tls.test.ts).
const INBOUND: { attack: LeafAttack; reason: string }[] = [
  { attack: "dns-san-with-uri-text", reason: "SubjectAltName" },
  { attack: "email-san-with-uri-text", reason: "SubjectAltName" },
  { attack: "ca-true-leaf", reason: "NotALeaf" },
  { attack: "key-cert-sign-leaf", reason: "KeyUsage" },
  { attack: "crl-sign-leaf", reason: "KeyUsage" },
  { attack: "no-digital-signature", reason: "KeyUsage" },
  { attack: "no-key-usage", reason: "KeyUsage" },
  { attack: "no-extended-key-usage", reason: "ExtKeyUsage" },
  { attack: "two-san-extensions", reason: "ChainUntrusted" },
  { attack: "two-uri-sans", reason: "SubjectAltName" },
  { attack: "rsa-1024-key", reason: "ChainUntrusted" },
  { attack: "sha1-signature", reason: "ChainUntrusted" },
  { attack: "unknown-critical-extension", reason: "ChainUntrusted" },
  { attack: "leaf-with-path-length", reason: "NotALeaf" },
  { attack: "wrong-trust-domain", reason: "TrustDomain" },
  { attack: "not-a-spiffe-uri", reason: "SpiffeID" },
];

describe("inbound gateway: adversarial client certificates over real mTLS", () => {
  it("control: a leaf from the BYO CA that follows every rule reaches the tool server", async () => {
    const before = h.mcp.requests;
    expect(await callInbound(await attackLeaf(byo, "valid", AGENT_ID))).toBe(200);
    expect(h.mcp.requests).toBe(before + 1);
  });

  const refusedRow = async (cred: Cred, reason: string) => {
    const before = h.mcp.requests;
    const count = await metricValue(h.inbound.adminURL, "inbound", reason);
    const auditsBefore = auditRecords(h.inboundAudit).filter((r) => r.rule === "PeerRefused").length;
    const result = await callInbound(cred);
    expect(result).toBeInstanceOf(Error);
    expect(h.mcp.requests).toBe(before);
    await expect
      .poll(() => metricValue(h.inbound.adminURL, "inbound", reason), { timeout: 10_000, interval: 50 })
      .toBe(count + 1);
    await expect
      .poll(() => auditRecords(h.inboundAudit).filter((r) => r.rule === "PeerRefused"), {
        timeout: 10_000,
        interval: 50,
      })
      .toHaveLength(auditsBefore + 1);
    const last = auditRecords(h.inboundAudit).findLast((r) => r.rule === "PeerRefused")!;
    expect(last).toMatchObject({ decision: "deny", constraint: reason, agent: "unauthenticated" });
  };

  for (const row of INBOUND) {
    it(`refuses ${row.attack} as ${row.reason}: counted, audited, nothing forwarded`, async () => {
      await refusedRow(await attackLeaf(byo, row.attack, AGENT_ID), row.reason);
    });
  }
  it("refuses path-length-exceeded (intermediate under a pathLength:0 BYO root) as ChainUntrusted", async () => {
    await refusedRow(await pathLengthViolation(pathLimitedRoot, AGENT_ID), "ChainUntrusted");
  });
  it("refuses a leaf from a CA outside the bundle as ChainUntrusted", async () => {
    await refusedRow(await attackLeaf(stranger, "valid", AGENT_ID), "ChainUntrusted");
  });
  it("refuses a client with no certificate as NoCertificate", async () => {
    await refusedRow(undefined, "NoCertificate");
  });

  it("a flood of refused handshakes is counted in full, recorded within a budget, and every refusal accounted for in the audit trail", async () => {
    const FLOOD = 300; // well past the budget's burst (TLS_REFUSAL_RECORDS)
    const refusals = () => auditRecords(h.inboundAudit).filter((r) => r.rule === "PeerRefused");
    const recordsBefore = refusals().length;
    const countBefore = await metricValue(h.inbound.adminURL, "inbound", "NoCertificate");
    const started = performance.now();
    for (let i = 0; i < FLOOD; i += 20) {
      const batch = Array.from({ length: Math.min(20, FLOOD - i) }, () => callInbound(undefined));
      for (const r of await Promise.all(batch)) expect(r).toBeInstanceOf(Error);
    }
    await expect
      .poll(() => metricValue(h.inbound.adminURL, "inbound", "NoCertificate"), {
        timeout: 30_000,
        interval: 100,
      })
      .toBe(countBefore + FLOOD);
    const elapsedS = (performance.now() - started) / 1000;
    // One more after a second of quiet: the budget has refilled, so it is recorded, and its record
    // accounts for every refusal of the flood that was only counted.
    await new Promise((r) => setTimeout(r, 1_000));
    expect(await callInbound(undefined)).toBeInstanceOf(Error);
    await expect
      .poll(() => metricValue(h.inbound.adminURL, "inbound", "NoCertificate"), {
        timeout: 30_000,
        interval: 100,
      })
      .toBe(countBefore + FLOOD + 1);
    const accounted = () =>
      refusals()
        .slice(recordsBefore)
        .reduce(
          (n, r) => n + 1 + Number((r.detail as { unrecordedBefore?: number }).unrecordedBefore ?? 0),
          0,
        );
    await expect.poll(accounted, { timeout: 30_000, interval: 100 }).toBe(FLOOD + 1);
    const written = refusals().length - recordsBefore;
    // Bounded by the budget (burst 50 + 5/s over the flood, + the last one), not by the flood.
    expect(written).toBeLessThanOrEqual(50 + Math.ceil(elapsedS * 5) + 1);
    expect(written).toBeLessThan(FLOOD);
  });
});

// The tool server side: what the outbound gateway must refuse before sending the agent's call
// (and the tool server's credential) to it.
const OUTBOUND: { attack: LeafAttack; reason: string }[] = [
  { attack: "dns-san-with-uri-text", reason: "SubjectAltName" },
  { attack: "email-san-with-uri-text", reason: "SubjectAltName" },
  { attack: "ca-true-leaf", reason: "NotALeaf" },
  { attack: "key-cert-sign-leaf", reason: "KeyUsage" },
  { attack: "crl-sign-leaf", reason: "KeyUsage" },
  { attack: "no-digital-signature", reason: "KeyUsage" },
  { attack: "no-key-usage", reason: "KeyUsage" },
  { attack: "no-extended-key-usage", reason: "ExtKeyUsage" },
  { attack: "two-san-extensions", reason: "ChainUntrusted" },
  { attack: "two-uri-sans", reason: "SubjectAltName" },
  { attack: "rsa-1024-key", reason: "ChainUntrusted" },
  { attack: "sha1-signature", reason: "ChainUntrusted" },
  { attack: "unknown-critical-extension", reason: "ChainUntrusted" },
  { attack: "leaf-with-path-length", reason: "NotALeaf" },
  { attack: "wrong-trust-domain", reason: "TrustDomain" },
  { attack: "not-a-spiffe-uri", reason: "SpiffeID" },
];

/** Outbound audit records of impostor calls that failed with a TLS refusal for `reason`. */
function auditedRefusals(reason: string): number {
  return auditRecords(h.outboundAudit).filter(
    (r) =>
      r.manifest === "impostor" &&
      String((r.detail as { upstreamError?: string } | undefined)?.upstreamError ?? "").includes(
        `TLS peer refused (${reason})`,
      ),
  ).length;
}

async function callImpostor(cred: { chainPem: string; keyPem: string }) {
  impostor.closeAllConnections();
  impostor.setSecureContext({ cert: cred.chainPem, key: cred.keyPem, ciphers: "DEFAULT@SECLEVEL=0" });
  const r = await request(h.route("impostor"), {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "x", version: "1" } },
    }),
  });
  return (await r.body.json()) as { result?: unknown; error?: { message: string } };
}

describe("outbound gateway: adversarial tool-server certificates over real mTLS", () => {
  const refusedRow = async (cred: { chainPem: string; keyPem: string }, reason: string) => {
    const before = impostorRequests;
    const count = await metricValue(h.outbound.adminURL, "outbound", reason);
    const auditedBefore = auditedRefusals(reason);
    const body = await callImpostor(cred);
    expect(body.error?.message).toMatch(/UpstreamUnavailable/);
    expect(body.error?.message).toContain(`TLS peer refused (${reason})`);
    expect(impostorRequests).toBe(before);
    await expect
      .poll(() => metricValue(h.outbound.adminURL, "outbound", reason), { timeout: 10_000, interval: 50 })
      .toBe(count + 1);
    // The failed call is audited with the reason: one more impostor record naming it.
    await expect
      .poll(() => auditedRefusals(reason), { timeout: 10_000, interval: 50 })
      .toBe(auditedBefore + 1);
  };
  for (const row of OUTBOUND) {
    it(`refuses a tool server with ${row.attack} as ${row.reason}: no request, no credential sent`, async () => {
      await refusedRow(await attackLeaf(byo, row.attack, SERVER_ID), row.reason);
    });
  }
  it("refuses path-length-exceeded as ChainUntrusted", async () => {
    await refusedRow(await pathLengthViolation(pathLimitedRoot, SERVER_ID), "ChainUntrusted");
  });
  it("refuses a server whose valid SVID names another workload as UnexpectedPeer", async () => {
    await refusedRow(await attackLeaf(byo, "valid", AGENT_ID), "UnexpectedPeer");
  });
  it("control: a server with a valid SVID for the expected ID is called", async () => {
    const before = impostorRequests;
    const body = await callImpostor(await attackLeaf(byo, "valid", SERVER_ID));
    expect(body.error).toBeUndefined();
    expect(impostorRequests).toBe(before + 1);
  });
});
