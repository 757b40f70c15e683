import { afterAll, describe, expect, it } from "vitest";
import { bundlePem } from "../../lib/identity/bundle.ts";
import { type Clock, SvidClient } from "../../lib/identity/svid-client.ts";
import { testCA } from "../../lib/identity/testing.ts";
import { signX509SVIDFromCSR } from "../../lib/identity/x509-svid.ts";
import { configFromEnv } from "../config.ts";
import { fromSvidClient, issuerClientOptions } from "./issuer.ts";
import { svidFromPem } from "./source.ts";

const ID = "spiffe://example.org/ns/agents/sa/researcher";
let stop: (() => void) | undefined;
afterAll(() => stop?.());

describe("issuer-mode SvidSource", () => {
  it("adapts lib/identity's SvidClient (key in memory, CSR signed by the CA) to the gateway's SvidSource", async () => {
    const ca = await testCA("example.org");
    const client = new SvidClient({
      trustDomain: "example.org",
      expectedID: ID,
      readToken: async () => "projected-token",
      trustBundle: async () => ca.certPem,
      // The issuer's signing step, in process (the HTTPS transport is lib/identity's concern).
      requestSVID: async (csrPem) => {
        const s = await signX509SVIDFromCSR({ ca, csrPem, spiffeID: ID, ttlMs: 15 * 60_000 });
        return {
          spiffeID: s.spiffeID,
          certChainPem: s.chainPem,
          bundlePem: bundlePem([ca.cert]),
          serial: s.serial,
          notAfter: s.notAfter.toISOString(),
        };
      },
    });
    const source = fromSvidClient(client);
    stop = () => source.close();
    const ready = source.ready();
    await client.start();
    await ready;
    const svid = source.current()!;
    expect(svid.spiffeID).toBe(ID);
    expect(source.secondsLeft()).toBeGreaterThan(14 * 60);
    // The pair is usable by the gateway's own checks (key matches certificate, one SPIFFE ID).
    expect(svidFromPem(svid.certChainPem, svid.keyPem, svid.bundlePem).spiffeID).toBe(ID);
  });
});

describe("issuer-mode client options", () => {
  const env = {
    WARDEN_GATEWAY_MODE: "outbound",
    WARDEN_GATEWAY_LISTEN: "127.0.0.1:15001",
    WARDEN_POLICY_FILE: "/p/policy.json",
    WARDEN_AUDIT_FILE: "/a/audit.jsonl",
    WARDEN_ISSUER_URL: "https://issuer.warden-system.svc:8443",
    WARDEN_TOKEN_FILE: "/var/run/warden/token/token",
    WARDEN_BUNDLE_FILE: "/var/run/warden/bundle/bundle.pem",
    WARDEN_TRUST_DOMAIN: "example.org",
  };

  it("renews at WARDEN_SVID_RENEW_AT of the lifetime (default half-life)", async () => {
    const ca = await testCA("example.org");
    const ttlMs = 100 * 60_000;
    for (const [value, fraction] of [
      [undefined, 0.5],
      ["0.8", 0.8],
      ["0.2", 0.2],
    ] as const) {
      const opts = issuerClientOptions(configFromEnv({ ...env, WARDEN_SVID_RENEW_AT: value }));
      expect(opts.renewAt).toBe(fraction);
      // The real client with those options; only the transport and the clock are in-process.
      const delays: number[] = [];
      const now = Date.now();
      const clock: Clock = {
        now: () => now,
        setTimeout: (_fn, ms) => delays.push(ms),
        clearTimeout: () => undefined,
      };
      const client = new SvidClient({
        ...opts,
        expectedID: ID,
        readToken: async () => "projected-token",
        trustBundle: async () => ca.certPem,
        clock,
        random: () => 0.5, // no jitter
        requestSVID: async (csrPem) => {
          const s = await signX509SVIDFromCSR({ ca, csrPem, spiffeID: ID, ttlMs, now: new Date(now) });
          return {
            spiffeID: s.spiffeID,
            certChainPem: s.chainPem,
            bundlePem: bundlePem([ca.cert]),
            serial: s.serial,
            notAfter: s.notAfter.toISOString(),
          };
        },
      });
      await client.start();
      expect(client.ready()).toBe(true);
      const lifetime = client.current()!.notAfter.getTime() - now;
      expect(delays).toHaveLength(1);
      expect(Math.abs(delays[0]! - lifetime * fraction), `renewAt ${value}`).toBeLessThanOrEqual(1);
      await client.stop();
    }
  });
});
