// `warden authz --policy <policy.json> --server <ToolManifest> --tool <name> [--args <json>]
//   [--task-token <jwt>] [--json]`: evaluates one tool call against a compiled gateway policy
// offline, with the same decision functions the gateway runs (rate limits and definition drift
// are run-time state and are not evaluated). Exit 0 allowed (or held for approval), 1 denied, 2 usage.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { gatewayPolicy } from "../../api/v1alpha1/policy.ts";
import { decideMessage, type TaskTokenState } from "../../gateway/decide/decide.ts";
import { denyMessage } from "../../gateway/decide/deny.ts";
import { argsHash } from "../../gateway/decide/digest.ts";
import { parseStrictJson } from "../../gateway/decide/json.ts";
import { TaskTokenVerifier } from "../../gateway/decide/tasktoken.ts";

const USAGE = `usage: warden authz --policy <policy.json> --server <ToolManifest> --tool <name> [--args '<json>'] [--task-token <jwt>] [--json]
exit codes: 0 allowed or held for approval, 1 denied, 2 usage or unreadable input
`;

export async function authzCommand(
  argv: string[],
  out: { write(s: string): unknown } = process.stdout,
  err: { write(s: string): unknown } = process.stderr,
): Promise<number> {
  let v: Record<string, string | boolean | undefined>;
  try {
    v = parseArgs({
      args: argv,
      options: {
        policy: { type: "string" },
        server: { type: "string" },
        tool: { type: "string" },
        args: { type: "string" },
        "task-token": { type: "string" },
        json: { type: "boolean" },
      },
    }).values;
  } catch (e) {
    err.write(`warden authz: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (typeof v.policy !== "string" || typeof v.server !== "string" || typeof v.tool !== "string") {
    err.write(USAGE);
    return 2;
  }
  let policy: ReturnType<typeof gatewayPolicy.parse>;
  let args: unknown;
  try {
    const r = gatewayPolicy.safeParse(
      parseStrictJson(readFileSync(v.policy, "utf8"), { maxBytes: 16 << 20, maxDepth: 64 }),
    );
    if (!r.success) {
      err.write(
        `warden authz: ${v.policy} is not a valid GatewayPolicy: ${r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}\n`,
      );
      return 2;
    }
    policy = r.data;
    args = v.args ? parseStrictJson(String(v.args)) : {};
  } catch (e) {
    err.write(`warden authz: cannot read input: ${(e as Error).message}\n`);
    return 2;
  }
  const server = policy.servers.find((s) => s.manifest === v.server);
  if (!server) {
    err.write(
      `warden authz: the policy grants no ToolManifest named ${v.server} (has: ${policy.servers.map((s) => s.manifest).join(", ")})\n`,
    );
    return 1;
  }
  let task: TaskTokenState = { state: "absent" };
  if (typeof v["task-token"] === "string") {
    try {
      const verifier = new TaskTokenVerifier(policy.taskTokens.issuers, {
        audiences: [policy.agent.spiffeID],
        subject: policy.agent.spiffeID,
      });
      task = { state: "valid", token: await verifier.verify(v["task-token"]) };
    } catch (e) {
      task = { state: "invalid", reason: `task token rejected: ${(e as Error).message}` };
    }
  }
  const verdict = decideMessage({
    server,
    method: "tools/call",
    params: { name: v.tool, arguments: args as Record<string, unknown> },
    task,
    taskTokenRequired: policy.taskTokens.required,
    drifted: new Set(),
  });
  const denied = verdict.outcome === "deny" && server.mode === "Enforce";
  const result = {
    decision:
      verdict.outcome === "deny" ? (server.mode === "DryRun" ? "would-deny" : "deny") : verdict.outcome,
    manifest: server.manifest,
    tool: v.tool,
    argsHash: argsHash(args),
    ...(verdict.deny
      ? { rule: verdict.deny.rule, constraint: verdict.deny.constraint, message: denyMessage(verdict.deny) }
      : {}),
  };
  if (v.json) out.write(`${JSON.stringify(result, null, 2)}\n`);
  else if (verdict.deny) out.write(`${result.decision.toUpperCase()}: ${denyMessage(verdict.deny)}\n`);
  else
    out.write(
      `${verdict.outcome === "hold" ? "HOLD (needs approval)" : "ALLOW"}: ${server.manifest}/${v.tool}\n`,
    );
  return denied ? 1 : 0;
}
