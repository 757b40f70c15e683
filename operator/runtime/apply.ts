// Writes are the throughput bound (DESIGN.md §4), so every apply is preceded by a comparison with
// the informer cache: when the live object already carries every field we would apply, with the
// same values, the write is skipped.

/**
 * True when `desired` is contained in `actual`: every key of a desired object is present with a
 * contained value (the server may add defaults and other managers' fields beside ours); arrays
 * must have the same length and contain element by element (lists we own are atomic or fully
 * ours, so an extra element — e.g. a hand-added egress rule — is a difference to repair).
 */
export function isSubset(desired: unknown, actual: unknown): boolean {
  if (desired === actual) return true;
  if (desired === undefined) return true;
  if (Array.isArray(desired)) {
    if (!Array.isArray(actual) || actual.length !== desired.length) return false;
    return desired.every((d, i) => isSubset(d, actual[i]));
  }
  if (desired !== null && typeof desired === "object") {
    if (actual === null || typeof actual !== "object" || Array.isArray(actual)) return false;
    const a = actual as Record<string, unknown>;
    for (const [k, v] of Object.entries(desired as Record<string, unknown>)) {
      if (v === undefined) continue;
      if (!isSubset(v, a[k])) return false;
    }
    return true;
  }
  return false;
}

/** JSON round trip: drops undefined and turns Dates into strings, as the API server returns them. */
export function plain<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}
