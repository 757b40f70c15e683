// The webhook's HTTPS server: /validate, /mutate, and (also on their own plain-HTTP port when one is
// configured) /healthz, /readyz, /metrics. Plain node:https with a fixed route table: the API
// server waits on every admission call, and express's per-request machinery cost more CPU than the
// rules themselves (issue 16). Every malformed request gets a clear answer and never a crash; TLS
// 1.2 is the floor and the certificate can be swapped live when it rotates.
import {
  createServer as createHttpServer,
  type Server as HttpServer,
  type IncomingMessage,
  type ServerResponse,
} from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";
import { BodyTooLarge, readBodyBytes } from "../lib/http-body.ts";
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
  /**
   * Serve /healthz, /readyz and /metrics on this plain-HTTP port too (kubelet probes and scrapes
   * then cost no TLS handshake and never queue behind admission traffic). Undefined: none.
   */
  probePort?: number;
  probeHost?: string;
  now?: () => Date;
}

export interface WebhookServer {
  url: string;
  port: number;
  server: Server;
  setReady(ready: boolean): void;
  setCertificate(tls: TlsMaterial): void;
  /** Port of the plain-HTTP probe server, when one was asked for. */
  probePort?: number;
  close(): Promise<void>;
}

export const DEFAULT_BODY_LIMIT = 8 * 1024 * 1024;

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

function sendJSON(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

function sendText(
  res: ServerResponse,
  status: number,
  text: string,
  type = "text/plain; charset=utf-8",
): void {
  res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(text) });
  res.end(text);
}

class BodyError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** Reads the whole body, refusing more than `limit` bytes; errors carry the HTTP status to answer. */
async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  try {
    return await readBodyBytes(req, limit);
  } catch (err) {
    if (err instanceof BodyTooLarge) throw new BodyError(413, `request body exceeds the ${limit} byte limit`);
    throw new BodyError(400, `cannot read request: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** The routes of the admission server (and of the probe server, which gets only the GETs). */
export function webhookHandler(
  opts: Omit<WebhookServerOptions, "tls" | "host" | "port" | "probePort" | "probeHost">,
  isReady: () => boolean,
): { admission: Handler; probes: Handler } {
  const metrics = webhookMetrics(opts.registry);
  const limit = opts.bodyLimitBytes ?? DEFAULT_BODY_LIMIT;
  const deps = { source: opts.source, settings: opts.settings, ...(opts.now ? { now: opts.now } : {}) };
  const answers = {
    validate: (r: AdmissionRequest) => validate(r, deps),
    mutate: (r: AdmissionRequest) => mutate(r, opts.sidecar, opts.source),
  };

  const review = async (endpoint: "validate" | "mutate", req: IncomingMessage, res: ServerResponse) => {
    const type = req.headers["content-type"] ?? "";
    if (!/^application\/json(\s*;|$)/i.test(type)) {
      req.resume();
      sendJSON(res, 415, { error: `content-type must be application/json, got "${type || "none"}"` });
      return;
    }
    let body: unknown;
    try {
      const raw = await readBody(req, limit);
      try {
        body = raw.length === 0 ? undefined : JSON.parse(raw.toString("utf8"));
      } catch (err) {
        throw new BodyError(400, `request body is not valid JSON: ${(err as Error).message}`);
      }
    } catch (err) {
      const e = err instanceof BodyError ? err : new BodyError(500, `cannot read request: ${String(err)}`);
      if (e.status >= 500) opts.log.error("request failed", { err });
      metrics.reviews.inc({ endpoint: "unknown", operation: "unknown", result: "error" });
      if (e.status === 413) res.setHeader("connection", "close");
      sendJSON(res, e.status, { error: e.message });
      return;
    }
    const end = metrics.duration.startTimer({ endpoint });
    const parsed = parseReview(body);
    if (!parsed.ok) {
      metrics.reviews.inc({ endpoint, operation: "unknown", result: "error" });
      end();
      // With a uid the API server can match an AdmissionReview answer; without one it cannot,
      // so the error goes back as plain HTTP 400 (and failurePolicy decides).
      if (parsed.uid) {
        sendJSON(
          res,
          200,
          reviewEnvelope({ uid: parsed.uid, allowed: false, status: { code: 400, message: parsed.message } }),
        );
      } else sendJSON(res, 400, { error: parsed.message });
      return;
    }
    const r = parsed.request;
    let outcome: ReviewOutcome;
    try {
      outcome = await answers[endpoint](r);
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
    sendJSON(res, 200, reviewEnvelope(outcome.response));
  };

  const notFound = (req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    sendJSON(res, 404, {
      error: "not found: use POST /validate or /mutate, GET /healthz, /readyz or /metrics",
    });
  };

  const probes: Handler = (req, res) => {
    const path = (req.url ?? "/").split("?", 1)[0];
    if (req.method !== "GET" && req.method !== "HEAD") return notFound(req, res);
    if (path === "/healthz") return sendText(res, 200, "ok");
    if (path === "/readyz") return isReady() ? sendText(res, 200, "ok") : sendText(res, 503, "not ready");
    if (path === "/metrics") {
      opts.registry.metrics().then(
        (text) => sendText(res, 200, text, opts.registry.contentType),
        (err: unknown) => sendText(res, 500, `cannot render metrics: ${(err as Error).message}`),
      );
      return;
    }
    notFound(req, res);
  };

  const admission: Handler = (req, res) => {
    const path = (req.url ?? "/").split("?", 1)[0];
    if (req.method === "POST" && (path === "/validate" || path === "/mutate")) {
      review(path === "/validate" ? "validate" : "mutate", req, res).catch((err: unknown) => {
        opts.log.error("request failed", { err });
        if (!res.headersSent) sendJSON(res, 500, { error: `cannot read request: ${(err as Error).message}` });
      });
      return;
    }
    probes(req, res);
  };
  return { admission, probes };
}

export async function startWebhookServer(opts: WebhookServerOptions): Promise<WebhookServer> {
  let ready = false;
  const { admission, probes } = webhookHandler(opts, () => ready);
  const server = createServer(
    { key: opts.tls.keyPem, cert: opts.tls.certPem, minVersion: "TLSv1.2" },
    admission,
  );
  // The API server calls with a 5 s budget; a slow client must not hold sockets for long.
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  const listen = (s: Server | HttpServer, port: number, host: string) =>
    new Promise<void>((resolve, reject) => {
      s.once("error", reject);
      s.listen(port, host, () => resolve());
    });
  const host = opts.host ?? "127.0.0.1";
  await listen(server, opts.port ?? 0, host);
  let probeServer: HttpServer | undefined;
  if (opts.probePort !== undefined) {
    probeServer = createHttpServer(probes);
    probeServer.requestTimeout = 10_000;
    probeServer.headersTimeout = 5_000;
    await listen(probeServer, opts.probePort, opts.probeHost ?? host);
  }
  const port = (server.address() as AddressInfo).port;
  const closeOne = (s: Server | HttpServer) =>
    new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  return {
    url: `https://${host.includes(":") ? `[${host}]` : host}:${port}`,
    port,
    server,
    ...(probeServer ? { probePort: (probeServer.address() as AddressInfo).port } : {}),
    setReady: (r) => {
      ready = r;
    },
    setCertificate: (tls) => {
      server.setSecureContext({ key: tls.keyPem, cert: tls.certPem, minVersion: "TLSv1.2" });
    },
    close: async () => {
      await Promise.all([closeOne(server), ...(probeServer ? [closeOne(probeServer)] : [])]);
    },
  };
}
