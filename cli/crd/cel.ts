// CEL as the API server evaluates x-kubernetes-validations: @marcbachmann/cel-js (a maintained,
// dependency-free CEL implementation) plus the Kubernetes library functions our CRDs use
// (isCIDR, isURL, url(...).getScheme/getHost/getHostname/getPort/getEscapedPath), implemented
// with ports of the very Go parsers the API server calls (go-net.ts). Values are converted by
// schema as Kubernetes converts them: integer → int, number → double, date-time → timestamp.
// A rule using a function not registered here fails closed (reported, never skipped).
import { Environment } from "@marcbachmann/cel-js";
import { GoParseError, type GoURL, hostname, k8sParseCIDR, parseRequestURI } from "./go-net.ts";
import type { Schema, ValidationRule } from "./validate.ts";

class K8sURL {
  readonly url: GoURL;
  constructor(url: GoURL) {
    this.url = url;
  }
}

function goError(e: unknown): string {
  return e instanceof GoParseError ? e.message : String((e as Error)?.message ?? e);
}

function makeEnv(): Environment {
  return new Environment({ unlistedVariablesAreDyn: true, enableOptionalTypes: true })
    .registerType("kubernetes.URL", { ctor: K8sURL })
    .registerFunction("isCIDR(string): bool", (s: string) => {
      try {
        k8sParseCIDR(s);
        return true;
      } catch {
        return false;
      }
    })
    .registerFunction("isURL(string): bool", (s: string) => {
      try {
        parseRequestURI(s);
        return true;
      } catch {
        return false;
      }
    })
    .registerFunction("url(string): kubernetes.URL", (s: string) => {
      try {
        return new K8sURL(parseRequestURI(s));
      } catch (e) {
        throw new Error(`URL parse error during conversion from string: ${goError(e)}`);
      }
    })
    .registerFunction("kubernetes.URL.getScheme(): string", (u: K8sURL) => u.url.scheme)
    .registerFunction("kubernetes.URL.getHost(): string", (u: K8sURL) => u.url.host)
    .registerFunction("kubernetes.URL.getHostname(): string", (u: K8sURL) => hostname(u.url))
    .registerFunction("kubernetes.URL.getPort(): string", (u: K8sURL) => {
      const h = u.url.host;
      const colon = h.lastIndexOf(":");
      return colon !== -1 && /^:[0-9]*$/.test(h.slice(colon)) ? h.slice(colon + 1) : "";
    })
    .registerFunction("kubernetes.URL.getEscapedPath(): string", (u: K8sURL) => u.url.path);
}

let env: Environment | undefined;
function celEnv(): Environment {
  env ??= makeEnv();
  return env;
}

export interface CelResult {
  ok: boolean;
  /** Evaluation error (no such key, bad duration, ...), as the API server reports it. */
  error?: string;
  /** The messageExpression's value, when it has one and it evaluated to a usable string. */
  message?: string;
}

export interface CelProgram {
  usesOldSelf: boolean;
  /** ruleErrorString: the message, else the rule text. */
  errorString: string;
  /** ruleMessageOrDefault. */
  defaultMessage: string;
  evaluate(self: unknown, oldSelf: unknown, hasOld: boolean): CelResult;
}

/** Identifiers outside string literals (to find oldSelf as the API server's compiler does). */
function identifiers(expr: string): Set<string> {
  const stripped = expr.replace(/'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"/g, "''");
  return new Set(stripped.match(/[A-Za-z_][A-Za-z0-9_]*/g) ?? []);
}

export function compileRule(rule: ValidationRule): CelProgram {
  const errorString = (rule.message ?? "").trim() || rule.rule.trim();
  const defaultMessage = (rule.message ?? "").trim() || `failed rule: ${rule.rule.trim()}`;
  const usesOldSelf = identifiers(rule.rule).has("oldSelf");
  let compiled: ((ctx: Record<string, unknown>) => unknown) | undefined;
  let compileError: string | undefined;
  try {
    compiled = celEnv().parse(rule.rule) as unknown as (ctx: Record<string, unknown>) => unknown;
  } catch (e) {
    compileError = (e as Error).message.split("\n")[0];
  }
  let messageProgram: ((ctx: Record<string, unknown>) => unknown) | undefined;
  if (rule.messageExpression) {
    try {
      messageProgram = celEnv().parse(rule.messageExpression) as unknown as (
        ctx: Record<string, unknown>,
      ) => unknown;
    } catch {
      messageProgram = undefined;
    }
  }
  return {
    usesOldSelf,
    errorString,
    defaultMessage,
    evaluate(self, oldSelf, hasOld) {
      if (!compiled) return { ok: false, error: `rule compile error: ${compileError}` };
      const ctx: Record<string, unknown> = { self };
      if (hasOld) ctx.oldSelf = oldSelf;
      let value: unknown;
      try {
        value = compiled(ctx);
      } catch (e) {
        return { ok: false, error: (e as Error).message.split("\n")[0] };
      }
      if (value === true) return { ok: true };
      if (value !== false) return { ok: false, error: `rule evaluated to ${String(value)}, not a bool` };
      if (messageProgram) {
        try {
          const m = messageProgram(ctx);
          if (typeof m === "string" && m.trim() !== "" && !m.includes("\n"))
            return { ok: false, message: m.trim() };
        } catch {
          // An erroring messageExpression falls back to message, as the API server does.
        }
      }
      return { ok: false };
    },
  };
}

/** JSON → CEL value, typed by the schema (k8s.io/apiserver/pkg/cel UnstructuredToVal). */
export function toCelValue(value: unknown, schema: Schema | undefined, isRoot = false): unknown {
  if (value === null || value === undefined) return null;
  if (!schema || schema["x-kubernetes-preserve-unknown-fields"] || schema.type === undefined)
    return dynValue(value);
  switch (schema.type) {
    case "integer":
      return typeof value === "number" && Number.isInteger(value) ? BigInt(value) : value;
    case "number":
      return value;
    case "string":
      if (schema.format === "date-time" && typeof value === "string") {
        const d = new Date(value);
        return Number.isNaN(d.getTime()) ? value : d;
      }
      return value;
    case "array":
      return Array.isArray(value) ? value.map((v) => toCelValue(v, schema.items)) : value;
    case "object": {
      if (typeof value !== "object" || Array.isArray(value)) return value;
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (isRoot && k === "metadata") {
          // At the resource root only metadata.name and metadata.generateName are visible.
          const m = (v ?? {}) as Record<string, unknown>;
          out.metadata = Object.fromEntries(
            ["name", "generateName"].filter((f) => typeof m[f] === "string").map((f) => [f, m[f]]),
          );
          continue;
        }
        const sub =
          schema.properties?.[k] ??
          (typeof schema.additionalProperties === "object" ? schema.additionalProperties : undefined);
        out[k] = toCelValue(v, sub);
      }
      return out;
    }
    default:
      return value;
  }
}

function dynValue(value: unknown): unknown {
  if (typeof value === "number") return Number.isInteger(value) ? BigInt(value) : value;
  if (Array.isArray(value)) return value.map(dynValue);
  if (value && typeof value === "object")
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, dynValue(v)]));
  return value;
}
