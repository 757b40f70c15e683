// Forwarding to the tool server: which agent headers may pass (MCP transport headers only, never
// the agent's own credentials), the tool server's credential substituted from the agent's projected credentials Secret,
// and the mTLS dispatcher that pins the server's SPIFFE ID. Nothing here decides policy.
import { readFileSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import { join } from "node:path";
import type { Readable } from "node:stream";
import type { Dispatcher } from "undici";
import type { CompiledServer } from "../../api/v1alpha1/policy.ts";
import { credentialFileName } from "../../api/v1alpha1/sidecar.ts";
import { readStreamLimited } from "../body-relay.ts";
import { type Deny, deny } from "../decide/deny.ts";
import { PARAM_HEADER_PREFIX } from "../decide/param-headers.ts";
import { header } from "../http-util.ts";
import type { UpstreamClients } from "../upstream.ts";

/** The MCP transport headers an agent request may carry upstream; everything else stays here. */
const PASSED_HEADERS = [
  "mcp-session-id",
  "mcp-protocol-version",
  "last-event-id",
  "mcp-method",
  "mcp-name",
  "traceparent",
  "tracestate",
] as const;

export const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

export interface ForwardDeps {
  credentialsDir: string | undefined;
  upstream: UpstreamClients;
}

export interface HeaderOptions {
  /** Drop the session header (protocol revisions without sessions). */
  withoutSession?: boolean;
  /**
   * Pass the agent's Mcp-Param-* headers: only once they were checked against the body
   * (param-headers.ts), for a revision that defines them. Otherwise they stay here.
   */
  withParamHeaders?: boolean;
}

/**
 * Headers for an upstream request: `extra`, the agent's MCP transport headers and the substituted
 * credential.
 */
export function upstreamHeaders(
  deps: ForwardDeps,
  req: IncomingMessage,
  server: CompiledServer,
  extra: Record<string, string>,
  opts: HeaderOptions = {},
): Record<string, string> | Deny {
  const h: Record<string, string> = { ...extra };
  for (const name of PASSED_HEADERS) {
    const v = header(req, name);
    if (v !== undefined) h[name] = v;
  }
  if (opts.withoutSession) delete h["mcp-session-id"];
  if (opts.withParamHeaders)
    for (const [k, v] of Object.entries(req.headers))
      if (k.startsWith(PARAM_HEADER_PREFIX) && typeof v === "string") h[k] = v;
  if (server.credential) {
    const cred = server.credential;
    if (!deps.credentialsDir)
      return deny(
        "CredentialUnavailable",
        `no credentials directory is mounted for Secret ${cred.secretName}`,
        server.manifest,
      );
    // The operator projects each granted server's credential into the agent's credentials Secret
    // under the ToolManifest's name (credentialFileName); the agent container never mounts it.
    const file = credentialFileName(server.manifest);
    if (file === undefined) {
      return deny("CredentialUnavailable", "the ToolManifest name is not a plain name", server.manifest);
    }
    let value: string;
    try {
      value = readFileSync(join(deps.credentialsDir, file), "utf8").trim();
    } catch {
      return deny(
        "CredentialUnavailable",
        `credential ${cred.secretName}/${cred.key} is not mounted (the operator projects it into the agent's credentials Secret; see the AgentIdentity's CredentialsReady condition)`,
        server.manifest,
      );
    }
    if (!value) {
      return deny(
        "CredentialUnavailable",
        `credential ${cred.secretName}/${cred.key} is empty`,
        server.manifest,
      );
    }
    h[cred.header.toLowerCase()] = cred.scheme ? `${cred.scheme} ${value}` : value;
  }
  return h;
}

/** The mTLS dispatcher for a tool server, or why there is none. */
export function dispatcherFor(deps: ForwardDeps, server: CompiledServer): Dispatcher | Deny {
  if (!server.endpoint.startsWith("https://")) {
    return deny(
      "InsecureEndpoint",
      `endpoint ${server.endpoint} is not https: tool servers are reached over mTLS only`,
      server.manifest,
    );
  }
  const d = deps.upstream.get(server.serverSpiffeID);
  return d ?? deny("SvidExpired", "no SVID or trust bundle to call the tool server with", server.manifest);
}

export function upstreamErrorKind(e: unknown): string {
  // Not every error's code is a string: an aborted request (the agent hung up) rejects with a
  // DOMException whose code is a number, and throwing here would skip the call's outcome record.
  const c = (e as { code?: unknown } | null)?.code;
  const code = typeof c === "string" ? c : "";
  const m = (e as { message?: unknown } | null)?.message;
  const msg = typeof m === "string" ? m : "";
  if (code.includes("TIMEOUT") || /timeout/i.test(msg)) return "timeout";
  if (code.startsWith("ERR_TLS") || /certificate|SPIFFE|tls|handshake|expected spiffe/i.test(msg))
    return "tls";
  return "connect";
}

/** The whole upstream body as UTF-8, refused past `limit` bytes (body-relay.ts, no async iterator). */
export function readLimited(body: Readable, limit: number): Promise<string> {
  return readStreamLimited(body, limit, (l) => new Error(`upstream response larger than ${l} bytes`));
}
