// The per-message policy decision, after the envelope checks: which methods the policy lets
// through, and for tools/call the grant, definition drift, task-token narrowing, argument
// constraints and approval. Pure apart from the rate limiter, which is consulted last so that a
// call refused for another reason never consumes a token.
import type { CompiledServer, CompiledTool } from "../../api/v1alpha1/policy.ts";
import { argumentsViolation } from "./constraints.ts";
import { type Deny, deny, INVALID_REQUEST } from "./deny.ts";
import { prototypeKeyPath, toolNameProblem, toolsCallParams, toolsCallShape } from "./jsonrpc.ts";
import type { RateLimiter } from "./ratelimit.ts";
import { surfaceDecision, TASK_SCOPED_METHODS, taskSurfaceDecision } from "./surface.ts";
import type { TaskToken } from "./tasktoken.ts";

/** Methods that need no grant: lifecycle, discovery (results are filtered) and housekeeping. */
const UNGRANTED_METHODS = new Set([
  "initialize",
  "ping",
  "tools/list",
  "server/discover",
  "tasks/get",
  "tasks/result",
  "tasks/list",
  "tasks/cancel",
]);

export type TaskTokenState =
  | { state: "absent" }
  | { state: "valid"; token: TaskToken }
  | { state: "invalid"; reason: string };

export interface CallInput {
  server: CompiledServer;
  method: string;
  params: Record<string, unknown> | undefined;
  task: TaskTokenState;
  taskTokenRequired: boolean;
  /** Tools of this server whose live definition no longer matches the pinned digest. */
  drifted: ReadonlySet<string>;
  /** Prompt hash the caller declared for this call (header), if any. */
  promptHash?: string | undefined;
}

export interface Verdict {
  /** allow: forward. hold: forward after approval. deny: refuse (or forward as would-deny in DryRun). */
  outcome: "allow" | "hold" | "deny";
  deny?: Deny;
  tool?: CompiledTool;
  toolName?: string;
  args?: Record<string, unknown>;
}

function refuse(d: Deny, extra: Partial<Verdict> = {}): Verdict {
  return { outcome: "deny", deny: d, ...extra };
}

/** Everything except rate limits: pure. */
export function decideMessage(input: CallInput): Verdict {
  const m = input.server.manifest;
  if (input.method !== "tools/call") {
    // Client notifications (already checked against the revision's list) carry no grantable action.
    if (UNGRANTED_METHODS.has(input.method) || input.method.startsWith("notifications/"))
      return { outcome: "allow" };
    // Resources, prompts, completion, logging: granted per server; the params go to the audit.
    const surface = surfaceDecision(input.server, input.method, input.params);
    const args = input.params ? { ...input.params } : undefined;
    const extra = args ? { args } : {};
    if (surface) return refuse(surface, extra);
    if (surface === null) {
      if (!TASK_SCOPED_METHODS.has(input.method)) return { outcome: "allow", ...extra };
      const gate = taskTokenGate(input);
      if (gate) return refuse(gate, extra);
      const narrowed =
        input.task.state === "valid"
          ? taskSurfaceDecision(input.task.token, input.method, input.params, m)
          : null;
      return narrowed ? refuse(narrowed, extra) : { outcome: "allow", ...extra };
    }
    return refuse(deny("MethodNotGranted", `${input.method} is not granted by the policy`, m));
  }
  const fast = toolsCallShape(input.params ?? {});
  const p = fast ? { success: true as const, data: fast } : toolsCallParams.safeParse(input.params ?? {});
  if (!p.success) {
    return refuse(
      deny(
        "InvalidJsonRpc",
        "tools/call params must be {name: string, arguments?: object}",
        m,
        INVALID_REQUEST,
      ),
    );
  }
  const name = p.data.name;
  const args = p.data.arguments ?? {};
  const nameProblem = toolNameProblem(name);
  if (nameProblem) return refuse(deny("InvalidToolName", nameProblem, m, INVALID_REQUEST));
  const proto = prototypeKeyPath(args);
  if (proto)
    return refuse(deny("ForbiddenKey", `${proto} is a prototype key and is not allowed`, m, INVALID_REQUEST));
  const tool = input.server.tools.find((t) => t.name === name);
  const base = { toolName: name, args, ...(tool ? { tool } : {}) };
  if (!tool) return refuse(deny("ToolNotGranted", `tool ${name} is not granted to this agent`, m), base);
  if (input.drifted.has(name)) {
    return refuse(
      deny(
        "DefinitionDrift",
        `tool ${name}'s live definition differs from the pinned digest ${tool.digest}`,
        m,
      ),
      base,
    );
  }
  const gate = taskTokenGate(input);
  if (gate) return refuse(gate, base);
  if (input.task.state === "valid") {
    const t = input.task.token;
    if (!t.allowedTools.includes(name)) {
      return refuse(
        deny(
          "TaskTokenNarrowed",
          `task ${t.taskId} does not allow tool ${name} (allowed: ${t.allowedTools.join(", ") || "none"})`,
          m,
        ),
        base,
      );
    }
    if (t.promptHash && input.promptHash !== undefined && input.promptHash !== t.promptHash) {
      return refuse(
        deny("PromptHashMismatch", `the declared prompt hash differs from task ${t.taskId}'s prompt_hash`, m),
        base,
      );
    }
  }
  const violation = argumentsViolation(tool.arguments, args);
  if (violation) return refuse(deny("ArgumentConstraint", violation, m), base);
  if (tool.approval?.required) return { outcome: "hold", ...base };
  return { outcome: "allow", ...base };
}

/** An invalid task token, or none where the policy requires one: refused before any narrowing. */
function taskTokenGate(input: CallInput): Deny | undefined {
  const m = input.server.manifest;
  if (input.task.state === "invalid") return deny("TaskTokenInvalid", input.task.reason, m);
  if (input.task.state === "absent" && input.taskTokenRequired)
    return deny("TaskTokenRequired", "a task token (Warden-Task-Token header) is required by the policy", m);
  return undefined;
}

/** Rate limit for an otherwise admissible call; consumes a token only when it passes. */
export function rateLimitDeny(limiter: RateLimiter, manifest: string, tool: CompiledTool): Deny | undefined {
  if (!tool.rateLimit) return undefined;
  const r = limiter.take(`${manifest}/${tool.name}`, tool.rateLimit);
  return r ? deny("RateLimited", `tool ${tool.name}: ${r}`, manifest) : undefined;
}
