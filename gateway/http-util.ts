// Small helpers for node:http handlers: bounded body reading and JSON-RPC error responses.
import type { IncomingMessage, ServerResponse } from "node:http";
import { readBodyBytes } from "../lib/http-body.ts";
import { type Deny, denyError } from "./decide/deny.ts";

export { BodyTooLarge } from "../lib/http-body.ts";

/** Reads the request body as UTF-8, refusing (without buffering further) past `limit` bytes. */
export async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return (await readBodyBytes(req, limit)).toString("utf8");
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/**
 * A refusal: with a request id it is an ordinary JSON-RPC error (HTTP 200, so MCP clients surface
 * the message); without one (malformed input, notifications) HTTP `status` with an id-less error.
 */
export function sendDeny(res: ServerResponse, id: string | number | null, d: Deny, status = 400): void {
  sendJson(res, id === null || TRANSPORT_RULES.has(d.rule) ? status : 200, denyError(id, d));
}

/**
 * Refusals the transport spec answers with an HTTP status whatever the message: an unknown session
 * is 404 (the client then starts a new one), a forbidden Origin/Host 403, a method the revision
 * does not have 405, headers that disagree with the body 400 (HeaderMismatch, MCP 2026-07-28).
 */
const TRANSPORT_RULES = new Set([
  "HeaderMismatch",
  "MissingHeader",
  "SessionNotFound",
  "SessionRequired",
  "OriginNotAllowed",
  "HostNotAllowed",
  "MethodNotAllowed",
]);

export function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(",") : v;
}
