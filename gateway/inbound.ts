// Inbound mode: in front of a tool server. Every TLS connection is judged once, right after the
// handshake (onSecureConnection): OpenSSL's chain check against the trust bundle, then the
// X.509-SVID leaf profile on the caller's DER (lib/identity/tls.ts); a refused peer is counted,
// logged and audited with its reason and the connection closed before any HTTP is read. Then the
// caller's SPIFFE ID must be one the InboundPolicy admits. This is what makes skipping the
// outbound sidecar useless: the tool server is reachable only with a gateway SVID.
//
// What reaches the tool server is built, not copied: the request-target must be origin-form
// (a path on the one configured upstream, never another host), and caller-supplied identity and
// hop-by-hop headers are dropped; the only identity header is the one the gateway asserts.
import type { IncomingMessage, ServerResponse } from "node:http";
import { performance } from "node:perf_hooks";
import type { TLSSocket } from "node:tls";
import { type Dispatcher, request as undiciRequest } from "undici";
import type { InboundPolicy } from "../api/v1alpha1/policy.ts";
import { readBodyBytes } from "../lib/http-body.ts";
import { checkPeerSocket, type PeerRefusal } from "../lib/identity/tls.ts";
import type { Logger } from "../lib/log.ts";
import type { AuditWriter } from "./audit/writer.ts";
import { COALESCE_BYTES, relayBody } from "./body-relay.ts";
import { type Deny, deny } from "./decide/deny.ts";
import { header, sendDeny } from "./http-util.ts";
import { SessionOwners } from "./inbound-sessions.ts";
import type { GatewayMetrics } from "./metrics.ts";
import type { PolicyStore } from "./policy-store.ts";
import { RecordBudget, TLS_REFUSAL_RECORDS } from "./record-budget.ts";
import type { SvidSource } from "./svid/source.ts";

export const CALLER_HEADER = "x-warden-caller-spiffe-id";
/** Hop-by-hop headers (RFC 9110 §7.6.1) and others that describe this connection, not the call. */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "transfer-encoding",
  "upgrade",
  "te",
  "trailer",
  "proxy-authorization",
  "proxy-authenticate",
  "proxy-connection",
  "host",
]);
/** Headers through which a caller could claim an identity or origin that only a proxy may assert. */
const IDENTITY_HEADERS = new Set(["x-forwarded-client-cert", "x-spiffe-id", "x-client-cert", "forwarded"]);

/** Whether a request header must not reach the tool server. */
export function droppedRequestHeader(name: string, connectionTokens: ReadonlySet<string>): boolean {
  return (
    HOP_BY_HOP.has(name) ||
    IDENTITY_HEADERS.has(name) ||
    name.startsWith("x-warden-") ||
    name.startsWith("x-forwarded-") ||
    connectionTokens.has(name)
  );
}

/** Header names listed in Connection (RFC 9110 §7.6.1: those are hop-by-hop too). */
export function connectionTokens(value: string | string[] | undefined): Set<string> {
  const v = Array.isArray(value) ? value.join(",") : (value ?? "");
  return new Set(
    v
      .split(",")
      .map((t) => t.trim().toLowerCase())
      .filter(Boolean),
  );
}

/** RFC 3986 path and query characters, with "%" only as the start of a %XX escape. */
const ORIGIN_FORM =
  /^\/(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-Fa-f]{2})*(?:\?(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-Fa-f]{2})*)?$/;

/**
 * The request-target if it is a plain origin-form path (RFC 9112 §3.2.1), else why not. Refused:
 * "//host/x" (a network-path reference), absolute-form ("http://host/x"), authority-form
 * ("host:443"), asterisk-form ("*"), backslashes and whitespace (URL parsers read "\\" as "/"),
 * dot segments and percent-encoded "/", "\\" or "." (decoded by some servers into the above).
 */
export function originFormProblem(target: string | undefined): string | undefined {
  if (target === undefined || target === "") return "the request has no target";
  if (target.length > 8192) return "the request-target is longer than 8192 bytes";
  if (!target.startsWith("/")) return "only origin-form request-targets (/path?query) are accepted";
  if (target.startsWith("//"))
    return "a request-target must not start with '//' (it would name another host)";
  if (!ORIGIN_FORM.test(target))
    return "the request-target has characters outside RFC 3986 (backslash, whitespace, non-ASCII or a bare '%')";
  const path = target.split("?")[0]!;
  if (/%(2[fF]|5[cC]|2[eE])/.test(path))
    return "percent-encoded '/', '\\' or '.' is not accepted in the path";
  if (path.split("/").some((seg) => seg === "." || seg === ".."))
    return "dot segments are not accepted in the path";
  return undefined;
}

/** What every audit record of one inbound request shares. */
interface RequestRecord {
  start: number;
  caller: string;
  method: string;
  manifest: string;
}

export interface InboundContext {
  upstream: string;
  policy: PolicyStore<InboundPolicy>;
  svid: SvidSource;
  audit: AuditWriter;
  metrics: GatewayMetrics;
  log: Logger;
  /** Callers must be in this trust domain. */
  trustDomain?: string | undefined;
}

export class InboundHandler {
  readonly #ctx: InboundContext;
  readonly #base: URL;
  /** The verified caller of each TLS connection that passed onSecureConnection. */
  readonly #callers = new WeakMap<TLSSocket, string>();
  readonly #sessions = new SessionOwners();
  readonly #refusalRecords: RecordBudget;

  constructor(ctx: InboundContext) {
    this.#ctx = ctx;
    this.#base = new URL(ctx.upstream);
    this.#refusalRecords = new RecordBudget(TLS_REFUSAL_RECORDS);
  }

  /**
   * Judges a TLS connection right after its handshake (registered first on `secureConnection`, so
   * it runs before HTTP reads a byte): a peer that fails the chain or the SVID profile is counted,
   * logged, audited and disconnected.
   */
  onSecureConnection = (socket: TLSSocket): void => {
    const v = checkPeerSocket(socket, this.#ctx.trustDomain);
    if (v.ok) {
      this.#callers.set(socket, v.spiffeID);
      return;
    }
    this.refusePeer(v.refusal, v.message, socket.remoteAddress);
    socket.destroy();
  };

  /**
   * Counts every TLS-level refusal (also handshake errors); logs and audits them within a budget
   * (record-budget.ts), each record saying how many were only counted since the one before.
   */
  refusePeer(refusal: PeerRefusal, message: string, remoteAddress: string | undefined): void {
    this.#ctx.metrics.peerRefusals.inc({ side: "inbound", reason: refusal });
    const unrecordedBefore = this.#refusalRecords.admit();
    if (unrecordedBefore === undefined) return;
    this.#ctx.log.warn("TLS peer refused", { reason: refusal, message, remoteAddress, unrecordedBefore });
    const st = this.#ctx.policy.state;
    this.#ctx.audit.append({
      time: new Date().toISOString(),
      agent: "unauthenticated",
      taskId: null,
      manifest: st.ok ? st.policy.manifest : "",
      method: "tls:handshake",
      tool: null,
      argsHash: null,
      args: null,
      decision: "deny",
      rule: "PeerRefused",
      constraint: refusal,
      latencyMs: 0,
      upstreamStatus: null,
      traceId: null,
      detail: { message: message.slice(0, 500), remoteAddress: remoteAddress ?? null, unrecordedBefore },
    });
  }

  handle = (req: IncomingMessage, res: ServerResponse): void => {
    this.#handle(req, res).catch((e: unknown) => {
      this.#ctx.log.error("inbound handler failed", { err: e });
      if (!res.headersSent) sendDeny(res, null, deny("InternalError", "internal gateway error"), 500);
      else res.destroy();
    });
  };

  /** A refusal: queued, counted. */
  #recordDenied(at: RequestRecord, rule: string, constraint?: string): void {
    void this.#record(at, "deny", rule, null, constraint);
  }

  /**
   * The admitted call: its intent is on disk before the request leaves (false: the audit refused
   * it, so the call must not go); its outcome, with the upstream's status, is queued after.
   */
  #recordAllowed(at: RequestRecord, phase: "intent" | "outcome", upstreamStatus: number | null = null) {
    return this.#record(at, "allow", "CallerAllowed", upstreamStatus, undefined, phase);
  }

  #record(
    at: RequestRecord,
    decision: string,
    rule: string,
    upstreamStatus: number | null,
    constraint?: string,
    phase?: "intent" | "outcome",
  ): Promise<boolean> {
    const latencyMs = Math.round((performance.now() - at.start) * 1000) / 1000;
    const fields = {
      time: new Date().toISOString(),
      agent: at.caller,
      taskId: null,
      manifest: at.manifest,
      method: at.method,
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
    // Only a connection onSecureConnection accepted has a caller; any other is refused (fail closed).
    const caller = this.#callers.get(req.socket as TLSSocket);
    const method = `http:${req.method}`;
    const g = this.#gate(caller);
    if ("deny" in g) {
      req.resume();
      const st = this.#ctx.policy.state;
      this.#recordDenied(
        { start, caller: caller ?? "unauthenticated", method, manifest: st.ok ? st.policy.manifest : "" },
        g.deny.rule,
        g.deny.constraint,
      );
      sendDeny(res, null, g.deny, g.status);
      return;
    }
    const at: RequestRecord = { start, caller: caller!, method, manifest: g.manifest };
    const targetProblem = originFormProblem(req.url);
    if (targetProblem) {
      req.resume();
      this.#recordDenied(at, "BadRequestTarget");
      sendDeny(res, null, deny("BadRequestTarget", targetProblem, g.manifest), 400);
      return;
    }
    const sid = header(req, "mcp-session-id");
    const notOwned = this.#sessions.check(caller!, sid, header(req, "last-event-id"), g.manifest);
    if (notOwned) {
      req.resume();
      this.#recordDenied(at, notOwned.rule, notOwned.constraint);
      sendDeny(res, null, notOwned, notOwned.rule === "SessionNotFound" ? 404 : 400);
      return;
    }
    const dropped = connectionTokens(req.headers.connection);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (v === undefined || droppedRequestHeader(k, dropped)) continue;
      headers[k] = Array.isArray(v) ? v.join(",") : v;
    }
    headers[CALLER_HEADER] = caller!;
    // A small body with a declared length is read while the intent record is being synced and
    // sent as one buffer; any other body streams through.
    const declared = Number(req.headers["content-length"]);
    const bodyless = req.method === "GET" || req.method === "HEAD" || req.method === "DELETE";
    const wholeBody =
      !bodyless && Number.isSafeInteger(declared) && declared <= COALESCE_BYTES
        ? readBodyBytes(req, COALESCE_BYTES)
        : undefined;
    // Until it is awaited below (or the call is refused), a read error must not go unhandled.
    wholeBody?.catch(() => {});
    if (!(await this.#recordAllowed(at, "intent"))) {
      req.resume();
      sendDeny(res, null, deny("AuditUnavailable", this.#ctx.audit.refusal(), g.manifest), 503);
      return;
    }
    // The origin is the configured upstream's, always; the caller contributes only a checked path.
    const target = `${this.#base.origin}${req.url!}`;
    const abort = new AbortController();
    res.on("close", () => {
      if (!res.writableFinished) abort.abort();
    });
    let up: Dispatcher.ResponseData;
    try {
      up = await undiciRequest(target, {
        method: req.method as Dispatcher.HttpMethod,
        headers,
        body: bodyless ? null : wholeBody ? await wholeBody : req,
        signal: abort.signal,
      });
    } catch (e) {
      this.#ctx.metrics.upstreamErrors.inc({ kind: "connect" });
      void this.#recordAllowed(at, "outcome");
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
    const upDropped = connectionTokens(up.headers.connection);
    for (const [k, v] of Object.entries(up.headers)) {
      if (v === undefined || HOP_BY_HOP.has(k) || upDropped.has(k) || k === "set-cookie") continue;
      out[k] = Array.isArray(v) ? v.join(",") : v;
    }
    res.writeHead(up.statusCode, out);
    // A stream's head goes out at once (the client waits on it); any other reply goes out with its
    // body in one write (body-relay.ts). If upstream or client go away, the response ends short.
    const streaming = /^text\/event-stream/i.test(out["content-type"] ?? "");
    if (streaming) res.flushHeaders();
    void this.#recordAllowed(at, "outcome", up.statusCode);
    await relayBody(up.body, res, streaming ? 0 : COALESCE_BYTES);
  }
}
