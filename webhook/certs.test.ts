import { request } from "node:https";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { certsFromPem } from "../lib/identity/crypto.ts";
import { createLogger } from "../lib/log.ts";
import { CertKeeper, mergeBundle } from "./certs.ts";
import { StaticContextSource } from "./context.ts";
import { engineSettings } from "./evaluate.ts";
import { CFG } from "./rules/testkit.ts";
import { startWebhookServer } from "./server.ts";

const log = createLogger("certs-test", { level: "error" });
const HOUR = 3_600_000;

function servedSerial(url: string, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/healthz`, { ca, agent: false }, (res) => {
      const cert = (res.socket as import("node:tls").TLSSocket).getPeerCertificate();
      res.resume();
      resolve(cert.serialNumber);
    });
    req.on("error", reject);
    req.end();
  });
}

describe("CertKeeper", () => {
  it("rotates the serving certificate at 2/3 of its life and the CA at 2/3 of its own, publishing CAs first", async () => {
    let now = new Date("2026-06-01T00:00:00Z");
    const published: string[] = [];
    const rotated: string[] = [];
    const keeper = new CertKeeper({
      dnsNames: ["agent-warden-webhook.agent-warden.svc"],
      ipAddresses: ["127.0.0.1"],
      caTTLms: 30 * HOUR,
      certTTLms: 3 * HOUR,
      log,
      now: () => now,
      checkEveryMs: 3_600_000, // checks are driven by hand below
      propagationDelayMs: 0,
      publishCABundle: async (pem) => {
        // the CA being published is never the one currently signing: publication comes first
        published.push(pem);
      },
      onRotate: (tls) => rotated.push(tls.certPem),
    });
    const first = await keeper.start();
    expect(published).toHaveLength(1);
    const leaf = certsFromPem(first.certPem)[0]!;
    expect(leaf.issuer).toBe(certsFromPem(published[0]!)[0]!.subject);

    now = new Date(now.getTime() + 1 * HOUR); // 1/3 of the cert's life: nothing happens
    await keeper.check();
    expect(rotated).toHaveLength(1);

    now = new Date(now.getTime() + 1.1 * HOUR); // past 2/3: new serving cert, same CA
    await keeper.check();
    expect(rotated).toHaveLength(2);
    expect(published).toHaveLength(1);
    expect(certsFromPem(rotated[1]!)[0]!.serialNumber).not.toBe(leaf.serialNumber);

    now = new Date(new Date("2026-06-01T00:00:00Z").getTime() + 21 * HOUR); // CA past 2/3
    await keeper.check();
    expect(published).toHaveLength(2);
    expect(published[1]).not.toBe(published[0]);
    const newLeaf = certsFromPem(rotated[rotated.length - 1]!)[0]!;
    expect(newLeaf.issuer).toBe(certsFromPem(published[1]!)[0]!.subject);
    expect(keeper.caPem).toBe(published[1]);
    keeper.stop();
  });

  it("swaps the certificate on a live server without a restart", async () => {
    const keeper = new CertKeeper({
      dnsNames: [],
      ipAddresses: ["127.0.0.1"],
      caTTLms: HOUR,
      certTTLms: HOUR,
      log,
      checkEveryMs: HOUR,
    });
    const tls = await keeper.start();
    const server = await startWebhookServer({
      tls,
      source: new StaticContextSource([]),
      sidecar: CFG,
      settings: engineSettings(CFG),
      registry: new Registry(),
      log,
    });
    try {
      const before = await servedSerial(server.url, keeper.caPem);
      const keeper2 = new CertKeeper({
        dnsNames: [],
        ipAddresses: ["127.0.0.1"],
        caTTLms: HOUR,
        certTTLms: HOUR,
        log,
        checkEveryMs: HOUR,
      });
      const next = await keeper2.start();
      server.setCertificate(next);
      const after = await servedSerial(server.url, keeper2.caPem);
      expect(after).not.toBe(before);
      keeper2.stop();
    } finally {
      keeper.stop();
      await server.close();
    }
  });

  it("mergeBundle keeps every live CA once and drops expired ones", async () => {
    const mk = async (ttl: number) => {
      const k = new CertKeeper({
        dnsNames: [],
        ipAddresses: ["127.0.0.1"],
        caTTLms: ttl,
        certTTLms: ttl / 2,
        log,
        checkEveryMs: HOUR,
      });
      await k.start();
      k.stop();
      return k.caPem;
    };
    const a = await mk(HOUR);
    const b = await mk(2 * HOUR);
    const both = mergeBundle(a, b, new Date());
    expect(certsFromPem(both)).toHaveLength(2);
    expect(certsFromPem(mergeBundle(both, a, new Date()))).toHaveLength(2);
    const later = new Date(Date.now() + 1.5 * HOUR);
    expect(certsFromPem(mergeBundle(both, "", later))).toHaveLength(1);
  });
});
