// Typed errors, mapped to HTTP/JSON-RPC/exit codes once, at each edge (never deep inside).
import type * as z from "zod";

/** Input that failed validation; `issues` name the field path and the fix. */
export class ValidationError extends Error {
  override name = "ValidationError";
  readonly issues: { path: string; message: string }[];
  constructor(what: string, issues: { path: string; message: string }[]) {
    super(
      `${what} is invalid: ${issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join("; ")}`,
    );
    this.issues = issues;
  }
}

/** A security decision that refused something; `reason` is a stable CamelCase code. */
export class DeniedError extends Error {
  override name = "DeniedError";
  readonly reason: string;
  constructor(reason: string, message: string) {
    super(message);
    this.reason = reason;
  }
}

/** Something we depend on is missing or broken (file, API server, upstream). */
export class UnavailableError extends Error {
  override name = "UnavailableError";
}

export function zodIssues(error: z.ZodError): { path: string; message: string }[] {
  return error.issues.map((i) => ({ path: formatPath(i.path), message: i.message }));
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const p of path) {
    if (typeof p === "number") out += `[${p}]`;
    else out += out ? `.${String(p)}` : String(p);
  }
  return out;
}

/** Parse with a zod schema or throw a ValidationError naming each bad field. */
export function parseOrThrow<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (!r.success) throw new ValidationError(what, zodIssues(r.error));
  return r.data;
}
