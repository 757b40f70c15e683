// Probes and metrics on one small express server (low rates; DESIGN.md §4 keeps express off the
// gateway's hot path only). /healthz: the process is alive. /readyz: every registered check passes
// (informers synced on the leader, identity services up). /metrics: prom-client text format.
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import type { Registry } from "prom-client";

export type ReadinessCheck = () => { ok: boolean; detail?: string };

export interface ProbeServer {
  port: number;
  close(): Promise<void>;
}

export async function startProbeServer(opts: {
  host: string;
  port: number;
  registry: Registry;
  checks: Record<string, ReadinessCheck>;
}): Promise<ProbeServer> {
  const app = express();
  app.disable("x-powered-by");
  app.get("/healthz", (_req, res) => {
    res.type("text/plain").send("ok");
  });
  app.get("/readyz", (_req, res) => {
    const failed: string[] = [];
    for (const [name, check] of Object.entries(opts.checks)) {
      const r = check();
      if (!r.ok) failed.push(r.detail ? `${name}: ${r.detail}` : name);
    }
    if (failed.length > 0)
      res
        .status(503)
        .type("text/plain")
        .send(`not ready: ${failed.join("; ")}`);
    else res.type("text/plain").send("ok");
  });
  app.get("/metrics", async (_req, res) => {
    res.type(opts.registry.contentType).send(await opts.registry.metrics());
  });
  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(opts.port, opts.host, (err?: Error) => (err ? reject(err) : resolve(s)));
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}
