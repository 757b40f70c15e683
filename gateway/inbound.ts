// Inbound mode: in front of a tool server. The TLS layer (node:https with requestCert and
// rejectUnauthorized) has already verified the caller's chain against the trust bundle; here the
// caller's SPIFFE ID must be one the InboundPolicy admits. This is what makes skipping the
// outbound sidecar useless: the tool server is reachable only with a gateway SVID.
import type { IncomingMessage, ServerResponse } from "node:http";
import { performance } from "node:perf_hooks";
import type { TLSSocket } from "node:tls";
import { type Dispatcher, request as undiciRequest } from "undici";
import type { InboundPolicy } from "../api/v1alpha1/policy.ts";
import type { Logger } from "../lib/log.ts";
import type { AuditWriter } from "./audit/writer.ts";
import { type Deny, deny } from "./decide/deny.ts";
import { header, sendDeny } from "./http-util.ts";
import { SessionOwners } from "./inbound-sessions.ts";
import type { GatewayMetrics } from "./metrics.ts";
import type { PolicyStore } from "./policy-store.ts";
import type { SvidSource } from "./svid/source.ts";
import { peerSpiffeID } from "./upstream.ts";

export const CALLER_HEADER = "x-warden-caller-spiffe-id";
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "transfer-encoding",
  "upgrade",
  "te",
  "trailer",
  "proxy-authorization",
  "proxy-connection",
  "host",
  CALLER_HEADER,
]);

export interface InboundContext {
  upstream: string;
  policy: PolicyStore<InboundPolicy>;
  svid: SvidSource;
  audit: AuditWriter;
  metrics: GatewayMetrics;
  log: Logger;
}

export class InboundHandler {
  readonly #ctx: InboundContext;
  readonly #base: URL;
  readonly #sessions = new SessionOwners();

  constructor(ctx: InboundContext) {
    this.#ctx = ctx;
    this.#base = new URL(ctx.upstream);
  }

  handle = (req: IncomingMessage, res: ServerResponse): void => {
    this.#handle(req, res).catch((e: unknown) => {
      this.#ctx.log.error("inbound handler failed", { err: e });
      if (!res.headersSent) sendDeny(res, null, deny("InternalError", "internal gateway error"), 500);
      else res.destroy();
    });
  };

  #record(
    start: number,
    caller: string,
    method: string,
    manifest: string,
    decision: string,
    rule: string,
    upstreamStatus: number | null,
    constraint?: string,
    phase?: "intent" | "outcome",
  ): Promise<boolean> {
    const latencyMs = Math.round((performance.now() - start) * 1000) / 1000;
    const fields = {
      time: new Date().toISOString(),
      agent: caller,
      taskId: null,
      manifest,
      method,
      tool: null,
      argsHash: null,
      args: null,
      decision,
      rule,
      ...(constraint ? { constraint } : {}),
      latencyMs,
      upstreamStatus,
      traceId: null,
      ...(phase ? { detail: { phase } } : {}),
    };
    // Write-ahead: the intent is awaited until it is on disk; other records are queued.
    if (phase === "intent") return this.#ctx.audit.appendDurable(fields);
    this.#ctx.metrics.calls.inc({ decision, reason: rule, tool: "none" });
    this.#ctx.metrics.latency.observe({ decision }, latencyMs / 1000);
    return Promise.resolve(this.#ctx.audit.append(fields));
  }

  #gate(caller: string | undefined): { deny: Deny; status: number } | { manifest: string } {
    const st = this.#ctx.policy.state;
    if (!st.ok) return { deny: deny("PolicyUnavailable", st.reason), status: 503 };
    const manifest = st.policy.manifest;
    if (this.#ctx.svid.secondsLeft() <= 0)
      return { deny: deny("SvidExpired", "the gateway has no valid SVID", manifest), status: 503 };
    if (!this.#ctx.audit.accepting())
      return { deny: deny("AuditUnavailable", this.#ctx.audit.refusal(), manifest), status: 503 };
    if (!caller)
      return {
        deny: deny("CallerNotAllowed", "the client certificate carries no SPIFFE ID", manifest),
        status: 403,
      };
    if (!st.policy.allowedCallers.includes(caller)) {
      return {
        deny: deny(
          "CallerNotAllowed",
          `caller ${caller} is not allowed by ToolManifest ${manifest}`,
          manifest,
        ),
        status: 403,
      };
    }
    return { manifest };
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const start = performance.now();
    const sock = req.socket as TLSSocket;
    const caller = sock.authorized ? peerSpiffeID(sock.getPeerCertificate()) : undefined;
    const method = `http:${req.method}`;
    const g = this.#gate(caller);
    if ("deny" in g) {
      req.resume();
      const st = this.#ctx.policy.state;
      void this.#record(
        start,
        caller ?? "unauthenticated",
        method,
        st.ok ? st.policy.manifest : "",
        "deny",
        g.deny.rule,
        null,
        g.deny.constraint,
      );
      sendDeny(res, null, g.deny, g.status);
      return;
    }
    const sid = header(req, "mcp-session-id");
    const notOwned = this.#sessions.check(caller!, sid, header(req, "last-event-id"), g.manifest);
    if (notOwned) {
      req.resume();
      void this.#record(start, caller!, method, g.manifest, "deny", notOwned.rule, null, notOwned.constraint);
      sendDeny(res, null, notOwned, notOwned.rule === "SessionNotFound" ? 404 : 400);
      return;
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (v === undefined || HOP_BY_HOP.has(k)) continue;
      headers[k] = Array.isArray(v) ? v.join(",") : v;
    }
    headers[CALLER_HEADER] = caller!;
    if (
      !(await this.#record(
        start,
        caller!,
        method,
        g.manifest,
        "allow",
        "CallerAllowed",
        null,
        undefined,
        "intent",
      ))
    ) {
      req.resume();
      sendDeny(res, null, deny("AuditUnavailable", this.#ctx.audit.refusal(), g.manifest), 503);
      return;
    }
    const target = new URL(req.url ?? "/", this.#base);
    const abort = new AbortController();
    res.on("close", () => {
      if (!res.writableFinished) abort.abort();
    });
    let up: Dispatcher.ResponseData;
    try {
      up = await undiciRequest(target, {
        method: req.method as Dispatcher.HttpMethod,
        headers,
        body: req.method === "GET" || req.method === "HEAD" || req.method === "DELETE" ? null : req,
        signal: abort.signal,
      });
    } catch (e) {
      this.#ctx.metrics.upstreamErrors.inc({ kind: "connect" });
      void this.#record(
        start,
        caller!,
        method,
        g.manifest,
        "allow",
        "CallerAllowed",
        null,
        undefined,
        "outcome",
      );
      sendDeny(
        res,
        null,
        deny(
          "UpstreamUnavailable",
          `the local tool server did not answer: ${(e as Error).message}`,
          g.manifest,
          -32002,
        ),
        502,
      );
      return;
    }
    this.#sessions.learn(caller!, sid, up.headers["mcp-session-id"]);
    if (req.method === "DELETE" && sid && up.statusCode < 300) this.#sessions.forget(sid);
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(up.headers)) {
      if (v === undefined || HOP_BY_HOP.has(k) || k === "set-cookie") continue;
      out[k] = Array.isArray(v) ? v.join(",") : v;
    }
    res.writeHead(up.statusCode, out);
    res.flushHeaders();
    void this.#record(
      start,
      caller!,
      method,
      g.manifest,
      "allow",
      "CallerAllowed",
      up.statusCode,
      undefined,
      "outcome",
    );
    try {
      for await (const chunk of up.body) res.write(chunk);
    } catch {
      // upstream or client went away
    }
    res.end();
  }
}
