// The server stream: every message a tool server sends toward the agent (on the GET stream, in an
// SSE response, or as a JSON response) is decided by decideServerMessage. Refused ones are dropped
// and audited (requests are answered upstream with their JSON-RPC error so the server does not
// wait), tools/list_changed marks the manifest's verified definitions stale, and responses go
// through the caller's `inspect` (tools/list filtering, session capture).
import type { CompiledServer } from "../../api/v1alpha1/policy.ts";
import type { Deny } from "../decide/deny.ts";
import type { ProtocolVersion } from "../decide/methods.ts";
import { decideServerMessage, type ServerVerdict } from "../decide/server-messages.ts";
import type { SseInspector } from "../sse-relay.ts";
import { SERVER_MESSAGE_MAX_DEPTH } from "./definitions.ts";

/** Whether the reply to the agent's request came through a server stream. */
export interface ReplyTrack {
  id: string | number;
  answered: boolean;
  /** The first malformed message dropped (could have been the reply). */
  dropped?: Deny;
}

export interface ServerStreamDeps {
  server: CompiledServer;
  version: ProtocolVersion;
  /** Rewrites a response (undefined: pass as sent). */
  inspect: (msg: Record<string, unknown>) => unknown;
  /** Drop, audit and (for requests) answer a refused server message. */
  refuse: (v: Extract<ServerVerdict, { action: "refuse" }>) => void;
  /** The server announced that its tool list changed. */
  toolsChanged: () => void;
  /** Whether a response with this id answers a request the agent sent (else dropped and counted). */
  solicited: (id: string | number | null) => boolean;
  /** A response nobody asked for was dropped. */
  unsolicited: (id: string | number | null) => void;
  /** A server→client request passes to the agent: its answer will be expected. */
  passedRequest: (id: string | number, method: string) => void;
  /** Whether a notification may reach the agent (e.g. task status only for the session's tasks). */
  notificationAllowed?: (method: string, params: Record<string, unknown> | undefined) => boolean;
  track?: ReplyTrack | undefined;
}

export function serverStream(d: ServerStreamDeps): SseInspector {
  return (data) => {
    const v = decideServerMessage(data, d.version, d.server.manifest, SERVER_MESSAGE_MAX_DEPTH);
    if (v.action === "refuse") {
      d.refuse(v);
      // Malformed messages have no usable method ("(malformed)", "(batch)", "(invalid)").
      if (d.track && v.id === undefined && v.method.startsWith("(")) d.track.dropped ??= v.deny;
      return null;
    }
    const id = v.message.id as string | number | null | undefined;
    if (v.kind === "response") {
      if (!d.solicited(id ?? null)) {
        d.unsolicited(id ?? null);
        return null;
      }
      if (d.track && id === d.track.id) d.track.answered = true;
    }
    if (v.kind === "request") d.passedRequest(id!, v.message.method as string);
    if (v.kind === "notification") {
      const method = v.message.method as string;
      const params = v.message.params as Record<string, unknown> | undefined;
      if (d.notificationAllowed && !d.notificationAllowed(method, params)) return null;
      if (method === "notifications/tools/list_changed") d.toolsChanged();
    }
    if (v.kind === "response") {
      const rewritten = d.inspect(v.message);
      if (rewritten !== undefined) return JSON.stringify(rewritten);
    }
    return data;
  };
}
