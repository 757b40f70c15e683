// Argument constraints (the JSON-Schema subset of api/v1alpha1/constraints.ts), evaluated before a
// call is forwarded. Pure functions: the first violated constraint is returned as text naming the
// argument and the rule, so the deny message tells the agent's owner what to fix.
import type { ArgumentConstraint } from "../../api/v1alpha1/constraints.ts";

/** Longest string a pattern is ever run against: bounds the work of any regular expression. */
export const MAX_PATTERN_INPUT = 4096;

const regexCache = new Map<string, RegExp | string>();

/**
 * Why a pattern is not "simple" (and so not run), or undefined. Catastrophic backtracking needs a
 * quantified group that itself contains a quantifier or an alternation (`(a+)+`, `(a|a)*`);
 * backreferences and lookarounds are refused too. Refusing them keeps matching linear enough that,
 * with the input length cap, one argument cannot stall the gateway.
 */
export function patternProblem(pattern: string): string | undefined {
  if (/\\[1-9]|\\k</.test(pattern)) return "backreferences are not allowed";
  if (/\(\?<?[=!]/.test(pattern)) return "lookaround assertions are not allowed";
  const stack: { risky: boolean }[] = [{ risky: false }];
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "\\") {
      i++;
      continue;
    }
    if (inClass) {
      if (c === "]") inClass = false;
      continue;
    }
    if (c === "[") inClass = true;
    else if (c === "(") stack.push({ risky: false });
    else if (c === ")") {
      const g = stack.pop();
      if (!g || stack.length === 0) return "unbalanced parentheses";
      const next = pattern[i + 1];
      // `?` makes a group optional but does not repeat it, so it cannot nest repetition by itself.
      const repeated = next === "*" || next === "+" || next === "{";
      if (repeated && g.risky)
        return "a repeated group contains a quantifier or alternation (catastrophic backtracking)";
      if (g.risky || repeated || next === "?") stack[stack.length - 1]!.risky = true;
    } else if (c === "*" || c === "+" || c === "{" || c === "|") {
      stack[stack.length - 1]!.risky = true;
    }
  }
  if (stack.length !== 1) return "unbalanced parentheses";
  return undefined;
}

function compiled(pattern: string): RegExp | string {
  let r = regexCache.get(pattern);
  if (r === undefined) {
    const problem = patternProblem(pattern);
    if (problem) r = problem;
    else {
      try {
        // Anchored: the whole string must match, not a substring.
        r = new RegExp(`^(?:${pattern})$`, "u");
      } catch (e) {
        r = `invalid regular expression: ${(e as Error).message}`;
      }
    }
    if (regexCache.size > 1000) regexCache.clear();
    regexCache.set(pattern, r);
  }
  return r;
}

/** Value at a dotted path (own properties only), or undefined. */
export function getPath(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const seg of path.split(".")) {
    if (typeof cur !== "object" || cur === null || Array.isArray(cur)) return undefined;
    if (!Object.hasOwn(cur, seg)) return undefined;
    cur = (cur as Record<string, unknown>)[seg];
  }
  return cur;
}

function typeOf(v: unknown): string {
  if (Array.isArray(v)) return "array";
  if (v === null) return "null";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v;
}

/** Whether `host` is allowed by an allowlist entry: exact, or `*.suffix` for subdomains only. */
export function hostAllowed(host: string, allowlist: readonly string[]): boolean {
  const h = host.toLowerCase();
  return allowlist.some((entry) =>
    entry.startsWith("*.") ? h.endsWith(entry.slice(1)) && h.length > entry.length - 1 : h === entry,
  );
}

/** Why `value` at `c.argument` violates `c`, or undefined when it holds. */
export function constraintViolation(
  c: ArgumentConstraint,
  args: Record<string, unknown>,
): string | undefined {
  const v = getPath(args, c.argument);
  const name = `argument ${c.argument}`;
  if (v === undefined) return c.required ? `${name} is required` : undefined;
  if (c.type) {
    const t = typeOf(v);
    const ok = c.type === "number" ? t === "number" || t === "integer" : t === c.type;
    if (!ok) return `${name} must be of type ${c.type}, got ${t}`;
  }
  if (c.enum) {
    const s =
      typeof v === "string" || typeof v === "number" || typeof v === "boolean" ? String(v) : undefined;
    if (s === undefined || !c.enum.includes(s))
      return `${name} must be one of ${c.enum.map((e) => JSON.stringify(e)).join(", ")}`;
  }
  if (c.minLength !== undefined || c.maxLength !== undefined) {
    const len = typeof v === "string" || Array.isArray(v) ? v.length : undefined;
    if (len === undefined) return `${name} must be a string or array to have a length`;
    if (c.minLength !== undefined && len < c.minLength) return `${name} is shorter than ${c.minLength}`;
    if (c.maxLength !== undefined && len > c.maxLength) return `${name} is longer than ${c.maxLength}`;
  }
  if (c.minimum !== undefined || c.maximum !== undefined) {
    if (typeof v !== "number") return `${name} must be a number to be bounded`;
    if (c.minimum !== undefined && v < c.minimum) return `${name} must be >= ${c.minimum}`;
    if (c.maximum !== undefined && v > c.maximum) return `${name} must be <= ${c.maximum}`;
  }
  if (c.prefix !== undefined) {
    if (typeof v !== "string" || !v.startsWith(c.prefix))
      return `${name} must start with ${JSON.stringify(c.prefix)}`;
  }
  if (c.pattern !== undefined) {
    if (typeof v !== "string") return `${name} must be a string to match a pattern`;
    if (v.length > MAX_PATTERN_INPUT)
      return `${name} is longer than ${MAX_PATTERN_INPUT} characters, the limit for pattern matching`;
    const re = compiled(c.pattern);
    if (typeof re === "string")
      return `${name}: the pattern cannot be used (${re}); the call is refused until the policy is fixed`;
    if (!re.test(v)) return `${name} must match the pattern ${JSON.stringify(c.pattern)}`;
  }
  if (c.hostAllowlist !== undefined) {
    if (typeof v !== "string") return `${name} must be a URL string`;
    let url: URL;
    try {
      url = new URL(v);
    } catch {
      return `${name} is not a valid URL`;
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") return `${name} must be an http(s) URL`;
    // userinfo (`https://allowed.example@evil.example`) is a classic host-confusion trick.
    if (url.username || url.password) return `${name} must not contain user information`;
    if (!hostAllowed(url.hostname, c.hostAllowlist))
      return `${name}: host ${url.hostname} is not in the allowlist`;
  }
  return undefined;
}

/** The first violation among `constraints`, or undefined when all hold. */
export function argumentsViolation(
  constraints: readonly ArgumentConstraint[],
  args: Record<string, unknown>,
): string | undefined {
  for (const c of constraints) {
    const v = constraintViolation(c, args);
    if (v) return v;
  }
  return undefined;
}
