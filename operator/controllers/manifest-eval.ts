// What the operator makes of a ToolManifest, as a pure function: validated and normalised spec,
// the digest pinned for each tool, and the Accepted condition.
import type { ToolManifest, ToolManifestSpec } from "../../api/v1alpha1/index.ts";
import { toolManifestSpec } from "../../api/v1alpha1/index.ts";
import { zodIssues } from "../../lib/errors.ts";
import { toolDigest } from "../../lib/tool-digest.ts";
import type { ConditionInput } from "../runtime/conditions.ts";

export interface PinnedTool {
  name: string;
  digest?: string;
  risk: string;
}

export interface ManifestEvaluation {
  /** The normalised spec (defaults filled in), when it is valid. */
  spec?: ToolManifestSpec;
  accepted: ConditionInput;
  tools: PinnedTool[];
}

export function evaluateManifest(m: Pick<ToolManifest, "spec">): ManifestEvaluation {
  const parsed = toolManifestSpec.safeParse(m.spec);
  if (!parsed.success) {
    const issues = zodIssues(parsed.error)
      .map((i) => `spec.${i.path}: ${i.message}`)
      .join("; ");
    return {
      accepted: {
        type: "Accepted",
        status: "False",
        reason: "Invalid",
        message: `Fix the manifest: ${issues}`,
      },
      tools: [],
    };
  }
  const spec = parsed.data;
  const tools: PinnedTool[] = [];
  const mismatches: string[] = [];
  for (const t of spec.tools) {
    const hasDefinition = t.description !== undefined || t.inputSchema !== undefined;
    const computed = hasDefinition ? toolDigest(t) : undefined;
    if (computed && t.digest && computed !== t.digest) {
      mismatches.push(`${t.name} (spec.digest ${t.digest}, computed ${computed})`);
    }
    tools.push({ name: t.name, digest: t.digest ?? computed, risk: t.risk });
  }
  if (mismatches.length > 0) {
    return {
      spec,
      tools,
      accepted: {
        type: "Accepted",
        status: "False",
        reason: "DigestMismatch",
        message: `The pinned digest does not match the given definition of tool ${mismatches.join(", ")}. Re-pin the digest or correct description/inputSchema.`,
      },
    };
  }
  const unpinned = tools.filter((t) => !t.digest).map((t) => t.name);
  return {
    spec,
    tools,
    accepted: {
      type: "Accepted",
      status: "True",
      reason: "Accepted",
      message:
        tools.length === 0
          ? `No tools; accepted for ${offeredSurface(spec).join(", ")}.`
          : unpinned.length === 0
            ? `${tools.length} tool(s) accepted, all pinned.`
            : `${tools.length} tool(s) accepted; not pinned (give description/inputSchema or digest to pin): ${unpinned.join(", ")}.`,
    },
  };
}

/** What a manifest offers besides tools, for the Accepted message of a manifest without tools. */
function offeredSurface(spec: ToolManifestSpec): string[] {
  const f = spec.clientFeatures;
  return [
    spec.resources ? "resources" : "",
    spec.prompts?.length ? "prompts" : "",
    spec.completion ? "completion" : "",
    spec.logging ? "logging" : "",
    f?.sampling ? "sampling" : "",
    f?.elicitation ? "elicitation" : "",
    f?.roots ? "roots" : "",
  ].filter(Boolean);
}
