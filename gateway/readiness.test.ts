// Inbound mode waits for its first SVID before the mTLS listener can start. The admin listener
// must already answer then: kubelet probes get "not ready" with the reasons, not ECONNREFUSED.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { request } from "undici";
import { describe, expect, it } from "vitest";
import type { InboundPolicy } from "../api/v1alpha1/policy.ts";
import { issueFor, testCA } from "../lib/identity/testing.ts";
import { createLogger } from "../lib/log.ts";
import { parseConfig } from "./config.ts";
import { type RunningGateway, startGateway } from "./server.ts";

const readyz = async (adminURL: string) => {
  const r = await request(`${adminURL}/readyz`);
  return { status: r.statusCode, body: (await r.body.json()) as { ready: boolean; reasons: string[] } };
};

describe("inbound readiness before the first SVID", () => {
  it("answers /readyz 503 with the reasons until SVID and policy are loaded, then 200", async () => {
    const dir = mkdtempSync(join(tmpdir(), "warden-ready-"));
    const ca = await testCA("example.org");
    const svid = await issueFor(ca, "spiffe://example.org/ns/tools/sa/web-tools");
    writeFileSync(join(dir, "bundle.pem"), ca.certPem);
    let adminURL: string | undefined;
    const started = startGateway(
      parseConfig({
        mode: "inbound",
        listen: "127.0.0.1:0",
        adminListen: "127.0.0.1:0",
        policyFile: join(dir, "policy.json"), // not there yet
        bundleFile: join(dir, "bundle.pem"),
        auditFile: join(dir, "audit.jsonl"),
        svidCertFile: join(dir, "tls.crt"), // not there yet
        svidKeyFile: join(dir, "tls.key"),
        upstream: "http://127.0.0.1:9",
        trustDomain: "example.org",
      }),
      {
        log: createLogger("gateway-test", { level: "error", write: () => {} }),
        onAdminListening: (u) => {
          adminURL = u;
        },
      },
    );
    let gw: RunningGateway | undefined;
    void started.then((g) => {
      gw = g;
    });
    await expect.poll(() => adminURL, { timeout: 5000, interval: 10 }).toBeDefined();
    expect((await request(`${adminURL}/healthz`)).statusCode).toBe(200);
    const before = await readyz(adminURL!);
    expect(before.status).toBe(503);
    expect(before.body.ready).toBe(false);
    expect(before.body.reasons).toContain("no valid SVID");
    expect(before.body.reasons).toContain("the main listener is not started yet");
    expect(before.body.reasons.join("\n")).toMatch(/policy file .*policy\.json cannot be read: ENOENT/);
    expect(gw).toBeUndefined();

    const policy: InboundPolicy = {
      apiVersion: "warden.dev/v1alpha1",
      kind: "InboundPolicy",
      version: "in-1",
      manifest: "web-tools",
      namespace: "tools",
      allowedCallers: ["spiffe://example.org/ns/agents/sa/researcher"],
    };
    writeFileSync(join(dir, "policy.json"), JSON.stringify(policy));
    writeFileSync(join(dir, "tls.key"), svid.keyPem);
    writeFileSync(join(dir, "tls.crt"), svid.chainPem);
    const running = await started;
    try {
      await expect
        .poll(async () => (await readyz(adminURL!)).status, { timeout: 5000, interval: 50 })
        .toBe(200);
      expect(running.adminURL).toBe(adminURL);
      expect(running.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      // Every SVID taken into use is counted (and logged): the first, then each rotation.
      const rotations = async () => {
        const text = await (await request(`${adminURL}/metrics`)).body.text();
        return Number(/^warden_gateway_svid_rotations_total (\d+)$/m.exec(text)?.[1] ?? "NaN");
      };
      expect(await rotations()).toBe(1);
      const next = await issueFor(ca, "spiffe://example.org/ns/tools/sa/web-tools");
      writeFileSync(join(dir, "tls.key"), next.keyPem);
      writeFileSync(join(dir, "tls.crt"), next.chainPem);
      await expect.poll(rotations, { timeout: 10_000, interval: 100 }).toBe(2);
    } finally {
      await running.close();
    }
  });
});
