// The one canonical JSON of the project. Everything that hashes JSON — pinned tool digests
// (operator and gateway must agree byte for byte), compiled policy versions, the webhook's sidecar
// template hash, audit record hashes and checkpoint signatures — uses this function.
//
// Canonical form (RFC 8785 style, exact for values JSON.parse can produce): object keys sorted by
// UTF-16 code units at every level, no whitespace, strings, keys and numbers written as
// JSON.stringify writes them, object members whose value is `undefined` omitted, `undefined` in an
// array written as null. Non-finite numbers, functions, symbols, bigints and objects with toJSON
// (Date, Buffer) have no canonical form: they throw, so a hash is never silently taken over a lossy
// encoding.
//
// Why it is fast: most values we hash were parsed from canonical text (an audit line, a policy
// file) or built in key order, so their keys already enumerate sorted. For those the canonical
// text IS what the native JSON.stringify writes, so a cheap walk that proves the order lets the
// native serializer do the work; anything else (unsorted keys, integer-like keys that V8
// enumerates first, values JSON.stringify would write differently) takes the exact slow path.
// Either way the output is the same: canonicalJSON.test.ts checks both paths against a naive
// reference over random values.

export class CanonicalJSONError extends TypeError {
  override readonly name = "CanonicalJSONError";
}

/** Walk budget: a value nested deeper than this is serialized by the slow path (which recurses). */
const MAX_DEPTH = 512;

/** Canonical JSON text of `value` (see the file comment for the exact form). */
export function canonicalJSON(value: unknown): string {
  if (value === undefined) throw new CanonicalJSONError("canonical JSON has no undefined at the top level");
  if (nativeIsCanonical(value, 0)) return JSON.stringify(value);
  return slow(value);
}

/**
 * True when JSON.stringify(value) is already the canonical text: every object's own enumerable
 * keys come in sorted order, is a plain object or array without toJSON, and every leaf is a
 * string, boolean, null, finite number or (as a member or element) undefined.
 */
function nativeIsCanonical(value: unknown, depth: number): boolean {
  if (value === null) return true;
  switch (typeof value) {
    case "string":
    case "boolean":
      return true;
    case "number":
      return Number.isFinite(value);
    case "object": {
      if (depth > MAX_DEPTH) return false;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          const v = value[i];
          if (v !== undefined && !nativeIsCanonical(v, depth + 1)) return false;
        }
        return true;
      }
      if (typeof (value as { toJSON?: unknown }).toJSON === "function") return false;
      let prev: string | undefined;
      for (const k in value) {
        if (!Object.hasOwn(value, k)) return false; // inherited enumerable keys: let the slow path decide
        if (prev !== undefined && !(prev < k)) return false;
        prev = k;
        const v = (value as Record<string, unknown>)[k];
        if (v !== undefined && !nativeIsCanonical(v, depth + 1)) return false;
      }
      return true;
    }
    default:
      // undefined reaches here only at the top level; function, symbol, bigint have no JSON form.
      return false;
  }
}

/** A member of an unsorted object: its own subtree may still be canonical already (native path). */
function serialize(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "object" && value !== null && nativeIsCanonical(value, 0))
    return JSON.stringify(value);
  return slow(value);
}

/** A key JSON.stringify writes as-is between quotes: no quote, backslash, control or surrogate. */
function plainKey(k: string): boolean {
  for (let i = 0; i < k.length; i++) {
    const c = k.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) return false;
  }
  return true;
}

function quoteKey(k: string): string {
  return plainKey(k) ? `"${k}"` : JSON.stringify(k);
}

function slow(value: unknown): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "string":
    case "boolean":
      return JSON.stringify(value);
    case "number":
      if (!Number.isFinite(value)) throw new CanonicalJSONError(`canonical JSON has no ${value}`);
      return JSON.stringify(value);
    case "object": {
      if (Array.isArray(value)) {
        let out = "[";
        for (let i = 0; i < value.length; i++) {
          if (i > 0) out += ",";
          const v = value[i];
          out += v === undefined ? "null" : serialize(v);
        }
        return `${out}]`;
      }
      if (typeof (value as { toJSON?: unknown }).toJSON === "function")
        throw new CanonicalJSONError(
          "canonical JSON takes plain data: convert objects with toJSON (Date, Buffer) to strings first",
        );
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj).sort();
      let out = "{";
      let first = true;
      for (const k of keys) {
        const v = obj[k];
        if (v === undefined) continue;
        if (!first) out += ",";
        first = false;
        out += `${quoteKey(k)}:${serialize(v)}`;
      }
      return `${out}}`;
    }
    case "undefined":
      throw new CanonicalJSONError("canonical JSON has no undefined at the top level");
    default:
      throw new CanonicalJSONError(`canonical JSON cannot encode a ${typeof value}`);
  }
}
