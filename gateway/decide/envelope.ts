// The envelope checks every client→server POST body goes through before any policy: strict JSON,
// no batches, a supported and consistent protocol version, a known method with a usable id, and
// Mcp-Method / Mcp-Name headers (when sent) that agree with the body. Refusals of headers use
// HeaderMismatch (-32020), as MCP 2026-07-28 defines it.
import { type Deny, deny, INVALID_REQUEST, PARSE_ERROR } from "./deny.ts";
import { JsonRejected, parseStrictJson } from "./json.ts";
import { type Classified, classifyClientMessage, isDeny } from "./jsonrpc.ts";
import {
  hasInitialize,
  isSupportedVersion,
  type ProtocolVersion,
  requiresRoutingHeaders,
  SUPPORTED_PROTOCOL_VERSIONS,
  VERSION_WITHOUT_HEADER,
} from "./methods.ts";
import { decodeHeaderValue, HEADER_MISMATCH } from "./param-headers.ts";

/** Where a request's params carry the protocol version (2026-07-28 _meta). */
export const META_PROTOCOL_VERSION = "io.modelcontextprotocol/protocolVersion";
/** Methods whose Mcp-Name header mirrors params.name, and those where it mirrors params.uri. */
const NAMED_BY_NAME = new Set(["tools/call", "prompts/get"]);
const NAMED_BY_URI = new Set(["resources/read", "resources/subscribe", "resources/unsubscribe"]);

export interface EnvelopeHeaders {
  /** MCP-Protocol-Version header. */
  protocolVersion?: string | undefined;
  /** Mcp-Method header (newer revisions mirror the method into a header for routing). */
  mcpMethod?: string | undefined;
  /** Mcp-Name header (tool / prompt name or resource URI mirrored into a header). */
  mcpName?: string | undefined;
}

export interface Envelope {
  version: ProtocolVersion;
  message: Classified;
  /** The parsed body (null-prototype objects), as forwarded. */
  body: unknown;
}

export interface EnvelopeOptions {
  maxBytes: number;
  maxDepth: number;
  /** Version negotiated earlier on this session, when the gateway saw the initialize exchange. */
  negotiated?: ProtocolVersion | undefined;
}

const supported = SUPPORTED_PROTOCOL_VERSIONS.join(", ");

export function checkEnvelope(text: string, h: EnvelopeHeaders, opts: EnvelopeOptions): Envelope | Deny {
  let body: unknown;
  try {
    body = parseStrictJson(text, { maxBytes: opts.maxBytes, maxDepth: opts.maxDepth });
  } catch (e) {
    if (e instanceof JsonRejected)
      return deny(e.reason, e.message, "", e.reason === "ParseError" ? PARSE_ERROR : INVALID_REQUEST);
    throw e;
  }
  if (Array.isArray(body)) {
    return deny(
      "BatchRejected",
      "JSON-RPC batches are not accepted (MCP removed batching)",
      "",
      INVALID_REQUEST,
    );
  }
  const obj = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>;
  let version: string | undefined;
  if (obj.method === "initialize") {
    const p = obj.params as Record<string, unknown> | undefined;
    const asked = typeof p?.protocolVersion === "string" ? p.protocolVersion : undefined;
    if (!isSupportedVersion(asked)) {
      return deny(
        "UnsupportedProtocolVersion",
        `initialize asks for protocol version ${JSON.stringify(asked)}; supported: ${supported}`,
        "",
        INVALID_REQUEST,
      );
    }
    if (!hasInitialize(asked))
      return deny("UnknownMethod", `MCP ${asked} has no initialize method`, "", INVALID_REQUEST);
    if (h.protocolVersion !== undefined && h.protocolVersion !== asked) {
      return deny(
        "HeaderMismatch",
        `MCP-Protocol-Version header ${h.protocolVersion} disagrees with initialize params.protocolVersion ${asked}`,
        "",
        HEADER_MISMATCH,
      );
    }
    version = asked;
  } else {
    if (h.protocolVersion === undefined) {
      // Without the header a server relies on the version negotiated at initialization, else
      // assumes 2025-03-26 (transport spec, backwards compatibility). 2026-07-28 has no
      // initialization: there the header is the version and must be sent.
      const p = obj.params as { _meta?: Record<string, unknown> } | undefined;
      const declared = p?._meta?.[META_PROTOCOL_VERSION];
      if (
        declared !== undefined &&
        isSupportedVersion(String(declared)) &&
        requiresRoutingHeaders(String(declared) as ProtocolVersion)
      ) {
        return deny(
          "MissingProtocolVersion",
          `MCP ${String(declared)} requires the MCP-Protocol-Version header on every request`,
          "",
          INVALID_REQUEST,
        );
      }
      version = opts.negotiated ?? VERSION_WITHOUT_HEADER;
    } else if (!isSupportedVersion(h.protocolVersion)) {
      return deny(
        "UnsupportedProtocolVersion",
        `MCP-Protocol-Version ${JSON.stringify(h.protocolVersion.slice(0, 32))} is not supported (supported: ${supported})`,
        "",
        INVALID_REQUEST,
      );
    } else version = h.protocolVersion;
  }
  const v = version as ProtocolVersion;
  // A client SHOULD (not MUST) repeat the negotiated version; another supported one is accepted,
  // but the message must then be valid under both, so a header cannot unlock a method the
  // session did not negotiate.
  const message = classifyClientMessage(body, v);
  if (!isDeny(message) && opts.negotiated && opts.negotiated !== v) {
    const underSession = classifyClientMessage(body, opts.negotiated);
    if (isDeny(underSession)) return underSession;
  }
  if (isDeny(message)) return message;
  if (message.kind !== "response") {
    const meta = (message.params?._meta ?? undefined) as Record<string, unknown> | undefined;
    const metaVersion = meta && typeof meta === "object" ? meta[META_PROTOCOL_VERSION] : undefined;
    if (metaVersion !== undefined && metaVersion !== v) {
      return deny(
        "HeaderMismatch",
        `params._meta["${META_PROTOCOL_VERSION}"] ${JSON.stringify(String(metaVersion).slice(0, 32))} disagrees with the protocol version in force (${v})`,
        "",
        HEADER_MISMATCH,
      );
    }
    if (requiresRoutingHeaders(v)) {
      if (h.mcpMethod === undefined)
        return deny(
          "MissingHeader",
          `MCP ${v} requires the Mcp-Method header on every POST`,
          "",
          HEADER_MISMATCH,
        );
      if (h.mcpName === undefined && (NAMED_BY_NAME.has(message.method) || NAMED_BY_URI.has(message.method)))
        return deny(
          "MissingHeader",
          `MCP ${v} requires the Mcp-Name header on ${message.method}`,
          "",
          HEADER_MISMATCH,
        );
    }
    if (h.mcpMethod !== undefined && h.mcpMethod !== message.method) {
      return deny(
        "HeaderMismatch",
        `Mcp-Method header ${JSON.stringify(h.mcpMethod.slice(0, 128))} disagrees with the body method ${message.method}`,
        "",
        HEADER_MISMATCH,
      );
    }
    if (h.mcpName !== undefined) {
      // The header may carry the name Base64-encoded (=?base64?…?=): compared after decoding.
      const decoded = decodeHeaderValue(h.mcpName);
      if ("problem" in decoded)
        return deny("HeaderMismatch", `Mcp-Name header ${decoded.problem}`, "", HEADER_MISMATCH);
      const p = message.params ?? {};
      const key = NAMED_BY_URI.has(message.method)
        ? "uri"
        : NAMED_BY_NAME.has(message.method)
          ? "name"
          : undefined;
      const named = key && typeof p[key] === "string" ? (p[key] as string) : undefined;
      if (named !== decoded.value) {
        return deny(
          "HeaderMismatch",
          `Mcp-Name header ${JSON.stringify(h.mcpName.slice(0, 128))} disagrees with the body (${JSON.stringify(named)})`,
          "",
          HEADER_MISMATCH,
        );
      }
    }
  }
  return { version: v, message, body };
}
