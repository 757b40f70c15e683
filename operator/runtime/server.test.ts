import { describe, expect, it } from "vitest";
import { createMetrics } from "./metrics.ts";
import { startProbeServer } from "./server.ts";

describe("probe server", () => {
  it("serves /healthz, /readyz from its checks and /metrics", async () => {
    const metrics = createMetrics();
    metrics.leader.set(1);
    let synced = false;
    const srv = await startProbeServer({
      host: "127.0.0.1",
      port: 0,
      registry: metrics.registry,
      checks: { informers: () => ({ ok: synced, detail: "waiting for the first LIST" }) },
    });
    const base = `http://127.0.0.1:${srv.port}`;
    try {
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      const notReady = await fetch(`${base}/readyz`);
      expect(notReady.status).toBe(503);
      expect(await notReady.text()).toContain("informers: waiting for the first LIST");
      synced = true;
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
      const text = await (await fetch(`${base}/metrics`)).text();
      expect(text).toContain("warden_operator_leader 1");
    } finally {
      await srv.close();
    }
  });
});
