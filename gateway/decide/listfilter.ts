// Filtering of tools/list (and server/discover) results: only granted tools are shown, and a
// granted tool whose live definition no longer matches its pinned digest is hidden and reported
// as drift, so the gateway can deny later calls to it and audit the change.
import type { CompiledServer } from "../../api/v1alpha1/policy.ts";
import { toolDigest } from "./digest.ts";

export interface Drift {
  tool: string;
  pinned: string;
  live: string;
}

export interface FilteredList {
  result: Record<string, unknown>;
  /** Granted tools whose definition drifted (hidden). */
  drifted: Drift[];
  /** Granted tools listed with a matching (or no) pinned digest. */
  shown: string[];
  /** Count of tools hidden because they are not granted. */
  ungranted: number;
}

export function filterToolList(result: Record<string, unknown>, server: CompiledServer): FilteredList {
  const tools = Array.isArray(result.tools) ? (result.tools as unknown[]) : [];
  const kept: unknown[] = [];
  const drifted: Drift[] = [];
  const shown: string[] = [];
  let ungranted = 0;
  for (const t of tools) {
    if (typeof t !== "object" || t === null) {
      ungranted++;
      continue;
    }
    const def = t as { name?: unknown; description?: unknown; inputSchema?: unknown };
    const grant = typeof def.name === "string" ? server.tools.find((g) => g.name === def.name) : undefined;
    if (!grant) {
      ungranted++;
      continue;
    }
    if (grant.digest) {
      const live = toolDigest({
        name: grant.name,
        description: typeof def.description === "string" ? def.description : undefined,
        inputSchema: def.inputSchema,
      });
      if (live !== grant.digest) {
        drifted.push({ tool: grant.name, pinned: grant.digest, live });
        continue;
      }
    }
    shown.push(grant.name);
    kept.push(t);
  }
  return { result: { ...result, tools: kept }, drifted, shown, ungranted };
}
