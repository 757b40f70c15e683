// The webhook's HTTPS server: /validate, /mutate, /healthz, /readyz, /metrics. express 5 is fine at
// admission rates (DESIGN.md §4). Every malformed request gets a clear answer and never a crash;
// TLS 1.2 is the floor and the certificate can be swapped live when it rotates.
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import express, { type NextFunction, type Request, type Response } from "express";
import type { Registry } from "prom-client";
import type { Logger } from "../lib/log.ts";
import {
  type AdmissionRequest,
  mutate,
  parseReview,
  type ReviewOutcome,
  reviewEnvelope,
  validate,
} from "./admission.ts";
import type { ContextSource, EngineSettings } from "./context.ts";
import { webhookMetrics } from "./metrics.ts";
import type { SidecarConfig } from "./sidecar-config.ts";

export interface TlsMaterial {
  keyPem: string;
  certPem: string;
}

export interface WebhookServerOptions {
  host?: string;
  port?: number;
  tls: TlsMaterial;
  source: ContextSource;
  sidecar: SidecarConfig;
  settings: EngineSettings;
  registry: Registry;
  log: Logger;
  /** Largest accepted body; the API server sends at most a few MiB (object + oldObject). */
  bodyLimitBytes?: number;
  now?: () => Date;
}

export interface WebhookServer {
  url: string;
  port: number;
  server: Server;
  setReady(ready: boolean): void;
  setCertificate(tls: TlsMaterial): void;
  close(): Promise<void>;
}

export const DEFAULT_BODY_LIMIT = 8 * 1024 * 1024;

export function webhookApp(
  opts: Omit<WebhookServerOptions, "tls" | "host" | "port">,
  isReady: () => boolean,
) {
  const metrics = webhookMetrics(opts.registry);
  const app = express();
  app.disable("x-powered-by");
  const limit = opts.bodyLimitBytes ?? DEFAULT_BODY_LIMIT;

  const requireJson = (req: Request, res: Response, next: NextFunction) => {
    const type = req.headers["content-type"] ?? "";
    if (!/^application\/json(\s*;|$)/i.test(type)) {
      res.status(415).json({ error: `content-type must be application/json, got "${type || "none"}"` });
      return;
    }
    next();
  };

  const handle =
    (
      endpoint: "validate" | "mutate",
      answer: (r: AdmissionRequest) => Promise<ReviewOutcome> | ReviewOutcome,
    ) =>
    async (req: Request, res: Response) => {
      const end = metrics.duration.startTimer({ endpoint });
      const parsed = parseReview(req.body);
      if (!parsed.ok) {
        metrics.reviews.inc({ endpoint, operation: "unknown", result: "error" });
        end();
        // With a uid the API server can match an AdmissionReview answer; without one it cannot,
        // so the error goes back as plain HTTP 400 (and failurePolicy decides).
        if (parsed.uid) {
          res.json(
            reviewEnvelope({
              uid: parsed.uid,
              allowed: false,
              status: { code: 400, message: parsed.message },
            }),
          );
        } else {
          res.status(400).json({ error: parsed.message });
        }
        return;
      }
      const r = parsed.request;
      let outcome: ReviewOutcome;
      try {
        outcome = await answer(r);
      } catch (err) {
        opts.log.error("review failed", { endpoint, err });
        outcome = {
          response: {
            uid: r.uid,
            allowed: false,
            status: { code: 500, message: `agent-warden internal error: ${(err as Error).message}` },
          },
          result: "error",
          rules: [],
        };
      }
      metrics.reviews.inc({ endpoint, operation: r.operation, result: outcome.result });
      for (const rule of outcome.rules) metrics.violations.inc({ rule });
      end();
      opts.log.info("review", {
        endpoint,
        uid: r.uid,
        operation: r.operation,
        kind: r.kind.kind,
        sub: r.subResource,
        namespace: r.namespace,
        name: r.name,
        dryRun: r.dryRun,
        result: outcome.result,
        rules: outcome.rules,
      });
      res.json(reviewEnvelope(outcome.response));
    };

  const json = express.json({ limit, type: () => true, strict: false });
  const deps = { source: opts.source, settings: opts.settings, ...(opts.now ? { now: opts.now } : {}) };
  app.post(
    "/validate",
    requireJson,
    json,
    handle("validate", (r) => validate(r, deps)),
  );
  app.post(
    "/mutate",
    requireJson,
    json,
    handle("mutate", (r) => mutate(r, opts.sidecar, opts.source)),
  );
  app.get("/healthz", (_req, res) => {
    res.type("text/plain").send("ok");
  });
  app.get("/readyz", (_req, res) => {
    if (isReady()) res.type("text/plain").send("ok");
    else res.status(503).type("text/plain").send("not ready");
  });
  app.get("/metrics", async (_req, res) => {
    res.type(opts.registry.contentType).send(await opts.registry.metrics());
  });
  app.use((_req: Request, res: Response) => {
    res
      .status(404)
      .json({ error: "not found: use POST /validate or /mutate, GET /healthz, /readyz or /metrics" });
  });
  // Body parser errors (too large, bad JSON) end here, as JSON with the right status.
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const e = err as { type?: string; status?: number; message?: string };
    const status =
      e.type === "entity.too.large" ? 413 : typeof e.status === "number" && e.status < 500 ? e.status : 500;
    const message =
      e.type === "entity.too.large"
        ? `request body exceeds the ${limit} byte limit`
        : e.type === "entity.parse.failed"
          ? `request body is not valid JSON: ${e.message}`
          : `cannot read request: ${e.message ?? String(err)}`;
    if (status >= 500) opts.log.error("request failed", { err });
    metrics.reviews.inc({ endpoint: "unknown", operation: "unknown", result: "error" });
    res.status(status).json({ error: message });
  });
  return app;
}

export async function startWebhookServer(opts: WebhookServerOptions): Promise<WebhookServer> {
  let ready = false;
  const app = webhookApp(opts, () => ready);
  const server = createServer({ key: opts.tls.keyPem, cert: opts.tls.certPem, minVersion: "TLSv1.2" }, app);
  // The API server calls with a 5 s budget; a slow client must not hold sockets for long.
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, opts.host ?? "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const host = opts.host ?? "127.0.0.1";
  return {
    url: `https://${host.includes(":") ? `[${host}]` : host}:${port}`,
    port,
    server,
    setReady: (r) => {
      ready = r;
    },
    setCertificate: (tls) => {
      server.setSecureContext({ key: tls.keyPem, cert: tls.certPem, minVersion: "TLSv1.2" });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
