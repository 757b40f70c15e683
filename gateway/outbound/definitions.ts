// Definition tracking for pinned tools: which live definitions were seen matching their digest
// (verified), which drifted (hidden and denied), per ToolManifest. tools/list results observed on
// any path feed it; a pinned tool not yet verified is checked with a tools/list of its own before
// its first call, and notifications/tools/list_changed makes the next call check again.
import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { request as undiciRequest } from "undici";
import type { CompiledServer } from "../../api/v1alpha1/policy.ts";
import { type Deny, deny } from "../decide/deny.ts";
import { parseStrictJson } from "../decide/json.ts";
import { isDeny } from "../decide/jsonrpc.ts";
import { type Drift, filterToolList } from "../decide/listfilter.ts";
import type { ProtocolVersion } from "../decide/methods.ts";
import { type ParamDeclaration, paramDeclarations } from "../decide/param-headers.ts";
import { SseParser } from "../sse.ts";
import {
  dispatcherFor,
  type ForwardDeps,
  MAX_RESPONSE_BYTES,
  readLimited,
  upstreamErrorKind,
  upstreamHeaders,
} from "./forward.ts";

/** Tool results may nest deeper than requests may; still bounded (the parser recurses). */
export const SERVER_MESSAGE_MAX_DEPTH = 128;
/** Pages of tools/list followed when verifying one definition. */
const MAX_VERIFY_PAGES = 10;

export interface DefinitionEvents {
  /** A granted tool's live definition differs from its pin (count it, audit it). */
  onDrift(server: CompiledServer, d: Drift, method: string): void;
  onUpstreamError(kind: string): void;
}

export class DefinitionTracker {
  /** Tools whose live definition drifted, per manifest. */
  readonly drift = new Map<string, Set<string>>();
  /** Pinned tools seen matching their digest, per manifest (tool → digest). */
  readonly verified = new Map<string, Map<string, string>>();
  /** The x-mcp-header declarations of each tool last listed, per manifest (for Mcp-Param-* checks). */
  readonly #params = new Map<string, Map<string, { ok: ParamDeclaration[] } | { problem: string }>>();
  readonly #events: DefinitionEvents;

  constructor(events: DefinitionEvents) {
    this.#events = events;
  }

  driftedOf(manifest: string): ReadonlySet<string> {
    return this.drift.get(manifest) ?? new Set();
  }

  /** Undefined when no tools/list result naming the tool was seen since start or list_changed. */
  paramDeclarationsOf(
    manifest: string,
    tool: string,
  ): { ok: ParamDeclaration[] } | { problem: string } | undefined {
    return this.#params.get(manifest)?.get(tool);
  }

  isVerified(manifest: string, tool: string, digest: string): boolean {
    return this.verified.get(manifest)?.get(tool) === digest;
  }

  /** The server announced tools/list_changed: every pinned tool is checked again before use. */
  markStale(manifest: string): void {
    this.verified.delete(manifest);
    this.#params.delete(manifest);
  }

  /** Records what a tools/list result shows and returns it filtered to the granted tools. */
  observeList(
    result: Record<string, unknown>,
    server: CompiledServer,
    method: string,
  ): Record<string, unknown> {
    const f = filterToolList(result, server);
    const m = server.manifest;
    let params = this.#params.get(m);
    if (!params) {
      params = new Map();
      this.#params.set(m, params);
    }
    const listed = Array.isArray(f.result.tools) ? (f.result.tools as unknown[]) : [];
    for (const t of listed) {
      const d = t as { name?: unknown; inputSchema?: unknown };
      if (typeof d.name === "string") params.set(d.name, paramDeclarations(d.inputSchema));
    }
    let set = this.drift.get(m);
    if (!set) {
      set = new Set();
      this.drift.set(m, set);
    }
    let ok = this.verified.get(m);
    if (!ok) {
      ok = new Map();
      this.verified.set(m, ok);
    }
    for (const name of f.shown) {
      set.delete(name);
      const digest = server.tools.find((t) => t.name === name)?.digest;
      if (digest) ok.set(name, digest);
    }
    for (const d of f.drifted) {
      set.add(d.tool);
      ok.delete(d.tool);
      this.#events.onDrift(server, d, method);
    }
    return f.result;
  }

  /**
   * Lists the server's tools (following nextCursor) to check a pinned tool's live definition before
   * its first call. Returns the refusal, or undefined when the definition matches.
   */
  async verify(
    deps: ForwardDeps,
    req: IncomingMessage,
    server: CompiledServer,
    tool: string,
    digest: string,
    version: ProtocolVersion,
  ): Promise<Deny | undefined> {
    const m = server.manifest;
    const unverified = (why: string) =>
      deny(
        "DefinitionUnverified",
        `tool ${tool}'s live definition could not be checked against the pinned digest ${digest}: ${why}`,
        m,
      );
    const disp = dispatcherFor(deps, server);
    if (isDeny(disp)) return disp;
    const headers = upstreamHeaders(deps, req, server, {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
    });
    if (isDeny(headers)) return headers;
    delete headers["last-event-id"];
    delete headers["mcp-name"];
    if (headers["mcp-method"] !== undefined) headers["mcp-method"] = "tools/list";
    headers["mcp-protocol-version"] = version;
    let cursor: string | undefined;
    for (let page = 0; page < MAX_VERIFY_PAGES; page++) {
      const id = `warden-verify-${randomUUID()}`;
      const body = JSON.stringify({
        jsonrpc: "2.0",
        id,
        method: "tools/list",
        ...(cursor ? { params: { cursor } } : {}),
      });
      let result: Record<string, unknown> | undefined;
      try {
        const up = await undiciRequest(server.endpoint, { method: "POST", headers, body, dispatcher: disp });
        const text = await readLimited(up.body, MAX_RESPONSE_BYTES);
        if (up.statusCode !== 200) return unverified(`tools/list answered HTTP ${up.statusCode}`);
        result = resultOf(text, String(up.headers["content-type"] ?? ""), id);
      } catch (e) {
        this.#events.onUpstreamError(upstreamErrorKind(e));
        return unverified(`tools/list failed: ${(e as Error).message}`);
      }
      if (!result) return unverified("tools/list returned no result");
      this.observeList(result, server, "tools/list");
      if (this.drift.get(m)?.has(tool))
        return deny(
          "DefinitionDrift",
          `tool ${tool}'s live definition differs from the pinned digest ${digest}`,
          m,
        );
      if (this.isVerified(m, tool, digest)) return undefined;
      cursor = typeof result.nextCursor === "string" ? result.nextCursor : undefined;
      if (!cursor) break;
    }
    return unverified("the tool server does not list it");
  }
}

/** The `result` of the JSON-RPC response with `id` in a JSON or SSE body (strictly parsed). */
function resultOf(text: string, ctype: string, id: string): Record<string, unknown> | undefined {
  const bodies = /^text\/event-stream/i.test(ctype)
    ? new SseParser().push(`${text}\n\n`).map((e) => e.data)
    : [text];
  for (const b of bodies) {
    if (b === "") continue;
    let msg: unknown;
    try {
      msg = parseStrictJson(b, { maxBytes: MAX_RESPONSE_BYTES, maxDepth: SERVER_MESSAGE_MAX_DEPTH });
    } catch {
      continue;
    }
    const r = msg as { id?: unknown; result?: unknown } | null;
    if (
      r &&
      typeof r === "object" &&
      !Array.isArray(r) &&
      r.id === id &&
      typeof r.result === "object" &&
      r.result !== null
    )
      return r.result as Record<string, unknown>;
  }
  return undefined;
}
