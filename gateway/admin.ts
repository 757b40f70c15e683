// The admin listener: /healthz, /readyz, /metrics and the approval channel (/approvals).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { ApprovalBroker } from "./approvals.ts";
import { header, readBody, sendJson } from "./http-util.ts";
import type { GatewayMetrics } from "./metrics.ts";

export interface AdminDeps {
  ready: () => { ready: boolean; reasons: string[] };
  metrics: GatewayMetrics;
  beforeScrape: () => void;
  approvals: ApprovalBroker | undefined;
}

export function createAdminServer(deps: AdminDeps): Server {
  return createServer((req, res) => {
    route(deps, req, res).catch(() => {
      if (!res.headersSent) sendJson(res, 500, { error: "internal error" });
    });
  });
}

async function route(deps: AdminDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? "").split("?")[0] ?? "";
  if (path === "/healthz") return sendJson(res, 200, { ok: true });
  if (path === "/readyz") {
    const r = deps.ready();
    return sendJson(res, r.ready ? 200 : 503, r);
  }
  if (path === "/metrics") {
    deps.beforeScrape();
    const text = await deps.metrics.registry.metrics();
    res.writeHead(200, { "content-type": deps.metrics.registry.contentType });
    res.end(text);
    return;
  }
  if (path === "/approvals" || path.startsWith("/approvals/")) {
    const broker = deps.approvals;
    if (!broker) return sendJson(res, 404, { error: "approvals are handled by the outbound gateway only" });
    const approver = broker.authenticate(header(req, "authorization"));
    if (!approver) {
      req.resume();
      return sendJson(
        res,
        401,
        { error: "an approver bearer token is required (Authorization: Bearer <token>)" },
        { "www-authenticate": "Bearer" },
      );
    }
    if (path === "/approvals" && req.method === "GET")
      return sendJson(res, 200, { approver, pending: broker.list() });
    const id = path.slice("/approvals/".length);
    if (req.method === "POST" && /^[0-9a-f-]{36}$/.test(id)) {
      let body: unknown;
      try {
        body = JSON.parse(await readBody(req, 16 * 1024));
      } catch {
        return sendJson(res, 400, {
          error: 'body must be JSON: {"decision":"approve"|"deny","argsHash":"sha256:…"}',
        });
      }
      const r = broker.answer(id, approver, body);
      return sendJson(
        res,
        r.status,
        r.status === 200 ? { ok: true, message: r.message } : { error: r.message },
      );
    }
    req.resume();
    return sendJson(res, 405, { error: "use GET /approvals or POST /approvals/<id>" });
  }
  req.resume();
  sendJson(res, 404, { error: "not found" });
}
