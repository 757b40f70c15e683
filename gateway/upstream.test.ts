// Regression (found by the e2e tier on a real node): under load, an SVID rotation closed the old
// mTLS Agent at once, and calls that had taken it before the rotation failed with undici's
// "The client is closed" (UpstreamUnavailable) instead of finishing on the old credentials.
import { describe, expect, it } from "vitest";
import type { Svid } from "./svid/source.ts";
import { UpstreamClients } from "./upstream.ts";

const svid = (n: number): Svid => ({
  certChainPem: `cert-${n}`,
  keyPem: `key-${n}`,
  bundlePem: "bundle",
  spiffeID: "spiffe://example.org/ns/a/sa/b",
  notAfter: new Date(Date.now() + 60_000),
});

describe("UpstreamClients across an SVID rotation", () => {
  it("keeps a replaced Agent open for the grace period, then closes it; new calls get a new Agent", async () => {
    const clients = new UpstreamClients("example.org", 1000, () => {}, 200);
    clients.update(svid(1), "bundle");
    const before = clients.get("spiffe://example.org/ns/t/sa/server");
    expect(before).toBeDefined();
    clients.update(svid(2), "bundle");
    // Taken before the rotation, dispatched after: still usable.
    expect(before?.closed).toBe(false);
    const after = clients.get("spiffe://example.org/ns/t/sa/server");
    expect(after).not.toBe(before);
    await expect.poll(() => before?.closed, { timeout: 5000, interval: 20 }).toBe(true);
    expect(after?.closed).toBe(false);
    await clients.close();
    expect(after?.closed).toBe(true);
  });

  it("close() also closes Agents still in their grace period", async () => {
    const clients = new UpstreamClients("example.org", 1000, () => {}, 60_000);
    clients.update(svid(1), "bundle");
    const old = clients.get(undefined);
    clients.update(svid(2), "bundle");
    expect(old?.closed).toBe(false);
    await clients.close();
    expect(old?.closed).toBe(true);
  });
});
