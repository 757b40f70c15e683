// Status writes are skipped when nothing changed: compare the status we would write with the
// cached one, conditions matched by type (order-insensitive).
import type { Condition } from "../../api/v1alpha1/index.ts";
import { isSubset } from "../runtime/apply.ts";

export function statusUnchanged(
  desired: Record<string, unknown>,
  actual: Record<string, unknown> | undefined,
): boolean {
  if (!actual) return false;
  const { conditions: dc, ...dRest } = desired as { conditions?: Condition[] };
  const { conditions: ac, ...aRest } = actual as { conditions?: Condition[] };
  if (!isSubset(dRest, aRest)) return false;
  const want = dc ?? [];
  const have = ac ?? [];
  if (want.length !== have.length) return false;
  return want.every((w) => {
    const h = have.find((c) => c.type === w.type);
    return h !== undefined && isSubset(w, h);
  });
}
