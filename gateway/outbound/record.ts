// The audit record of one call through the outbound gateway: what was asked (method, tool,
// arguments, task, trace), what was decided and by which rule, and how the upstream answered.
// One place builds DecisionFields, so every path (refusal, forward, server message) records alike.
import type { IncomingMessage } from "node:http";
import { performance } from "node:perf_hooks";
import type { DecisionFields } from "../audit/chain.ts";
import { redact } from "../audit/redact.ts";
import type { AuditWriter } from "../audit/writer.ts";
import { argsHash } from "../decide/digest.ts";
import { header } from "../http-util.ts";
import type { GatewayMetrics } from "../metrics.ts";

/** What the gateway knows about one agent message while deciding and forwarding it. */
export interface CallState {
  start: number;
  manifest: string;
  method: string;
  tool: string | null;
  args: Record<string, unknown> | undefined;
  taskId: string | null;
  traceId: string | null;
  /** Bounded metric label for the tool ("none", a granted name, or "other"). */
  toolLabel: string;
  /** MCP session the message belongs to, when the agent sent one. */
  sessionId?: string | undefined;
  /**
   * The audit form of `args` (hash of the full arguments, redacted copy), computed once per call:
   * a forwarded call has an intent and an outcome record with the same arguments.
   */
  auditArgs?: { of: Record<string, unknown>; hash: string; redacted: unknown } | undefined;
}

export function newCall(req: IncomingMessage, manifest: string, method: string): CallState {
  return {
    start: performance.now(),
    manifest,
    method,
    tool: null,
    args: undefined,
    taskId: null,
    traceId: traceIdOf(req),
    toolLabel: "none",
    sessionId: header(req, "mcp-session-id"),
  };
}

/** W3C traceparent's trace id, when the agent sent one. */
export function traceIdOf(req: IncomingMessage): string | null {
  const tp = header(req, "traceparent");
  const m = tp ? /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/.exec(tp) : null;
  return m ? m[1]! : null;
}

export interface RecorderDeps {
  audit: AuditWriter;
  metrics: GatewayMetrics;
  redactFields: ReadonlySet<string>;
  /** The agent's SPIFFE ID as the records name it. */
  agentID: () => string;
  onDropped: (rule: string, decision: string) => void;
}

export class CallRecorder {
  readonly #d: RecorderDeps;
  constructor(deps: RecorderDeps) {
    this.#d = deps;
  }

  /** The call's arguments as records carry them, memoised on the call (recomputed if they change). */
  #auditArgs(c: CallState): { hash: string | null; redacted: unknown } {
    const args = c.args;
    if (!args) return { hash: null, redacted: null };
    if (c.auditArgs?.of !== args)
      c.auditArgs = { of: args, hash: argsHash(args), redacted: redact(args, this.#d.redactFields) };
    return c.auditArgs;
  }

  fields(c: CallState, decision: string, rule: string, extra: Partial<DecisionFields> = {}): DecisionFields {
    const latencyMs = Math.round((performance.now() - c.start) * 1000) / 1000;
    const args = this.#auditArgs(c);
    return {
      time: new Date().toISOString(),
      agent: this.#d.agentID(),
      taskId: c.taskId,
      manifest: c.manifest,
      method: c.method,
      tool: c.tool,
      argsHash: args.hash,
      args: args.redacted,
      decision,
      rule,
      latencyMs,
      upstreamStatus: null,
      traceId: c.traceId,
      ...extra,
    };
  }

  /** Appends the record and counts the decision; false when the audit refused the record. */
  record(c: CallState, decision: string, rule: string, extra: Partial<DecisionFields> = {}): boolean {
    const f = this.fields(c, decision, rule, extra);
    const ok = this.#d.audit.append(f);
    if (!ok) this.#d.onDropped(rule, decision);
    this.#d.metrics.calls.inc({ decision, reason: rule, tool: c.toolLabel });
    this.#d.metrics.latency.observe({ decision }, f.latencyMs / 1000);
    return ok;
  }

  /**
   * The write-ahead record of a call about to be forwarded: resolves true once it is on disk. A
   * call whose intent could not be made durable must not leave the gateway.
   */
  intent(
    c: CallState,
    decision: string,
    rule: string,
    extra: Partial<DecisionFields> = {},
  ): Promise<boolean> {
    const f = this.fields(c, decision, rule, { ...extra, detail: { ...extra.detail, phase: "intent" } });
    return this.#d.audit.appendDurable(f).then((ok) => {
      if (!ok) this.#d.onDropped(rule, decision);
      return ok;
    });
  }

  /** The outcome of a call whose intent was recorded: same decision, with the upstream's answer. */
  outcome(c: CallState, decision: string, rule: string, extra: Partial<DecisionFields> = {}): boolean {
    return this.record(c, decision, rule, { ...extra, detail: { ...extra.detail, phase: "outcome" } });
  }

  /** A record that is not a client call (server→client messages, drift): no latency metric. */
  event(fields: DecisionFields): boolean {
    const ok = this.#d.audit.append(fields);
    if (!ok) this.#d.onDropped(fields.rule, fields.decision);
    return ok;
  }
}
