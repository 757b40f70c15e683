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
    if (d.track && v.kind === "response" && v.message.id === d.track.id) d.track.answered = true;
    if (v.kind === "notification" && v.message.method === "notifications/tools/list_changed")
      d.toolsChanged();
    if (v.kind === "response") {
      const rewritten = d.inspect(v.message);
      if (rewritten !== undefined) return JSON.stringify(rewritten);
    }
    return data;
  };
}
