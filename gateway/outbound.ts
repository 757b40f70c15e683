// Outbound mode: the agent's loopback endpoint. Each POST is decided message by message (envelope,
// policy, task token, constraints, limits, approval) and only then forwarded over mTLS with the
// agent's SVID; responses (JSON or SSE) are inspected so tools/list results are filtered and
// pinned digests checked. Every decision is audited; any missing precondition fails closed.
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { type Dispatcher, request as undiciRequest } from "undici";
import type { CompiledServer, GatewayPolicy } from "../api/v1alpha1/policy.ts";
import { credentialFileName } from "../api/v1alpha1/sidecar.ts";
import type { Logger } from "../lib/log.ts";
import type { ApprovalBroker } from "./approvals.ts";
import type { DecisionFields } from "./audit/chain.ts";
import { redact } from "./audit/redact.ts";
import type { AuditWriter } from "./audit/writer.ts";
import { decideMessage, rateLimitDeny, type TaskTokenState, type Verdict } from "./decide/decide.ts";
import { DENY_CODE, type Deny, deny, denyError } from "./decide/deny.ts";
import { argsHash } from "./decide/digest.ts";
import { checkEnvelope } from "./decide/envelope.ts";
import { parseStrictJson } from "./decide/json.ts";
import { isDeny } from "./decide/jsonrpc.ts";
import { filterToolList } from "./decide/listfilter.ts";
import { isSupportedVersion, type ProtocolVersion } from "./decide/methods.ts";
import type { RateLimiter } from "./decide/ratelimit.ts";
import { decideServerMessage, type ServerVerdict } from "./decide/server-messages.ts";
import { PROMPT_HASH_HEADER, TASK_TOKEN_HEADER, type TaskTokenVerifier } from "./decide/tasktoken.ts";
import { BodyTooLarge, header, readBody, sendDeny, sendJson } from "./http-util.ts";
import type { GatewayMetrics } from "./metrics.ts";
import type { PolicyStore } from "./policy-store.ts";
import { SseParser } from "./sse.ts";
import { relaySse, type SseInspector } from "./sse-relay.ts";
import type { SvidSource } from "./svid/source.ts";
import type { UpstreamClients } from "./upstream.ts";

const ROUTE = /^\/servers\/([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?)\/mcp\/?$/;
const MAX_SESSIONS = 10_000;
const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;
/** Tool results may nest deeper than requests may; still bounded (the parser recurses). */
const SERVER_MESSAGE_MAX_DEPTH = 128;

/** Whether the reply to the agent's request came through a server stream. */
interface ReplyTrack {
  id: string | number;
  answered: boolean;
  /** The first malformed message dropped (could have been the reply). */
  dropped?: Deny;
}

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
  log: Logger;
}

interface CallState {
  start: number;
  manifest: string;
  method: string;
  tool: string | null;
  args: Record<string, unknown> | undefined;
  taskId: string | null;
  traceId: string | null;
  toolLabel: string;
}

export class OutboundHandler {
  readonly #ctx: OutboundContext;
  /** Tools whose live definition drifted, per manifest. */
  readonly drift = new Map<string, Set<string>>();
  /**
   * Pinned tools whose live definition was seen matching its digest, per manifest (tool → digest).
   * Cleared for a manifest by notifications/tools/list_changed: the next call re-verifies.
   */
  readonly verified = new Map<string, Map<string, string>>();
  /** Protocol version negotiated per MCP session (seen in initialize responses). */
  readonly #sessions = new Map<string, ProtocolVersion>();

  constructor(ctx: OutboundContext) {
    this.#ctx = ctx;
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
    const path = (req.url ?? "").split("?")[0] ?? "";
    const m = ROUTE.exec(path);
    if (!m) {
      sendDeny(
        res,
        null,
        deny("UnknownRoute", `no tool server at ${path.slice(0, 200)}; use /servers/<ToolManifest>/mcp`),
        404,
      );
      return;
    }
    const manifest = m[1]!;
    if (req.method === "POST") return this.#post(req, res, manifest);
    if (req.method === "GET") return this.#getOrDelete(req, res, manifest, "GET");
    if (req.method === "DELETE") return this.#getOrDelete(req, res, manifest, "DELETE");
    res.writeHead(405, { allow: "GET, POST, DELETE" }).end();
  }

  /** Conditions without which nothing is forwarded: policy, identity, audit, route. */
  #gate(
    manifest: string,
  ): { deny: Deny; status: number } | { policy: GatewayPolicy; server: CompiledServer } {
    const st = this.#ctx.policy.state;
    if (!st.ok) return { deny: deny("PolicyUnavailable", st.reason, manifest), status: 503 };
    if (st.policy.agent.suspended) {
      return {
        deny: deny(
          "AgentSuspended",
          `agent ${st.policy.agent.namespace}/${st.policy.agent.name} is suspended`,
          manifest,
        ),
        status: 403,
      };
    }
    if (this.#ctx.svid.secondsLeft() <= 0) {
      return {
        deny: deny("SvidExpired", "the gateway has no valid SVID (expired or not yet issued)", manifest),
        status: 503,
      };
    }
    if (!this.#ctx.audit.accepting()) {
      const reason = this.#ctx.audit.refusal();
      this.#ctx.metrics.auditRefusals.inc({ reason: reason.includes("full") ? "queue_full" : "write_error" });
      return { deny: deny("AuditUnavailable", reason, manifest), status: 503 };
    }
    const server = st.policy.servers.find((s) => s.manifest === manifest);
    if (!server)
      return {
        deny: deny("UnknownServer", `ToolManifest ${manifest} is not granted to this agent`, manifest),
        status: 404,
      };
    return { policy: st.policy, server };
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

  #record(c: CallState, decision: string, rule: string, extra: Partial<DecisionFields> = {}): void {
    const latencyMs = Math.round((performance.now() - c.start) * 1000) / 1000;
    const fields: DecisionFields = {
      time: new Date().toISOString(),
      agent: this.#agentID(),
      taskId: c.taskId,
      manifest: c.manifest,
      method: c.method,
      tool: c.tool,
      argsHash: c.args ? argsHash(c.args) : null,
      args: c.args ? redact(c.args, this.#ctx.redactFields) : null,
      decision,
      rule,
      latencyMs,
      upstreamStatus: null,
      traceId: c.traceId,
      ...extra,
    };
    if (!this.#ctx.audit.append(fields)) this.#ctx.log.error("audit record dropped", { rule, decision });
    this.#ctx.metrics.calls.inc({ decision, reason: rule, tool: c.toolLabel });
    this.#ctx.metrics.latency.observe({ decision }, latencyMs / 1000);
  }

  #refuse(
    res: ServerResponse,
    c: CallState,
    id: string | number | null,
    d: Deny,
    status = 400,
    extra: Partial<DecisionFields> = {},
  ): void {
    this.#record(c, "deny", d.rule, { constraint: d.constraint, ...extra });
    sendDeny(res, id, d, status);
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

  async #post(req: IncomingMessage, res: ServerResponse, manifest: string): Promise<void> {
    const c: CallState = {
      start: performance.now(),
      manifest,
      method: "(unparsed)",
      tool: null,
      args: undefined,
      taskId: null,
      traceId: traceIdOf(req),
      toolLabel: "none",
    };
    const ctype = header(req, "content-type") ?? "";
    if (!/^application\/json\b/i.test(ctype)) {
      req.resume();
      return this.#refuse(
        res,
        c,
        null,
        deny("UnsupportedMediaType", "POST bodies must be application/json", manifest),
        415,
      );
    }
    let text: string;
    try {
      text = await readBody(req, this.#ctx.maxBodyBytes);
    } catch (e) {
      if (e instanceof BodyTooLarge)
        return this.#refuse(res, c, null, deny("TooLarge", e.message, manifest), 413);
      throw e;
    }
    const sessionId = header(req, "mcp-session-id");
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
        negotiated: sessionId ? this.#sessions.get(sessionId) : undefined,
      },
    );
    if (isDeny(env)) return this.#refuse(res, c, null, { ...env, manifest }, 400);
    const msg = env.message;
    const id = msg.kind === "request" ? msg.id : null;
    c.method = msg.kind === "response" ? "(response)" : msg.method;
    const g = this.#gate(manifest);
    if ("deny" in g) return this.#refuse(res, c, id, g.deny, g.status);
    const { policy, server } = g;

    let decision = "allow";
    let rule = "Granted";
    let approver: string | undefined;
    let release: (() => void) | undefined;
    if (msg.kind !== "response") {
      const task = msg.method === "tools/call" ? await this.#taskToken(req) : ({ state: "absent" } as const);
      if (task.state === "valid") c.taskId = task.token.taskId;
      const verdict: Verdict = decideMessage({
        server,
        method: msg.method,
        params: msg.params,
        task,
        taskTokenRequired: policy.taskTokens.required,
        drifted: this.drift.get(manifest) ?? new Set(),
        promptHash: header(req, PROMPT_HASH_HEADER),
      });
      c.tool = verdict.toolName ?? null;
      c.args = verdict.args;
      c.toolLabel = this.#toolLabel(manifest, c.tool);
      const dryRun = server.mode === "DryRun";
      let refusal = verdict.outcome === "deny" ? verdict.deny : undefined;
      // A pinned tool whose definition this gateway has not seen (since start, or since the server
      // announced tools/list_changed) is verified with a tools/list upstream before the call.
      if (
        !refusal &&
        verdict.tool?.digest &&
        !this.#isVerified(manifest, verdict.tool.name, verdict.tool.digest)
      )
        refusal = await this.#verifyDefinition(
          req,
          server,
          verdict.tool.name,
          verdict.tool.digest,
          c,
          env.version,
        );
      if (!refusal && verdict.tool) refusal = rateLimitDeny(this.#ctx.limiter, manifest, verdict.tool);
      if (!refusal && verdict.tool) {
        const slot = this.#ctx.limiter.acquire(
          `${manifest}/${verdict.tool.name}`,
          verdict.tool.maxConcurrent,
        );
        if (typeof slot === "string")
          refusal = deny("ConcurrencyLimit", `tool ${verdict.tool.name}: ${slot}`, manifest);
        else release = slot.release;
      }
      if (refusal) {
        // DryRun lets policy refusals through (recorded as would-deny); malformed input never passes.
        if (!(dryRun && refusal.code === DENY_CODE)) return this.#refuse(res, c, id, refusal, 403);
        decision = "would-deny";
        rule = refusal.rule;
      } else if (verdict.outcome === "hold" && verdict.tool && c.tool && c.args) {
        if (dryRun) {
          decision = "would-hold";
          rule = "ApprovalRequired";
        } else {
          const a = verdict.tool.approval!;
          const held = this.#ctx.approvals.hold(
            {
              manifest,
              tool: c.tool,
              argsHash: argsHash(c.args),
              args: redact(c.args, this.#ctx.redactFields),
              agent: this.#agentID(),
              taskId: c.taskId,
              approvers: a.approvers,
            },
            a.timeoutSeconds * 1000,
          );
          if (!held) {
            release?.();
            return this.#refuse(
              res,
              c,
              id,
              deny("ApprovalUnavailable", "too many calls are waiting for approval", manifest),
              503,
            );
          }
          this.#ctx.metrics.pendingApprovals.inc();
          const outcome = await held.outcome.finally(() => this.#ctx.metrics.pendingApprovals.dec());
          if (outcome.decision !== "approve") {
            release?.();
            const d =
              outcome.decision === "deny"
                ? deny(
                    "ApprovalDenied",
                    `approver ${outcome.approver} denied the call (approval ${held.id})`,
                    manifest,
                  )
                : deny(
                    "ApprovalTimeout",
                    `no approver answered within ${a.timeoutSeconds}s (approval ${held.id})`,
                    manifest,
                  );
            return this.#refuse(
              res,
              c,
              id,
              d,
              403,
              outcome.decision === "deny" ? { approver: outcome.approver } : {},
            );
          }
          approver = outcome.approver;
          rule = "Approved";
          // The audit may have failed while the call was held: re-check before forwarding.
          if (!this.#ctx.audit.accepting()) {
            release?.();
            return this.#refuse(
              res,
              c,
              id,
              deny("AuditUnavailable", this.#ctx.audit.refusal(), manifest),
              503,
            );
          }
        }
      }
    }
    try {
      await this.#forwardPost(req, res, c, server, text, msg.kind === "request" ? msg : undefined, {
        decision,
        rule,
        approver,
      });
    } finally {
      release?.();
    }
  }

  #upstreamHeaders(
    req: IncomingMessage,
    server: CompiledServer,
    extra: Record<string, string>,
  ): Record<string, string> | Deny {
    // Only MCP transport headers pass; the agent's Authorization, cookies and anything else stay here.
    const h: Record<string, string> = { ...extra };
    for (const name of [
      "mcp-session-id",
      "mcp-protocol-version",
      "last-event-id",
      "mcp-method",
      "mcp-name",
      "traceparent",
      "tracestate",
    ]) {
      const v = header(req, name);
      if (v !== undefined) h[name] = v;
    }
    if (server.credential) {
      const cred = server.credential;
      if (!this.#ctx.credentialsDir)
        return deny(
          "CredentialUnavailable",
          `no credentials directory is mounted for Secret ${cred.secretName}`,
          server.manifest,
        );
      // The operator projects each granted server's credential into the agent's credentials
      // Secret under the ToolManifest's name (credentialFileName); the agent never mounts it.
      const file = credentialFileName(server.manifest);
      if (file === undefined) {
        return deny("CredentialUnavailable", "the ToolManifest name is not a plain name", server.manifest);
      }
      let value: string;
      try {
        value = readFileSync(join(this.#ctx.credentialsDir, file), "utf8").trim();
      } catch {
        return deny(
          "CredentialUnavailable",
          `credential ${cred.secretName}/${cred.key} is not mounted (the operator projects it into the agent's credentials Secret; check the AgentIdentity's CredentialsReady condition)`,
          server.manifest,
        );
      }
      if (!value) {
        return deny(
          "CredentialUnavailable",
          `credential ${cred.secretName}/${cred.key} is empty`,
          server.manifest,
        );
      }
      h[cred.header.toLowerCase()] = cred.scheme ? `${cred.scheme} ${value}` : value;
    }
    return h;
  }

  #dispatcher(server: CompiledServer): Dispatcher | Deny {
    if (!server.endpoint.startsWith("https://")) {
      return deny(
        "InsecureEndpoint",
        `endpoint ${server.endpoint} is not https: tool servers are reached over mTLS only`,
        server.manifest,
      );
    }
    const d = this.#ctx.upstream.get(server.serverSpiffeID);
    return d ?? deny("SvidExpired", "no SVID or trust bundle to call the tool server with", server.manifest);
  }

  async #forwardPost(
    req: IncomingMessage,
    res: ServerResponse,
    c: CallState,
    server: CompiledServer,
    body: string,
    request: { id: string | number; method: string } | undefined,
    outcome: { decision: string; rule: string; approver: string | undefined },
  ): Promise<void> {
    const id = request?.id ?? null;
    const extraAudit: Partial<DecisionFields> = outcome.approver ? { approver: outcome.approver } : {};
    const disp = this.#dispatcher(server);
    if (isDeny(disp)) return this.#refuse(res, c, id, disp, 502);
    const headers = this.#upstreamHeaders(req, server, {
      "content-type": "application/json",
      accept: header(req, "accept") ?? "application/json, text/event-stream",
    });
    if (isDeny(headers)) return this.#refuse(res, c, id, headers, 502);
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
      this.#record(c, outcome.decision, outcome.rule, {
        ...extraAudit,
        detail: { upstreamError: (e as Error).message },
      });
      sendDeny(
        res,
        id,
        deny(
          "UpstreamUnavailable",
          `the tool server could not be reached (${kind}): ${(e as Error).message}`,
          server.manifest,
          -32002,
        ),
        502,
      );
      return;
    }
    if (up.statusCode >= 500) this.#ctx.metrics.upstreamErrors.inc({ kind: "status" });
    const ctype = String(up.headers["content-type"] ?? "");
    const sid = typeof up.headers["mcp-session-id"] === "string" ? up.headers["mcp-session-id"] : undefined;
    const out: Record<string, string> = {};
    if (ctype) out["content-type"] = ctype;
    if (sid) out["mcp-session-id"] = sid;
    const inspect = (msg: unknown): unknown => this.#inspectResponse(msg, request, server, sid, c);
    if (/^text\/event-stream/i.test(ctype)) {
      res.writeHead(up.statusCode, { ...out, "cache-control": "no-cache" });
      const version = this.#versionFor(
        sid ?? header(req, "mcp-session-id"),
        header(req, "mcp-protocol-version"),
      );
      // If the reply to this request was malformed and dropped, the agent gets an error for its id
      // instead of waiting forever.
      const track: ReplyTrack | undefined = request ? { id: request.id, answered: false } : undefined;
      await relaySse(up.body, res, this.#serverStream(req, server, c, version, inspect, sid, track), () => {
        // Recorded before the agent sees the stream end, so the record is queued by the time the
        // agent has its result.
        this.#record(c, outcome.decision, outcome.rule, { ...extraAudit, upstreamStatus: up.statusCode });
        return track?.dropped && !track.answered
          ? JSON.stringify(
              denyError(
                track.id,
                deny(
                  "UpstreamReplyRefused",
                  `the tool server's reply was dropped: ${track.dropped.constraint}`,
                  server.manifest,
                  -32002,
                ),
              ),
            )
          : null;
      });
      return;
    }
    if (/^application\/json/i.test(ctype)) {
      const raw = await readLimited(up.body, MAX_RESPONSE_BYTES);
      let text = raw;
      if (raw.trim() !== "") {
        // The reply is decided like a stream event: strict parse, no batches, no server requests.
        const track: ReplyTrack = { id: request?.id ?? "", answered: false };
        const version = this.#versionFor(
          sid ?? header(req, "mcp-session-id"),
          header(req, "mcp-protocol-version"),
        );
        const decided = this.#serverStream(req, server, c, version, inspect, sid, track)(raw);
        if (decided === null) {
          const why =
            track.dropped?.constraint ?? "the reply was a server→client request the policy does not grant";
          text = JSON.stringify(
            denyError(
              request?.id ?? null,
              deny(
                "UpstreamReplyRefused",
                `the tool server's reply was dropped: ${why}`,
                server.manifest,
                -32002,
              ),
            ),
          );
        } else text = decided;
      }
      res.writeHead(up.statusCode, { ...out, "content-length": String(Buffer.byteLength(text)) });
      res.end(text);
      this.#record(c, outcome.decision, outcome.rule, { ...extraAudit, upstreamStatus: up.statusCode });
      return;
    }
    res.writeHead(up.statusCode, out);
    for await (const chunk of up.body) res.write(chunk);
    res.end();
    this.#record(c, outcome.decision, outcome.rule, { ...extraAudit, upstreamStatus: up.statusCode });
  }

  /** Returns a rewritten message, or undefined to pass `msg` through unchanged. */
  #inspectResponse(
    msg: unknown,
    request: { id: string | number; method: string } | undefined,
    server: CompiledServer,
    sid: string | undefined,
    c: CallState,
  ): unknown {
    if (!request || typeof msg !== "object" || msg === null) return undefined;
    const m = msg as { id?: unknown; result?: unknown };
    if (m.id !== request.id || typeof m.result !== "object" || m.result === null) return undefined;
    const result = m.result as Record<string, unknown>;
    if (request.method === "initialize" && sid && isSupportedVersion(result.protocolVersion as string)) {
      if (this.#sessions.size >= MAX_SESSIONS) this.#sessions.delete(this.#sessions.keys().next().value!);
      this.#sessions.set(sid, result.protocolVersion as ProtocolVersion);
      return undefined;
    }
    if (
      (request.method === "tools/list" || request.method === "server/discover") &&
      Array.isArray(result.tools)
    ) {
      const f = filterToolList(result, server);
      let set = this.drift.get(server.manifest);
      if (!set) {
        set = new Set();
        this.drift.set(server.manifest, set);
      }
      let ok = this.verified.get(server.manifest);
      if (!ok) {
        ok = new Map();
        this.verified.set(server.manifest, ok);
      }
      for (const name of f.shown) {
        set.delete(name);
        const digest = server.tools.find((t) => t.name === name)?.digest;
        if (digest) ok.set(name, digest);
      }
      for (const d of f.drifted) {
        set.add(d.tool);
        ok.delete(d.tool);
        this.#ctx.metrics.drift.inc({ tool: this.#toolLabel(server.manifest, d.tool) });
        this.#ctx.audit.append({
          time: new Date().toISOString(),
          agent: this.#agentID(),
          taskId: c.taskId,
          manifest: server.manifest,
          method: request.method,
          tool: d.tool,
          argsHash: null,
          args: null,
          decision: "drift",
          rule: "DefinitionDrift",
          constraint: `live definition ${d.live} differs from pinned ${d.pinned}; the tool is hidden and calls to it are denied`,
          latencyMs: 0,
          upstreamStatus: null,
          traceId: c.traceId,
          detail: { pinned: d.pinned, live: d.live },
        });
      }
      return { ...m, result: f.result };
    }
    return undefined;
  }

  #versionFor(sid: string | undefined, pv: string | undefined): ProtocolVersion {
    // Unknown session and no usable header: the oldest revision, whose notification set is smallest.
    return (sid ? this.#sessions.get(sid) : undefined) ?? (isSupportedVersion(pv) ? pv : "2025-06-18");
  }

  #isVerified(manifest: string, tool: string, digest: string): boolean {
    return this.verified.get(manifest)?.get(tool) === digest;
  }

  /**
   * The inspector for a server→client SSE stream: every event is decided by decideServerMessage;
   * refused ones are dropped and audited (requests are answered upstream with the JSON-RPC error),
   * tools/list_changed marks the manifest's verified definitions stale, and responses go through
   * `inspect` (tools/list filtering and digests).
   */
  #serverStream(
    req: IncomingMessage,
    server: CompiledServer,
    c: CallState,
    version: ProtocolVersion,
    inspect: (msg: unknown) => unknown,
    sid?: string,
    track?: ReplyTrack,
  ): SseInspector {
    return (data) => {
      const v = decideServerMessage(data, version, server.manifest, SERVER_MESSAGE_MAX_DEPTH);
      if (v.action === "refuse") {
        this.#refuseServerMessage(req, server, c, v, sid);
        // Malformed messages have no usable method ("(malformed)", "(batch)", "(invalid)").
        if (track && v.id === undefined && v.method.startsWith("(")) track.dropped ??= v.deny;
        return null;
      }
      if (track && v.kind === "response" && v.message.id === track.id) track.answered = true;
      if (v.kind === "notification" && v.message.method === "notifications/tools/list_changed")
        this.verified.delete(server.manifest);
      if (v.kind === "response") {
        const rewritten = inspect(v.message);
        if (rewritten !== undefined) return JSON.stringify(rewritten);
      }
      return data;
    };
  }

  #refuseServerMessage(
    req: IncomingMessage,
    server: CompiledServer,
    c: CallState,
    v: Extract<ServerVerdict, { action: "refuse" }>,
    sid: string | undefined,
  ): void {
    const appended = this.#ctx.audit.append({
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
    if (!appended) this.#ctx.log.error("audit record dropped", { rule: v.deny.rule, decision: "deny" });
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
    const disp = this.#dispatcher(server);
    const headers = this.#upstreamHeaders(req, server, {
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
   * Lists the server's tools (following nextCursor, at most 10 pages) to check a pinned tool's live
   * definition before its first call. Returns the refusal, or undefined when the definition matches.
   */
  async #verifyDefinition(
    req: IncomingMessage,
    server: CompiledServer,
    tool: string,
    digest: string,
    c: CallState,
    version: ProtocolVersion,
  ): Promise<Deny | undefined> {
    const m = server.manifest;
    const unverified = (why: string) =>
      deny(
        "DefinitionUnverified",
        `tool ${tool}'s live definition could not be checked against the pinned digest ${digest}: ${why}`,
        m,
      );
    const disp = this.#dispatcher(server);
    if (isDeny(disp)) return disp;
    const headers = this.#upstreamHeaders(req, server, {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
    });
    if (isDeny(headers)) return headers;
    delete headers["last-event-id"];
    delete headers["mcp-name"];
    if (headers["mcp-method"] !== undefined) headers["mcp-method"] = "tools/list";
    headers["mcp-protocol-version"] = version;
    let cursor: string | undefined;
    for (let page = 0; page < 10; page++) {
      const id = `warden-verify-${randomUUID()}`;
      const body = JSON.stringify({
        jsonrpc: "2.0",
        id,
        method: "tools/list",
        ...(cursor ? { params: { cursor } } : {}),
      });
      let result: Record<string, unknown> | undefined;
      try {
        const up = await undiciRequest(server.endpoint, { method: "POST", headers, body, dispatcher: disp });
        const text = await readLimited(up.body, MAX_RESPONSE_BYTES);
        if (up.statusCode !== 200) return unverified(`tools/list answered HTTP ${up.statusCode}`);
        result = resultOf(text, String(up.headers["content-type"] ?? ""), id, SERVER_MESSAGE_MAX_DEPTH);
      } catch (e) {
        this.#ctx.metrics.upstreamErrors.inc({ kind: upstreamErrorKind(e) });
        return unverified(`tools/list failed: ${(e as Error).message}`);
      }
      if (!result) return unverified("tools/list returned no result");
      this.#inspectResponse(
        { jsonrpc: "2.0", id, result },
        { id, method: "tools/list" },
        server,
        undefined,
        c,
      );
      if (this.drift.get(m)?.has(tool))
        return deny(
          "DefinitionDrift",
          `tool ${tool}'s live definition differs from the pinned digest ${digest}`,
          m,
        );
      if (this.#isVerified(m, tool, digest)) return undefined;
      cursor = typeof result.nextCursor === "string" ? result.nextCursor : undefined;
      if (!cursor) break;
    }
    return unverified("the tool server does not list it");
  }

  async #getOrDelete(
    req: IncomingMessage,
    res: ServerResponse,
    manifest: string,
    method: "GET" | "DELETE",
  ): Promise<void> {
    const c: CallState = {
      start: performance.now(),
      manifest,
      method: method === "GET" ? "(GET stream)" : "(DELETE session)",
      tool: null,
      args: undefined,
      taskId: null,
      traceId: traceIdOf(req),
      toolLabel: "none",
    };
    req.resume();
    const pv = header(req, "mcp-protocol-version");
    if (pv !== undefined && !isSupportedVersion(pv)) {
      return this.#refuse(
        res,
        c,
        null,
        deny(
          "UnsupportedProtocolVersion",
          `MCP-Protocol-Version ${pv.slice(0, 32)} is not supported`,
          manifest,
        ),
        400,
      );
    }
    const g = this.#gate(manifest);
    if ("deny" in g) return this.#refuse(res, c, null, g.deny, g.status);
    const disp = this.#dispatcher(g.server);
    if (isDeny(disp)) return this.#refuse(res, c, null, disp, 502);
    const headers = this.#upstreamHeaders(
      req,
      g.server,
      method === "GET" ? { accept: "text/event-stream" } : {},
    );
    if (isDeny(headers)) return this.#refuse(res, c, null, headers, 502);
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
    this.#record(c, "allow", "Granted", { upstreamStatus: up.statusCode });
    const sid = header(req, "mcp-session-id");
    if (method === "DELETE" && sid) this.#sessions.delete(sid);
    const ctype = String(up.headers["content-type"] ?? "");
    const out: Record<string, string> = {};
    if (ctype) out["content-type"] = ctype;
    if (/^text\/event-stream/i.test(ctype)) {
      res.writeHead(up.statusCode, { ...out, "cache-control": "no-cache" });
      res.flushHeaders();
      const version = this.#versionFor(sid, header(req, "mcp-protocol-version"));
      await relaySse(
        up.body,
        res,
        this.#serverStream(req, g.server, c, version, () => undefined),
      );
      return;
    }
    res.writeHead(up.statusCode, out);
    for await (const chunk of up.body) res.write(chunk);
    res.end();
  }
}

/** The `result` of the JSON-RPC response with `id` in a JSON or SSE body (strictly parsed). */
function resultOf(
  text: string,
  ctype: string,
  id: string,
  maxDepth: number,
): Record<string, unknown> | undefined {
  const bodies = /^text\/event-stream/i.test(ctype)
    ? new SseParser().push(`${text}\n\n`).map((e) => e.data)
    : [text];
  for (const b of bodies) {
    if (b === "") continue;
    let msg: unknown;
    try {
      msg = parseStrictJson(b, { maxBytes: MAX_RESPONSE_BYTES, maxDepth });
    } catch {
      continue;
    }
    const r = msg as { id?: unknown; result?: unknown } | null;
    if (
      r &&
      typeof r === "object" &&
      !Array.isArray(r) &&
      r.id === id &&
      typeof r.result === "object" &&
      r.result !== null
    )
      return r.result as Record<string, unknown>;
  }
  return undefined;
}

/** W3C traceparent's trace id, when the agent sent one. */
function traceIdOf(req: IncomingMessage): string | null {
  const tp = header(req, "traceparent");
  const m = tp ? /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/.exec(tp) : null;
  return m ? m[1]! : null;
}

function upstreamErrorKind(e: unknown): string {
  const code = (e as { code?: string }).code ?? "";
  const msg = (e as Error).message ?? "";
  if (code.includes("TIMEOUT") || /timeout/i.test(msg)) return "timeout";
  if (code.startsWith("ERR_TLS") || /certificate|SPIFFE|tls|handshake|expected spiffe/i.test(msg))
    return "tls";
  return "connect";
}

async function readLimited(body: AsyncIterable<Buffer | Uint8Array>, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of body) {
    n += c.length;
    if (n > limit) throw new Error(`upstream response larger than ${limit} bytes`);
    chunks.push(Buffer.from(c));
  }
  return Buffer.concat(chunks).toString("utf8");
}
