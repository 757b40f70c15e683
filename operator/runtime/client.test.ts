import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TokenBucket } from "../../lib/token-bucket.ts";
import { rateLimitedClients, SSA } from "./client.ts";
import { createMetrics } from "./metrics.ts";

// A tiny HTTP stand-in for the API server: enough to see what the client really sends.
let server: Server;
let kc: k8s.KubeConfig;
const seen: { method: string; url: string; contentType: string | undefined }[] = [];

beforeAll(async () => {
  server = createServer((req: IncomingMessage, res) => {
    req.resume();
    req.on("end", () => {
      seen.push({ method: req.method ?? "", url: req.url ?? "", contentType: req.headers["content-type"] });
      res.setHeader("content-type", "application/json");
      if (req.url?.includes("missing")) {
        res.statusCode = 404;
        res.end(
          JSON.stringify({
            kind: "Status",
            apiVersion: "v1",
            status: "Failure",
            code: 404,
            reason: "NotFound",
          }),
        );
        return;
      }
      res.end(JSON.stringify({ apiVersion: "v1", kind: "Namespace", metadata: { name: "ns" } }));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  kc = new k8s.KubeConfig();
  kc.loadFromClusterAndUser(
    { name: "c", server: `http://127.0.0.1:${port}`, skipTLSVerify: true },
    { name: "u" },
  );
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe("rateLimitedClients", () => {
  it("waits for the token bucket on every call and counts requests by verb and code", async () => {
    const metrics = createMetrics();
    const core = rateLimitedClients(kc, new TokenBucket(40, 1), metrics).make(k8s.CoreV1Api);
    const started = performance.now();
    for (let i = 0; i < 5; i++) await core.readNamespace({ name: "ns" });
    await expect(core.readNamespace({ name: "missing" })).rejects.toThrow();
    // 1 burst token, then 5 waits of 25 ms.
    expect(performance.now() - started).toBeGreaterThanOrEqual(115);
    const text = await metrics.registry.metrics();
    expect(text).toContain('warden_operator_api_requests_total{verb="GET",code="200"} 5');
    expect(text).toContain('warden_operator_api_requests_total{verb="GET",code="404"} 1');
  });

  it("sends server-side apply with the apply content type and field manager", async () => {
    const core = rateLimitedClients(kc, new TokenBucket(100, 10)).make(k8s.CoreV1Api);
    seen.length = 0;
    await core.patchNamespace(
      { name: "ns", body: { metadata: { labels: { a: "b" } } }, fieldManager: "fm", force: true },
      SSA,
    );
    expect(seen[0]?.method).toBe("PATCH");
    expect(seen[0]?.contentType).toBe("application/apply-patch+yaml");
    expect(seen[0]?.url).toContain("fieldManager=fm");
    expect(seen[0]?.url).toContain("force=true");
  });
});
