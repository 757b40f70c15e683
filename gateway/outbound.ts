// Outbound mode: the agent's loopback endpoint. Wires the pieces in gateway/outbound/: the route
// and gate, the envelope, the decision pipeline, forwarding over mTLS with the agent's SVID, the
// server stream (every server→client message decided), response inspection (tools/list filtered,
// pinned digests checked, sessions recorded) and the audit record. Fails closed throughout.
import type { IncomingMessage, ServerResponse } from "node:http";
import { type Dispatcher, request as undiciRequest } from "undici";
import type { CompiledServer, GatewayPolicy } from "../api/v1alpha1/policy.ts";
import type { Logger } from "../lib/log.ts";
import type { ApprovalBroker } from "./approvals.ts";
import type { DecisionFields } from "./audit/chain.ts";
import { redact } from "./audit/redact.ts";
import type { AuditWriter } from "./audit/writer.ts";
import type { TaskTokenState } from "./decide/decide.ts";
import { type Deny, deny, denyError } from "./decide/deny.ts";
import { argsHash } from "./decide/digest.ts";
import { checkEnvelope, type Envelope } from "./decide/envelope.ts";
import { isDeny } from "./decide/jsonrpc.ts";
import {
  hasSessions,
  isSupportedVersion,
  type ProtocolVersion,
  requiresRoutingHeaders,
} from "./decide/methods.ts";
import { ServerMessageWorkers } from "./decide/offload.ts";
import { paramHeadersRefusal } from "./decide/param-headers.ts";
import type { RateLimiter } from "./decide/ratelimit.ts";
import type { ServerVerdict } from "./decide/server-messages.ts";
import { filterSurfaceList } from "./decide/surface.ts";
import { PROMPT_HASH_HEADER, TASK_TOKEN_HEADER, type TaskTokenVerifier } from "./decide/tasktoken.ts";
import { BodyTooLarge, header, readBody, sendDeny, sendJson } from "./http-util.ts";
import type { GatewayMetrics } from "./metrics.ts";
import { clientTaskRefusal, ownClientTasks, recordClientTask } from "./outbound/client-tasks.ts";
import { DefinitionTracker } from "./outbound/definitions.ts";
import {
  dispatcherFor,
  MAX_RESPONSE_BYTES,
  readLimited,
  upstreamErrorKind,
  upstreamHeaders,
} from "./outbound/forward.ts";
import { type OriginPolicy, originDeny } from "./outbound/origin.ts";
import { checkOwnership, createdTask, type Owned, ownTasks, sessionNotFound } from "./outbound/ownership.ts";
import { decideRequest, type PipelineResult } from "./outbound/pipeline.ts";
import { CallRecorder, type CallState, newCall } from "./outbound/record.ts";
import { auditRefusal, gate, isRefusal, routeOf } from "./outbound/route.ts";
import { type ReplyTrack, serverStream } from "./outbound/server-stream.ts";
import {
  expectAnswer,
  idKey,
  type PendingServerRequest,
  type Session,
  SessionTable,
} from "./outbound/sessions.ts";
import type { PolicyStore } from "./policy-store.ts";
import { relaySse } from "./sse-relay.ts";
import type { SvidSource } from "./svid/source.ts";
import type { UpstreamClients } from "./upstream.ts";

export interface OutboundContext {
  maxBodyBytes: number;
  maxDepth: number;
  credentialsDir: string | undefined;
  taskTokenAudience: string | undefined;
  policy: PolicyStore<GatewayPolicy>;
  svid: SvidSource;
  audit: AuditWriter;
  metrics: GatewayMetrics;
  approvals: ApprovalBroker;
  limiter: RateLimiter;
  upstream: UpstreamClients;
  /** Task-token verifier for the policy in force (rebuilt when the policy changes). */
  taskTokens: () => TaskTokenVerifier | undefined;
  redactFields: ReadonlySet<string>;
  /** Host and Origin allowlists (DNS rebinding protection). */
  origin: OriginPolicy;
  log: Logger;
}

/** The agent request a response belongs to (for inspection and reply tracking). */
interface SentRequest {
  id: string | number;
  method: string;
}

export class OutboundHandler {
  readonly #ctx: OutboundContext;
  readonly #sessions = new SessionTable();
  readonly #definitions: DefinitionTracker;
  readonly #recorder: CallRecorder;
  /** Decide large server messages off the event loop. */
  readonly #workers = new ServerMessageWorkers();

  constructor(ctx: OutboundContext) {
    this.#ctx = ctx;
    this.#recorder = new CallRecorder({
      audit: ctx.audit,
      metrics: ctx.metrics,
      redactFields: ctx.redactFields,
      agentID: () => this.#agentID(),
      onDropped: (rule, decision) => ctx.log.error("audit record dropped", { rule, decision }),
    });
    this.#definitions = new DefinitionTracker({
      onDrift: (server, d, method) => {
        ctx.metrics.drift.inc({ tool: this.#toolLabel(server.manifest, d.tool) });
        this.#recorder.event({
          time: new Date().toISOString(),
          agent: this.#agentID(),
          taskId: null,
          manifest: server.manifest,
          method,
          tool: d.tool,
          argsHash: null,
          args: null,
          decision: "drift",
          rule: "DefinitionDrift",
          constraint: `live definition ${d.live} differs from pinned ${d.pinned}; the tool is hidden and calls to it are denied`,
          latencyMs: 0,
          upstreamStatus: null,
          traceId: null,
          detail: { pinned: d.pinned, live: d.live },
        });
      },
      onUpstreamError: (kind) => ctx.metrics.upstreamErrors.inc({ kind }),
    });
  }

  close(): Promise<void> {
    return this.#workers.close();
  }

  /** Pinned tools seen matching their digest, per manifest (tool → digest). */
  get verified(): ReadonlyMap<string, Map<string, string>> {
    return this.#definitions.verified;
  }

  handle = (req: IncomingMessage, res: ServerResponse): void => {
    this.#handle(req, res).catch((e: unknown) => {
      this.#ctx.log.error("outbound handler failed", { err: e });
      if (!res.headersSent)
        sendJson(res, 500, {
          jsonrpc: "2.0",
          id: null,
          error: { code: -32603, message: "warden: internal gateway error" },
        });
      else res.destroy();
    });
  };

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const route = routeOf(req.url);
    if (isRefusal(route)) {
      req.resume();
      sendDeny(res, null, route.deny, route.status);
      return;
    }
    const bad = originDeny(header(req, "host"), header(req, "origin"), this.#ctx.origin);
    if (bad) {
      req.resume();
      const c = newCall(req, route.manifest, `(HTTP ${String(req.method).slice(0, 16)})`);
      return this.#refuse(res, c, null, { ...bad, manifest: route.manifest }, 403);
    }
    if (req.method === "POST") return this.#post(req, res, route.manifest);
    if (req.method === "GET" || req.method === "DELETE")
      return this.#getOrDelete(req, res, route.manifest, req.method);
    req.resume();
    res.writeHead(405, { allow: "GET, POST, DELETE" }).end();
  }

  #agentID(): string {
    const st = this.#ctx.policy.state;
    return this.#ctx.svid.current()?.spiffeID ?? (st.ok ? st.policy.agent.spiffeID : "unknown");
  }

  #toolLabel(manifest: string, tool: string | null): string {
    if (!tool) return "none";
    const st = this.#ctx.policy.state;
    const granted =
      st.ok && st.policy.servers.some((s) => s.manifest === manifest && s.tools.some((t) => t.name === tool));
    return granted ? tool : "other";
  }

  #refuse(
    res: ServerResponse,
    c: CallState,
    id: string | number | null,
    d: Deny,
    status = 400,
    extra: Partial<DecisionFields> = {},
  ): void {
    this.#recorder.record(c, "deny", d.rule, { constraint: d.constraint, ...extra });
    sendDeny(res, id, d, status);
  }

  /** The call could not be recorded: it is refused (and counted), never forwarded unrecorded. */
  #auditRefused(res: ServerResponse, c: CallState, id: string | number | null): void {
    const r = auditRefusal(this.#ctx, c.manifest);
    const d =
      r?.deny ?? deny("AuditUnavailable", "the audit record of this call could not be written", c.manifest);
    this.#ctx.metrics.calls.inc({ decision: "deny", reason: d.rule, tool: c.toolLabel });
    sendDeny(res, id, d, 503);
  }

  async #taskToken(req: IncomingMessage): Promise<TaskTokenState> {
    const raw = header(req, TASK_TOKEN_HEADER);
    if (raw === undefined) return { state: "absent" };
    const v = this.#ctx.taskTokens();
    if (!v) return { state: "invalid", reason: "no task-token issuers are trusted by the policy" };
    try {
      return { state: "valid", token: await v.verify(raw.trim()) };
    } catch (e) {
      return { state: "invalid", reason: `task token rejected: ${(e as Error).message}` };
    }
  }

  /** Reads and checks the body: media type, size, strict JSON-RPC, protocol version and headers. */
  async #envelope(
    req: IncomingMessage,
    c: CallState,
  ): Promise<{ env: Envelope; text: string } | { deny: Deny; status: number }> {
    const ctype = header(req, "content-type") ?? "";
    if (!/^application\/json\b/i.test(ctype)) {
      req.resume();
      return {
        deny: deny("UnsupportedMediaType", "POST bodies must be application/json", c.manifest),
        status: 415,
      };
    }
    let text: string;
    try {
      text = await readBody(req, this.#ctx.maxBodyBytes);
    } catch (e) {
      if (e instanceof BodyTooLarge) return { deny: deny("TooLarge", e.message, c.manifest), status: 413 };
      throw e;
    }
    const env = checkEnvelope(
      text,
      {
        protocolVersion: header(req, "mcp-protocol-version"),
        mcpMethod: header(req, "mcp-method"),
        mcpName: header(req, "mcp-name"),
      },
      {
        maxBytes: this.#ctx.maxBodyBytes,
        maxDepth: this.#ctx.maxDepth,
        negotiated: this.#sessions.get(c.manifest, c.sessionId)?.version,
      },
    );
    if (isDeny(env)) return { deny: { ...env, manifest: c.manifest }, status: 400 };
    return { env, text };
  }

  async #post(req: IncomingMessage, res: ServerResponse, manifest: string): Promise<void> {
    const c = newCall(req, manifest, "(unparsed)");
    const read = await this.#envelope(req, c);
    if ("deny" in read) return this.#refuse(res, c, null, read.deny, read.status);
    const { env, text } = read;
    const msg = env.message;
    const id = msg.kind === "request" ? msg.id : null;
    c.method = msg.kind === "response" ? "(response)" : msg.method;
    const g = gate(this.#ctx, manifest);
    if (isRefusal(g)) return this.#refuse(res, c, id, g.deny, g.status);
    const { policy, server } = g;
    const owned = checkOwnership(this.#sessions, manifest, c.sessionId, env.version, msg);
    if (isRefusal(owned)) return this.#refuse(res, c, id, owned.deny, owned.status);
    if (owned.answers !== undefined) c.method = `${owned.answers.method} (response)`;
    const outcome: PipelineResult =
      msg.kind === "response"
        ? { kind: "forward", decision: "allow", rule: "AnswersServerRequest" }
        : await decideRequest(
            c,
            policy,
            server,
            msg.method,
            msg.params,
            this.#ports(req, server, env.version),
          );
    if (outcome.kind === "refuse")
      return this.#refuse(res, c, id, outcome.deny, outcome.status, outcome.extra);
    let body = text;
    if (msg.kind === "response" && msg.id !== null) {
      owned.scope.serverRequests.delete(idKey(msg.id));
      if (owned.answers) body = this.#answerBookkeeping(owned.scope, owned.answers, env.body, text);
    }
    const sent = msg.kind === "request" ? { id: msg.id, method: msg.method } : undefined;
    if (sent) owned.scope.agentRequests.add(idKey(sent.id));
    try {
      await this.#forwardPost(req, res, c, server, body, sent, owned, env.version, outcome);
    } finally {
      if (sent) owned.scope.agentRequests.delete(idKey(sent.id));
      outcome.release?.();
    }
  }

  /**
   * The agent answers a server request: a CreateTaskResult to a task-augmented sampling or
   * elicitation request makes a client-side task the server may then ask about (on this session
   * only); a tasks/list answer is cut to those tasks. Returns the body to forward.
   */
  #answerBookkeeping(scope: Session, answered: PendingServerRequest, body: unknown, text: string): string {
    const result = (body as { result?: unknown }).result;
    if (typeof result !== "object" || result === null) return text;
    recordClientTask(scope, answered, result, this.#agentID());
    if (answered.method !== "tasks/list") return text;
    return JSON.stringify({
      ...(body as Record<string, unknown>),
      result: ownClientTasks(result as Record<string, unknown>, scope, this.#agentID()),
    });
  }

  #ports(req: IncomingMessage, server: CompiledServer, version: ProtocolVersion) {
    const m = server.manifest;
    return {
      limiter: this.#ctx.limiter,
      taskToken: () => this.#taskToken(req),
      verifyDefinition: (tool: string, digest: string) =>
        this.#definitions.verify(this.#ctx, req, server, tool, digest, version),
      isVerified: (tool: string, digest: string) => this.#definitions.isVerified(m, tool, digest),
      paramHeaders: (tool: string, args: Record<string, unknown>) =>
        requiresRoutingHeaders(version)
          ? paramHeadersRefusal(
              req.headers as Record<string, string>,
              this.#definitions.paramDeclarationsOf(m, tool),
              tool,
              args,
              m,
            )
          : undefined,
      drifted: this.#definitions.driftedOf(m),
      promptHash: header(req, PROMPT_HASH_HEADER),
      holdForApproval: (call: CallState, approvers: string[], timeoutMs: number) => {
        const held = this.#ctx.approvals.hold(
          {
            manifest: m,
            tool: call.tool!,
            argsHash: argsHash(call.args!),
            args: redact(call.args!, this.#ctx.redactFields),
            agent: this.#agentID(),
            taskId: call.taskId,
            approvers,
          },
          timeoutMs,
        );
        if (!held) return undefined;
        this.#ctx.metrics.pendingApprovals.inc();
        return held.outcome
          .finally(() => this.#ctx.metrics.pendingApprovals.dec())
          .then((o) => ({ ...o, id: held.id }));
      },
      auditRefusal: () => auditRefusal(this.#ctx, m)?.deny,
      toolLabel: (tool: string | null) => this.#toolLabel(m, tool),
    };
  }

  async #forwardPost(
    req: IncomingMessage,
    res: ServerResponse,
    c: CallState,
    server: CompiledServer,
    body: string,
    request: SentRequest | undefined,
    owned: Owned,
    version: ProtocolVersion,
    outcome: { decision: string; rule: string; approver?: string | undefined },
  ): Promise<void> {
    const id = request?.id ?? null;
    const extraAudit: Partial<DecisionFields> = outcome.approver ? { approver: outcome.approver } : {};
    const disp = dispatcherFor(this.#ctx, server);
    if (isDeny(disp)) return this.#refuse(res, c, id, disp, 502);
    const headers = upstreamHeaders(
      this.#ctx,
      req,
      server,
      {
        "content-type": "application/json",
        accept: header(req, "accept") ?? "application/json, text/event-stream",
      },
      {
        withoutSession: owned.withoutSession,
        withParamHeaders: request?.method === "tools/call" && requiresRoutingHeaders(version),
      },
    );
    if (isDeny(headers)) return this.#refuse(res, c, id, headers, 502);
    // Write-ahead: the decision is on disk before the call leaves; without that it does not leave.
    if (!(await this.#recorder.intent(c, outcome.decision, outcome.rule, extraAudit)))
      return this.#auditRefused(res, c, id);
    const abort = new AbortController();
    res.on("close", () => {
      if (!res.writableFinished) abort.abort();
    });
    let up: Dispatcher.ResponseData;
    try {
      up = await undiciRequest(server.endpoint, {
        method: "POST",
        headers,
        body,
        dispatcher: disp,
        signal: abort.signal,
      });
    } catch (e) {
      const kind = upstreamErrorKind(e);
      this.#ctx.metrics.upstreamErrors.inc({ kind });
      this.#recorder.outcome(c, outcome.decision, outcome.rule, {
        ...extraAudit,
        detail: { upstreamError: (e as Error).message },
      });
      const d = deny(
        "UpstreamUnavailable",
        `the tool server could not be reached (${kind}): ${(e as Error).message}`,
        server.manifest,
        -32002,
      );
      sendDeny(res, id, d, 502);
      return;
    }
    if (up.statusCode >= 500) this.#ctx.metrics.upstreamErrors.inc({ kind: "status" });
    const done = () =>
      this.#recorder.outcome(c, outcome.decision, outcome.rule, {
        ...extraAudit,
        upstreamStatus: up.statusCode,
      });
    const ctype = String(up.headers["content-type"] ?? "");
    // A session id is taken from the upstream only when it answers an initialize (the session it
    // opens); on any other reply it would let the server move the agent into another session.
    const sid =
      request?.method === "initialize" &&
      !owned.withoutSession &&
      typeof up.headers["mcp-session-id"] === "string"
        ? up.headers["mcp-session-id"]
        : undefined;
    const out: Record<string, string> = {};
    if (ctype) out["content-type"] = ctype;
    if (sid) out["mcp-session-id"] = sid;
    const track: ReplyTrack = { id: request?.id ?? "", answered: false };
    let scope = owned.scope;
    const inspector = this.#serverStream(req, server, c, version, () => scope, {
      inspect: (msg) => {
        const r = this.#inspectResponse(msg, request, server, sid, scope);
        // Once the initialize result opened the session, what follows on this stream belongs to it.
        if (sid && request?.method === "initialize")
          scope = this.#sessions.get(server.manifest, sid) ?? scope;
        return r;
      },
      // An error with a null id answers this POST (the server could not read its id).
      solicited: (rid) => rid === null || (request !== undefined && rid === request.id),
      track,
    });
    const droppedReply = () =>
      JSON.stringify(
        denyError(
          request?.id ?? null,
          deny(
            "UpstreamReplyRefused",
            `the tool server's reply was dropped: ${
              track.dropped?.constraint ?? "the reply was a server→client request the policy does not grant"
            }`,
            server.manifest,
            -32002,
          ),
        ),
      );
    if (/^text\/event-stream/i.test(ctype)) {
      res.writeHead(up.statusCode, { ...out, "cache-control": "no-cache" });
      // If the reply to this request was malformed and dropped, the agent gets an error for its id
      // instead of waiting forever.
      await relaySse(up.body, res, inspector.stream, () => {
        // Recorded before the agent sees the stream end, so the record is queued by the time the
        // agent has its result.
        done();
        return request && track.dropped && !track.answered ? droppedReply() : null;
      });
      return;
    }
    if (/^application\/json/i.test(ctype)) {
      const raw = await readLimited(up.body, MAX_RESPONSE_BYTES);
      // The reply is decided like a stream event: strict parse, no batches, no server requests.
      const text = raw.trim() === "" ? raw : (inspector.text(raw) ?? droppedReply());
      res.writeHead(up.statusCode, { ...out, "content-length": String(Buffer.byteLength(text)) });
      res.end(text);
      done();
      return;
    }
    res.writeHead(up.statusCode, out);
    for await (const chunk of up.body) res.write(chunk);
    res.end();
    done();
  }

  /** The server-stream inspector for one stream, with this gateway's ownership bookkeeping. */
  #serverStream(
    req: IncomingMessage,
    server: CompiledServer,
    c: CallState,
    version: ProtocolVersion,
    scope: () => Session,
    extra: Pick<Parameters<typeof serverStream>[0], "inspect" | "solicited" | "track">,
  ) {
    return serverStream({
      server,
      version,
      ...extra,
      refuse: (v) => this.#refuseServerMessage(req, server, c, v, scope().id || undefined),
      toolsChanged: () => this.#definitions.markStale(server.manifest),
      unsolicited: (rid) => {
        this.#ctx.metrics.unsolicited.inc({ direction: "from_server" });
        const d = deny(
          "UnsolicitedResponse",
          `the tool server sent a response with id ${JSON.stringify(rid)} that answers no request of the agent; dropped`,
          server.manifest,
        );
        this.#refuseServerMessage(
          req,
          server,
          c,
          { action: "refuse", method: "(response)", deny: d },
          undefined,
        );
      },
      requestRefusal: (method, params) =>
        clientTaskRefusal(scope(), this.#agentID(), method, params, server.manifest),
      passedRequest: (rid, method, taskAugmented) => expectAnswer(scope(), rid, method, taskAugmented),
      workers: this.#workers,
      notificationAllowed: (method, params) =>
        method !== "notifications/tasks/status" || scope().tasks.has(String(params?.taskId)),
    });
  }

  /** Returns a rewritten message, or undefined to pass `msg` through unchanged. */
  #inspectResponse(
    msg: Record<string, unknown>,
    request: SentRequest | undefined,
    server: CompiledServer,
    sid: string | undefined,
    scope: Session,
  ): unknown {
    if (!request || msg.id !== request.id || typeof msg.result !== "object" || msg.result === null)
      return undefined;
    const result = msg.result as Record<string, unknown>;
    if (request.method === "initialize") {
      if (sid && isSupportedVersion(result.protocolVersion as string))
        this.#sessions.open(server.manifest, sid, result.protocolVersion as ProtocolVersion);
      return undefined;
    }
    const task = createdTask(result);
    if (task !== undefined) scope.tasks.add(task);
    if (request.method === "tasks/list") return { ...msg, result: ownTasks(result, scope) };
    if (
      (request.method === "tools/list" || request.method === "server/discover") &&
      Array.isArray(result.tools)
    )
      return { ...msg, result: this.#definitions.observeList(result, server, request.method) };
    const narrowed = filterSurfaceList(request.method, result, server);
    return narrowed ? { ...msg, result: narrowed } : undefined;
  }

  #refuseServerMessage(
    req: IncomingMessage,
    server: CompiledServer,
    c: CallState,
    v: Extract<ServerVerdict, { action: "refuse" }>,
    sid: string | undefined,
  ): void {
    this.#recorder.event({
      time: new Date().toISOString(),
      agent: this.#agentID(),
      taskId: c.taskId,
      manifest: server.manifest,
      method: v.method,
      tool: null,
      argsHash: null,
      args: null,
      decision: "deny",
      rule: v.deny.rule,
      constraint: v.deny.constraint,
      latencyMs: 0,
      upstreamStatus: null,
      traceId: c.traceId,
      detail: { direction: "server-to-client", ...(v.id !== undefined ? { id: v.id } : {}) },
    });
    this.#ctx.metrics.calls.inc({ decision: "deny", reason: v.deny.rule, tool: "none" });
    if (v.id !== undefined) void this.#answerServer(req, server, v.id, v.deny, sid);
  }

  /** Answers a refused server→client request with its JSON-RPC error, so the server does not wait. */
  async #answerServer(
    req: IncomingMessage,
    server: CompiledServer,
    id: string | number,
    d: Deny,
    sid: string | undefined,
  ): Promise<void> {
    const disp = dispatcherFor(this.#ctx, server);
    const headers = upstreamHeaders(this.#ctx, req, server, {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
    });
    if (isDeny(disp) || isDeny(headers)) return;
    delete headers["last-event-id"];
    delete headers["mcp-method"];
    delete headers["mcp-name"];
    if (sid) headers["mcp-session-id"] = sid;
    try {
      const up = await undiciRequest(server.endpoint, {
        method: "POST",
        headers,
        body: JSON.stringify(denyError(id, d)),
        dispatcher: disp,
      });
      await up.body.dump();
    } catch (e) {
      this.#ctx.metrics.upstreamErrors.inc({ kind: upstreamErrorKind(e) });
      this.#ctx.log.warn("could not answer a refused server request", { err: e });
    }
  }

  /**
   * GET (the server stream, or resuming one with Last-Event-ID) and DELETE act on a session: it must
   * be one this gateway opened on this tool server, in a revision that has sessions.
   */
  #streamScope(
    req: IncomingMessage,
    manifest: string,
  ): { session: Session; version: ProtocolVersion } | { deny: Deny; status: number } {
    const sid = header(req, "mcp-session-id");
    const pv = header(req, "mcp-protocol-version");
    const session = this.#sessions.get(manifest, sid);
    const version = session?.version ?? (isSupportedVersion(pv) ? pv : "2025-03-26");
    if (!hasSessions(version))
      return {
        deny: deny(
          "MethodNotAllowed",
          `MCP ${version} has no GET stream and no sessions: use POST`,
          manifest,
        ),
        status: 405,
      };
    if (sid === undefined) {
      if (req.method === "DELETE" || header(req, "last-event-id") !== undefined)
        return {
          deny: deny(
            "SessionRequired",
            `${req.method === "DELETE" ? "DELETE" : "resuming a stream (Last-Event-ID)"} needs the Mcp-Session-Id of a session this agent opened`,
            manifest,
          ),
          status: 400,
        };
      return { session: this.#sessions.scope(manifest, undefined)!, version };
    }
    if (!session) return { deny: sessionNotFound(manifest, sid), status: 404 };
    return { session, version };
  }

  async #getOrDelete(
    req: IncomingMessage,
    res: ServerResponse,
    manifest: string,
    method: "GET" | "DELETE",
  ): Promise<void> {
    const c = newCall(req, manifest, method === "GET" ? "(GET stream)" : "(DELETE session)");
    req.resume();
    const pv = header(req, "mcp-protocol-version");
    if (pv !== undefined && !isSupportedVersion(pv)) {
      const d = deny(
        "UnsupportedProtocolVersion",
        `MCP-Protocol-Version ${pv.slice(0, 32)} is not supported`,
        manifest,
      );
      return this.#refuse(res, c, null, d, 400);
    }
    const g = gate(this.#ctx, manifest);
    if (isRefusal(g)) return this.#refuse(res, c, null, g.deny, g.status);
    const scoped = this.#streamScope(req, manifest);
    if (isRefusal(scoped)) return this.#refuse(res, c, null, scoped.deny, scoped.status);
    const disp = dispatcherFor(this.#ctx, g.server);
    if (isDeny(disp)) return this.#refuse(res, c, null, disp, 502);
    const headers = upstreamHeaders(
      this.#ctx,
      req,
      g.server,
      method === "GET" ? { accept: "text/event-stream" } : {},
    );
    if (isDeny(headers)) return this.#refuse(res, c, null, headers, 502);
    if (!(await this.#recorder.intent(c, "allow", "Granted"))) return this.#auditRefused(res, c, null);
    const abort = new AbortController();
    res.on("close", () => {
      if (!res.writableFinished) abort.abort();
    });
    let up: Dispatcher.ResponseData;
    try {
      up = await undiciRequest(g.server.endpoint, {
        method,
        headers,
        dispatcher: disp,
        signal: abort.signal,
      });
    } catch (e) {
      this.#ctx.metrics.upstreamErrors.inc({ kind: upstreamErrorKind(e) });
      return this.#refuse(
        res,
        c,
        null,
        deny("UpstreamUnavailable", (e as Error).message, manifest, -32002),
        502,
      );
    }
    this.#recorder.outcome(c, "allow", "Granted", { upstreamStatus: up.statusCode });
    if (method === "DELETE" && c.sessionId) this.#sessions.close(manifest, c.sessionId);
    const ctype = String(up.headers["content-type"] ?? "");
    const out: Record<string, string> = {};
    if (ctype) out["content-type"] = ctype;
    if (/^text\/event-stream/i.test(ctype)) {
      res.writeHead(up.statusCode, { ...out, "cache-control": "no-cache" });
      res.flushHeaders();
      // Responses on the GET stream are legitimate only when they answer the session's own
      // outstanding requests (a resumed stream); anything else is unsolicited.
      const inspector = this.#serverStream(req, g.server, c, scoped.version, () => scoped.session, {
        inspect: () => undefined,
        solicited: (rid) => rid !== null && scoped.session.agentRequests.has(idKey(rid)),
      });
      await relaySse(up.body, res, inspector.stream);
      return;
    }
    res.writeHead(up.statusCode, out);
    for await (const chunk of up.body) res.write(chunk);
    res.end();
  }
}
