// Headers that mirror the body (MCP 2026-07-28 Streamable HTTP, "Request Metadata", SEP-2243):
// Mcp-Name carries params.name / params.uri, and Mcp-Param-{Name} carries the tool arguments
// whose inputSchema property says `x-mcp-header: "{Name}"`. A load balancer or WAF may act on the
// header while the tool server acts on the body, so a gateway that decides on the body must make
// sure the two say the same thing, and refuse (400, HeaderMismatch -32020) when they do not:
//   - a value is plain header-safe ASCII, or the exact `=?base64?…?=` sentinel of strict Base64
//     over valid UTF-8 (decoded before comparing); anything else is invalid;
//   - an argument that is present and not null needs its header, equal to it (integers compared
//     numerically, booleans as "true"/"false"); an absent or null one must have no header;
//   - a Mcp-Param-* header the tool's schema does not declare is refused too: the gateway could
//     not check it, and something downstream might route on it.
// Declarations follow the spec's constraints (statically reachable through `properties` only,
// integer/string/boolean, RFC 9110 token names unique case-insensitively, safe integers); a tool
// whose declarations break them is invalid and the gateway refuses calls to it that carry any
// Mcp-Param-* header. Pure.
import { type Deny, deny } from "./deny.ts";

/** JSON-RPC code of HeaderMismatch (MCP 2026-07-28). */
export const HEADER_MISMATCH = -32020;
export const PARAM_HEADER_PREFIX = "mcp-param-";
const SENTINEL_START = "=?base64?";
const SENTINEL_END = "?=";
/** RFC 9110 field-name token. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Visible ASCII, with spaces and tabs only inside. */
const HEADER_SAFE = /^(?:[\x21-\x7e](?:[\x20\x21-\x7e\t]*[\x21-\x7e])?)?$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const utf8 = new TextDecoder("utf-8", { fatal: true });

export interface ParamDeclaration {
  /** The header name as declared (`Region` → header `Mcp-Param-Region`). */
  name: string;
  /** The chain of `properties` keys from the schema root to the annotated property. */
  path: string[];
  type: "string" | "integer" | "boolean";
}

/** A header value as the spec encodes it, decoded; or why it is not a valid one. */
export function decodeHeaderValue(raw: string): { value: string } | { problem: string } {
  if (raw.startsWith(SENTINEL_START) && raw.endsWith(SENTINEL_END) && raw.length >= 11) {
    const b64 = raw.slice(SENTINEL_START.length, -SENTINEL_END.length);
    if (!BASE64.test(b64)) return { problem: "is not valid Base64 inside the =?base64?…?= sentinel" };
    try {
      return { value: utf8.decode(Buffer.from(b64, "base64")) };
    } catch {
      return { problem: "does not decode to valid UTF-8" };
    }
  }
  if (!HEADER_SAFE.test(raw))
    return {
      problem:
        "contains characters a header value may not carry plainly (non-ASCII, control, or leading/trailing whitespace); use the =?base64?…?= form",
    };
  return { value: raw };
}

/** The x-mcp-header declarations of a tool's inputSchema, or why they make the tool invalid. */
export function paramDeclarations(inputSchema: unknown): { ok: ParamDeclaration[] } | { problem: string } {
  const found: ParamDeclaration[] = [];
  let problem: string | undefined;
  const seen = new Set<string>();
  // Walk every node (bounded by the schema's own size), tracking whether the path so far is a pure
  // chain of `properties` keys: only then is an annotation statically reachable.
  const visit = (node: unknown, path: string[] | undefined, depth: number): void => {
    if (problem || depth > 64) return;
    if (Array.isArray(node)) {
      for (const n of node) visit(n, undefined, depth + 1);
      return;
    }
    if (typeof node !== "object" || node === null) return;
    const o = node as Record<string, unknown>;
    if (Object.hasOwn(o, "x-mcp-header")) {
      const name = o["x-mcp-header"];
      if (typeof name !== "string" || !TOKEN.test(name))
        problem = `x-mcp-header ${JSON.stringify(name)} is not an HTTP field-name token`;
      else if (!path || path.length === 0)
        problem = `x-mcp-header ${name} is not reachable from the schema root through properties alone`;
      else if (o.type !== "string" && o.type !== "integer" && o.type !== "boolean")
        problem = `x-mcp-header ${name} is on a ${JSON.stringify(o.type)} parameter (string, integer or boolean only)`;
      else if (seen.has(name.toLowerCase())) problem = `x-mcp-header ${name} is declared twice`;
      else {
        seen.add(name.toLowerCase());
        found.push({ name, path, type: o.type });
      }
    }
    for (const [k, v] of Object.entries(o)) {
      if (k === "properties" && typeof v === "object" && v !== null && !Array.isArray(v)) {
        for (const [prop, sub] of Object.entries(v as Record<string, unknown>))
          visit(sub, path ? [...path, prop] : undefined, depth + 1);
      } else visit(v, undefined, depth + 1);
    }
  };
  visit(inputSchema, [], 0);
  return problem ? { problem } : { ok: found };
}

function valueAt(args: Record<string, unknown>, path: string[]): unknown {
  let v: unknown = args;
  for (const k of path) {
    if (typeof v !== "object" || v === null || Array.isArray(v) || !Object.hasOwn(v, k)) return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  return v;
}

function agrees(d: ParamDeclaration, header: string, body: unknown): boolean {
  if (d.type === "string") return typeof body === "string" && body === header;
  if (d.type === "boolean") return typeof body === "boolean" && String(body) === header;
  // Integers compare numerically (42.0 and 42 agree), within the safe range.
  if (typeof body !== "number" || !Number.isSafeInteger(body)) return false;
  if (!/^-?[0-9]+(\.0+)?$/.test(header)) return false;
  const n = Number(header);
  return Number.isSafeInteger(n) && n === body;
}

const mismatch = (constraint: string, manifest: string): Deny =>
  deny("HeaderMismatch", constraint, manifest, HEADER_MISMATCH);

/**
 * Checks the Mcp-Param-* headers of a tools/call (names lower-cased, as node gives them) against
 * its arguments. `declarations` is undefined when the gateway has not seen the tool's definition.
 */
export function paramHeadersRefusal(
  headers: Readonly<Record<string, string>>,
  declarations: { ok: ParamDeclaration[] } | { problem: string } | undefined,
  tool: string,
  args: Record<string, unknown>,
  manifest: string,
): Deny | undefined {
  const sent = new Map<string, string>();
  for (const [k, v] of Object.entries(headers))
    if (k.startsWith(PARAM_HEADER_PREFIX)) sent.set(k.slice(PARAM_HEADER_PREFIX.length), v);
  if (!declarations) {
    if (sent.size === 0) return undefined;
    return mismatch(
      `Mcp-Param-* headers were sent but the gateway has not seen tool ${tool}'s definition to check them against; call tools/list, then retry`,
      manifest,
    );
  }
  if ("problem" in declarations) {
    if (sent.size === 0) return undefined;
    return mismatch(`tool ${tool}'s inputSchema is invalid: ${declarations.problem}`, manifest);
  }
  const declared = new Map(declarations.ok.map((d) => [d.name.toLowerCase(), d]));
  for (const name of sent.keys())
    if (!declared.has(name))
      return mismatch(
        `header Mcp-Param-${name} is not declared by tool ${tool}'s inputSchema (x-mcp-header); remove it`,
        manifest,
      );
  for (const d of declarations.ok) {
    const body = valueAt(args, d.path);
    const raw = sent.get(d.name.toLowerCase());
    const where = `argument ${d.path.join(".")}`;
    if (body === undefined || body === null) {
      if (raw !== undefined)
        return mismatch(`header Mcp-Param-${d.name} is sent but ${where} is absent or null`, manifest);
      continue;
    }
    if (raw === undefined)
      return mismatch(`${where} is in the body but its header Mcp-Param-${d.name} is missing`, manifest);
    const decoded = decodeHeaderValue(raw);
    if ("problem" in decoded) return mismatch(`header Mcp-Param-${d.name} ${decoded.problem}`, manifest);
    if (!agrees(d, decoded.value, body))
      return mismatch(
        `header Mcp-Param-${d.name} ${JSON.stringify(decoded.value.slice(0, 128))} disagrees with ${where} (${JSON.stringify(body).slice(0, 128)})`,
        manifest,
      );
  }
  return undefined;
}
