// metav1.Condition bookkeeping: lastTransitionTime changes only when the status does, so that
// re-computing the same conditions is a no-op and no status write happens for nothing.
import type { Condition } from "../../api/v1alpha1/index.ts";

export interface ConditionInput {
  type: string;
  status: "True" | "False" | "Unknown";
  reason: string;
  message: string;
}

/** Conditions for `generation`, keeping each previous lastTransitionTime when its status held. */
export function mergeConditions(
  previous: readonly Condition[] | undefined,
  next: readonly ConditionInput[],
  generation: number | undefined,
  now: Date = new Date(),
): Condition[] {
  const stamp = now.toISOString().replace(/\.\d{3}Z$/, "Z");
  return next.map((c) => {
    const old = previous?.find((p) => p.type === c.type);
    return {
      type: c.type,
      status: c.status,
      observedGeneration: generation,
      lastTransitionTime: old && old.status === c.status ? old.lastTransitionTime : stamp,
      reason: c.reason,
      message: c.message,
    };
  });
}

/** Ready is True only when every other condition is True; otherwise it carries the first failure. */
export function readyFrom(conditions: readonly ConditionInput[], readyMessage: string): ConditionInput {
  const failing = conditions.find((c) => c.status !== "True");
  if (!failing) return { type: "Ready", status: "True", reason: "Ready", message: readyMessage };
  return { type: "Ready", status: failing.status, reason: failing.reason, message: failing.message };
}
