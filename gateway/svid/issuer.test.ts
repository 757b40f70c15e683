import { afterAll, describe, expect, it } from "vitest";
import { bundlePem } from "../../lib/identity/bundle.ts";
import { SvidClient } from "../../lib/identity/svid-client.ts";
import { testCA } from "../../lib/identity/testing.ts";
import { signX509SVIDFromCSR } from "../../lib/identity/x509-svid.ts";
import { fromSvidClient } from "./issuer.ts";
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
