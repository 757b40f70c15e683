// Resource URIs against granted URI patterns: one matcher for the gateway (is this resources/read
// granted?) and the operator (does the agent's pattern lie within the manifest's?). Pure.
//
// A pattern match is only as good as the URI it sees: `file:///docs/*` matches
// `file:///docs/../etc/passwd` as a string, and a server that resolves dot segments (or decodes
// `%2e%2e`, or treats `\` as `/`) would read outside /docs. So a URI is checked for a canonical
// shape first and refused when it is not one (fail closed): ASCII only, no dot segments, no
// percent-encoded separators, dots, percent signs or control characters. The scheme is compared
// case-insensitively (RFC 3986 §3.1) and a pattern's scheme is literal, so no pattern reaches into
// another scheme.
import { URI_DOT_SEGMENT, URI_ENCODED_FORBIDDEN } from "../api/v1alpha1/surface.ts";

export const MAX_URI_LENGTH = 2048;

const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/;
/** Printable ASCII without space and backslash. */
const URI_CHARS = /^[!-[\]-~]*$/;
const MALFORMED_PERCENT = /%(?![0-9A-Fa-f]{2})/;
const DOT_SEGMENT = new RegExp(URI_DOT_SEGMENT);
const ENCODED_FORBIDDEN = new RegExp(URI_ENCODED_FORBIDDEN);

/** Why `uri` is not a canonical URI the gateway will match against patterns, or undefined. */
export function uriProblem(uri: string): string | undefined {
  if (uri.length === 0) return "is empty";
  if (uri.length > MAX_URI_LENGTH) return `is longer than ${MAX_URI_LENGTH} characters`;
  if (!SCHEME.test(uri)) return "has no scheme (a URI starts with a scheme such as file: or https:)";
  if (!URI_CHARS.test(uri))
    return "contains a space, a backslash, a control or a non-ASCII character (percent-encode it, RFC 3986)";
  if (MALFORMED_PERCENT.test(uri)) return "has a '%' not followed by two hex digits";
  if (ENCODED_FORBIDDEN.test(uri))
    return "percent-encodes '.', '/', '\\', '%' or a control character (write them plainly, or not at all)";
  if (DOT_SEGMENT.test(uri)) return "contains a '.' or '..' segment (write the resolved URI)";
  return undefined;
}

/** `*` matches any run of characters (`/` included); everything else matches itself. */
export function wildcardMatch(pattern: string, value: string): boolean {
  const parts = pattern.split("*");
  if (parts.length === 1) return pattern === value;
  const first = parts[0]!;
  const last = parts.at(-1)!;
  if (value.length < first.length + last.length) return false;
  if (!value.startsWith(first) || !value.endsWith(last)) return false;
  let at = first.length;
  const end = value.length - last.length;
  for (const mid of parts.slice(1, -1)) {
    const i = value.indexOf(mid, at);
    if (i === -1 || i + mid.length > end) return false;
    at = i + mid.length;
  }
  return true;
}

function lowerScheme(uri: string): string {
  const m = SCHEME.exec(uri);
  return m ? m[0].toLowerCase() + uri.slice(m[0].length) : uri;
}

/** Whether `uri` (already free of uriProblem) matches `pattern`. `*` alone matches every URI. */
export function uriMatches(pattern: string, uri: string): boolean {
  if (pattern === "*") return true;
  return wildcardMatch(lowerScheme(pattern), lowerScheme(uri));
}

/**
 * Whether every string `inner` matches is also matched by `outer` (both `*` patterns). Sound, not
 * complete: `outer` must match `inner` read as a string in which each `*` of `inner` can only be
 * consumed by a `*` of `outer` (which matches any run, including `inner`'s `*`). If that holds,
 * whatever `inner`'s stars expand to, `outer`'s stars absorb it. When it does not hold the answer is
 * "not covered", which may refuse a pattern that is in fact covered: fail closed.
 */
export function patternCovers(outer: string, inner: string): boolean {
  if (outer === "*") return true;
  const o = lowerScheme(outer);
  const i = lowerScheme(inner);
  // Dynamic programming over (position in o, position in i); bounded by 512×512 for API patterns.
  const n = o.length;
  const m = i.length;
  let prev = new Array<boolean>(m + 1).fill(false);
  prev[0] = true;
  // Row for o[0..0): only the empty inner prefix matches.
  for (let a = 1; a <= n; a++) {
    const cur = new Array<boolean>(m + 1).fill(false);
    const oc = o[a - 1]!;
    if (oc === "*") {
      // `*` of outer: matches zero chars (prev[b]) or one more char of inner, star or not (cur[b-1]).
      cur[0] = prev[0]!;
      for (let b = 1; b <= m; b++) cur[b] = prev[b]! || cur[b - 1]!;
    } else {
      for (let b = 1; b <= m; b++) cur[b] = prev[b - 1]! && i[b - 1] === oc && oc !== "*";
    }
    prev = cur;
  }
  return prev[m]!;
}
