// The decision pipeline for one agent request or notification, after the envelope and the gate:
// task token → policy (pure decideMessage) → pinned-definition check → Mcp-Param-* headers against
// the arguments → rate limit → concurrency
// slot → DryRun → approval. Each step can only narrow; the first refusal wins. The steps that
// need the world (token verification, a tools/list upstream, the approval broker) come in as
// ports, so the order and the outcomes are testable without sockets.
import type { CompiledServer, GatewayPolicy } from "../../api/v1alpha1/policy.ts";
import type { DecisionFields } from "../audit/chain.ts";
import { decideMessage, rateLimitDeny, type TaskTokenState } from "../decide/decide.ts";
import { DENY_CODE, type Deny, deny } from "../decide/deny.ts";
import { HEADER_MISMATCH } from "../decide/param-headers.ts";
import type { RateLimiter } from "../decide/ratelimit.ts";
import { TASK_SCOPED_METHODS } from "../decide/surface.ts";
import type { CallState } from "./record.ts";

export interface ApprovalOutcome {
  decision: "approve" | "deny" | "timeout";
  approver?: string | undefined;
  /** Approval id, for the refusal message. */
  id: string;
}

export interface PipelinePorts {
  limiter: RateLimiter;
  taskToken(): Promise<TaskTokenState>;
  /** Undefined when the tool's live definition is known to match `digest`. */
  verifyDefinition(tool: string, digest: string): Promise<Deny | undefined>;
  isVerified(tool: string, digest: string): boolean;
  /** The Mcp-Param-* headers against a tools/call's arguments (param-headers.ts); undefined: agree. */
  paramHeaders(tool: string, args: Record<string, unknown>): Deny | undefined;
  drifted: ReadonlySet<string>;
  promptHash: string | undefined;
  /** Holds the call for a person; undefined when no more calls can wait. */
  holdForApproval(c: CallState, approvers: string[], timeoutMs: number): Promise<ApprovalOutcome> | undefined;
  /** The audit's refusal when it cannot take records any more, re-checked after a hold. */
  auditRefusal(): Deny | undefined;
  toolLabel(tool: string | null): string;
}

export type PipelineResult =
  | { kind: "refuse"; deny: Deny; status: number; extra?: Partial<DecisionFields> }
  | {
      kind: "forward";
      /** allow, would-deny or would-hold (DryRun). */
      decision: string;
      rule: string;
      approver?: string | undefined;
      /** Releases the tool's concurrency slot once the call is over. */
      release?: (() => void) | undefined;
    };

export async function decideRequest(
  c: CallState,
  policy: GatewayPolicy,
  server: CompiledServer,
  method: string,
  params: Record<string, unknown> | undefined,
  ports: PipelinePorts,
): Promise<PipelineResult> {
  const manifest = server.manifest;
  // Tool calls and the surface methods that use a resource or a prompt are a task's to narrow.
  const task =
    method === "tools/call" || TASK_SCOPED_METHODS.has(method)
      ? await ports.taskToken()
      : ({ state: "absent" } as const);
  if (task.state === "valid") c.taskId = task.token.taskId;
  const verdict = decideMessage({
    server,
    method,
    params,
    task,
    taskTokenRequired: policy.taskTokens.required,
    drifted: ports.drifted,
    promptHash: ports.promptHash,
  });
  c.tool = verdict.toolName ?? null;
  c.args = verdict.args;
  c.toolLabel = ports.toolLabel(c.tool);
  const dryRun = server.mode === "DryRun";
  let refusal = verdict.outcome === "deny" ? verdict.deny : undefined;
  const tool = verdict.tool;
  // A pinned tool whose definition this gateway has not seen (since start, or since the server
  // announced tools/list_changed) is verified with a tools/list upstream before the call.
  if (!refusal && tool?.digest && !ports.isVerified(tool.name, tool.digest))
    refusal = await ports.verifyDefinition(tool.name, tool.digest);
  // Headers that mirror arguments must say what the body says (after the definition check, which
  // may have just listed the tool and so learned its x-mcp-header declarations).
  if (!refusal && tool) refusal = ports.paramHeaders(tool.name, c.args ?? {});
  if (!refusal && tool) refusal = rateLimitDeny(ports.limiter, manifest, tool);
  let release: (() => void) | undefined;
  if (!refusal && tool) {
    const slot = ports.limiter.acquire(`${manifest}/${tool.name}`, tool.maxConcurrent);
    if (typeof slot === "string") refusal = deny("ConcurrencyLimit", `tool ${tool.name}: ${slot}`, manifest);
    else release = slot.release;
  }
  if (refusal) {
    // DryRun lets policy refusals through (recorded as would-deny); malformed input never passes.
    if (!(dryRun && refusal.code === DENY_CODE))
      return { kind: "refuse", deny: refusal, status: refusal.code === HEADER_MISMATCH ? 400 : 403 };
    return { kind: "forward", decision: "would-deny", rule: refusal.rule, release };
  }
  if (verdict.outcome !== "hold" || !tool || !c.tool || !c.args)
    return { kind: "forward", decision: "allow", rule: "Granted", release };
  if (dryRun) return { kind: "forward", decision: "would-hold", rule: "ApprovalRequired", release };
  const a = tool.approval!;
  const held = ports.holdForApproval(c, a.approvers, a.timeoutSeconds * 1000);
  if (!held) {
    release?.();
    return {
      kind: "refuse",
      deny: deny("ApprovalUnavailable", "too many calls are waiting for approval", manifest),
      status: 503,
    };
  }
  const outcome = await held;
  if (outcome.decision !== "approve") {
    release?.();
    const d =
      outcome.decision === "deny"
        ? deny(
            "ApprovalDenied",
            `approver ${outcome.approver} denied the call (approval ${outcome.id})`,
            manifest,
          )
        : deny(
            "ApprovalTimeout",
            `no approver answered within ${a.timeoutSeconds}s (approval ${outcome.id})`,
            manifest,
          );
    return {
      kind: "refuse",
      deny: d,
      status: 403,
      ...(outcome.decision === "deny" && outcome.approver ? { extra: { approver: outcome.approver } } : {}),
    };
  }
  // The audit may have failed while the call was held: re-check before forwarding.
  const auditDeny = ports.auditRefusal();
  if (auditDeny) {
    release?.();
    return { kind: "refuse", deny: auditDeny, status: 503 };
  }
  return { kind: "forward", decision: "allow", rule: "Approved", approver: outcome.approver, release };
}
