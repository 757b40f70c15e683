// SPIFFE IDs, parsed and validated per the SPIFFE ID spec (spiffe/standards SPIFFE-ID.md §2):
// scheme `spiffe`, a lower-case trust domain of [a-z0-9._-] with no userinfo or port, a path of
// segments of [A-Za-z0-9._-] with no empty, "." or ".." segments, no query or fragment, and at most
// 2048 bytes in all. Pure functions; errors say which rule broke.
import { ValidationError } from "../errors.ts";

export const MAX_SPIFFE_ID_LENGTH = 2048;
export const MAX_TRUST_DOMAIN_LENGTH = 255;
const SCHEME_PREFIX = "spiffe://";
const TRUST_DOMAIN_CHARS = /^[a-z0-9._-]+$/;
const SEGMENT_CHARS = /^[A-Za-z0-9._-]+$/;

export interface SpiffeID {
  trustDomain: string;
  /** "" for a trust domain ID, else "/seg/seg". */
  path: string;
  segments: string[];
  toString(): string;
}

function invalid(id: string, message: string): ValidationError {
  return new ValidationError("SPIFFE ID", [
    { path: "spiffeID", message: `${JSON.stringify(id.slice(0, 120))}: ${message}` },
  ]);
}

/** What is wrong with a trust domain name, or undefined when it is valid. */
export function trustDomainProblem(td: string): string | undefined {
  if (td.length === 0) return "the trust domain must not be empty";
  if (td.length > MAX_TRUST_DOMAIN_LENGTH)
    return `the trust domain must be at most ${MAX_TRUST_DOMAIN_LENGTH} characters`;
  if (td.includes("@")) return "userinfo is not allowed in a SPIFFE ID";
  if (td.includes(":")) return "a port is not allowed in a SPIFFE ID";
  if (td !== td.toLowerCase()) return "the trust domain must be lower-case";
  if (!TRUST_DOMAIN_CHARS.test(td)) return "the trust domain may contain only a-z, 0-9, '.', '-' and '_'";
  return undefined;
}

/** Checks a trust domain name on its own (e.g. configuration). */
export function validateTrustDomain(td: string): void {
  const problem = trustDomainProblem(td);
  if (problem) throw invalid(td, problem);
}

/** Parses a SPIFFE ID; throws ValidationError naming the violated rule. */
export function parseSpiffeID(id: string): SpiffeID {
  if (typeof id !== "string") throw invalid(String(id), "must be a string");
  if (id.length > MAX_SPIFFE_ID_LENGTH) throw invalid(id, `must be at most ${MAX_SPIFFE_ID_LENGTH} bytes`);
  if (Buffer.byteLength(id, "utf8") > MAX_SPIFFE_ID_LENGTH)
    throw invalid(id, `must be at most ${MAX_SPIFFE_ID_LENGTH} bytes`);
  if (!id.startsWith(SCHEME_PREFIX)) {
    if (id.toLowerCase().startsWith(SCHEME_PREFIX))
      throw invalid(id, "the scheme must be lower-case 'spiffe'");
    throw invalid(id, "must start with spiffe://");
  }
  if (id.includes("?")) throw invalid(id, "a query is not allowed in a SPIFFE ID");
  if (id.includes("#")) throw invalid(id, "a fragment is not allowed in a SPIFFE ID");
  if (id.includes("%")) throw invalid(id, "percent-encoding is not allowed in a SPIFFE ID");
  const rest = id.slice(SCHEME_PREFIX.length);
  const slash = rest.indexOf("/");
  const trustDomain = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? "" : rest.slice(slash);
  const tdProblem = trustDomainProblem(trustDomain);
  if (tdProblem) throw invalid(id, tdProblem);
  const segments: string[] = [];
  if (path !== "") {
    if (path === "/") throw invalid(id, "the path must not end with '/'");
    for (const seg of path.slice(1).split("/")) {
      if (seg === "") throw invalid(id, "path segments must not be empty (no '//' and no trailing '/')");
      if (seg === "." || seg === "..") throw invalid(id, "path segments must not be '.' or '..'");
      if (!SEGMENT_CHARS.test(seg))
        throw invalid(id, "path segments may contain only A-Z, a-z, 0-9, '.', '-' and '_'");
      segments.push(seg);
    }
  }
  const str = SCHEME_PREFIX + trustDomain + path;
  return { trustDomain, path, segments, toString: () => str };
}

/** A workload SPIFFE ID: a leaf SVID must name a non-root path (X509-SVID spec §3). */
export function parseWorkloadID(id: string): SpiffeID {
  const parsed = parseSpiffeID(id);
  if (parsed.path === "")
    throw invalid(id, "a workload SPIFFE ID must have a path (the trust domain ID alone names no workload)");
  return parsed;
}

/** spiffe://<td>/ns/<namespace>/sa/<serviceAccount>, validated. */
export function workloadID(trustDomain: string, namespace: string, serviceAccount: string): string {
  return parseWorkloadID(`${SCHEME_PREFIX}${trustDomain}/ns/${namespace}/sa/${serviceAccount}`).toString();
}

/** True when `id` is a valid SPIFFE ID in `trustDomain`. */
export function inTrustDomain(id: string, trustDomain: string): boolean {
  try {
    return parseSpiffeID(id).trustDomain === trustDomain;
  } catch {
    return false;
  }
}
