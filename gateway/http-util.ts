// Small helpers for node:http handlers: bounded body reading and JSON-RPC error responses.
import type { IncomingMessage, ServerResponse } from "node:http";
import { type Deny, denyError } from "./decide/deny.ts";

export class BodyTooLarge extends Error {
  override name = "BodyTooLarge";
}

/** Reads the request body, refusing (without buffering further) once it exceeds `limit` bytes. */
export function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"] ?? "0");
    if (declared > limit) {
      reject(new BodyTooLarge(`the body is larger than ${limit} bytes`));
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on("data", (c: Buffer) => {
      if (done) return;
      size += c.length;
      if (size > limit) {
        done = true;
        reject(new BodyTooLarge(`the body is larger than ${limit} bytes`));
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => {
      if (!done) {
        done = true;
        resolve(Buffer.concat(chunks).toString("utf8"));
      }
    });
    req.on("error", (e) => {
      if (!done) {
        done = true;
        reject(e);
      }
    });
  });
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
