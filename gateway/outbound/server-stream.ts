// The server stream: every message a tool server sends toward the agent (on the GET stream, in an
// SSE response, or as a JSON response) is decided by decideServerMessage, and a granted request
// then by the session's state (requestRefusal: tasks/* only for its own tasks). Refused ones are dropped
// and audited (requests are answered upstream with their JSON-RPC error so the server does not
// wait), tools/list_changed marks the manifest's verified definitions stale, responses nobody
// asked for are dropped and counted, and the remaining responses go through the caller's
// `inspect` (tools/list filtering, session and task bookkeeping). Large events are decided on a
// worker thread so that a 20 MiB message never stalls the event loop.
import type { CompiledServer } from "../../api/v1alpha1/policy.ts";
import type { Deny } from "../decide/deny.ts";
import type { ProtocolVersion } from "../decide/methods.ts";
import type { ServerMessageWorkers } from "../decide/offload.ts";
import { decideServerMessage } from "../decide/server-messages.ts";
import { asksForTask, type SlimVerdict } from "../decide/slim-verdict.ts";
import { GRANTABLE_SERVER_REQUESTS, serverRequestGranted } from "../decide/surface.ts";
import { type SseData, type StreamInspector, streamInspector, UNCHANGED } from "../sse-relay.ts";
import { SERVER_MESSAGE_MAX_DEPTH } from "./definitions.ts";

/** Events above this size are decided on a worker thread. */
export const OFFLOAD_BYTES = 256 * 1024;
/** The largest server message the gateway inspects and relays. */
export const MAX_SERVER_MESSAGE_BYTES = 64 * 1024 * 1024;

/** Whether the reply to the agent's request came through a server stream. */
export interface ReplyTrack {
  id: string | number;
  answered: boolean;
  /** The first malformed message dropped (could have been the reply). */
  dropped?: Deny;
}

type Refused = Extract<SlimVerdict, { action: "refuse" }>;

export interface ServerStreamDeps {
  server: CompiledServer;
  version: ProtocolVersion;
  /** Rewrites a response (undefined: pass as sent). */
  inspect: (msg: Record<string, unknown>) => unknown;
  /** Drop, audit and (for requests) answer a refused server message. */
  refuse: (v: Refused) => void;
  /** The server announced that its tool list changed. */
  toolsChanged: () => void;
  /** Whether a response with this id answers a request the agent sent (else dropped and counted). */
  solicited: (id: string | number | null) => boolean;
  /** A response nobody asked for was dropped. */
  unsolicited: (id: string | number | null) => void;
  /**
   * The refusal of a granted server→client request given the session's state (tasks/* only for
   * the session's own client-side tasks), or undefined to pass it.
   */
  requestRefusal?: (method: string, params: Record<string, unknown> | undefined) => Deny | undefined;
  /** A server→client request passes to the agent: its answer will be expected. */
  passedRequest: (id: string | number, method: string, taskAugmented: boolean) => void;
  /** Whether a notification may reach the agent (e.g. task status only for the session's tasks). */
  notificationAllowed?: (method: string, params: Record<string, unknown> | undefined) => boolean;
  track?: ReplyTrack | undefined;
  /** Worker threads for large events (inline when absent). */
  workers?: ServerMessageWorkers | undefined;
}

export interface ServerStreamInspectors {
  /** For a whole JSON body (already bounded by the caller). */
  text: (data: string) => string | null;
  /** For SSE events, large ones off the event loop. */
  stream: StreamInspector;
}

export function serverStream(d: ServerStreamDeps): ServerStreamInspectors {
  const apply = (v: SlimVerdict, full: () => Record<string, unknown>): string | null | typeof UNCHANGED => {
    if (v.action === "refuse") {
      d.refuse(v);
      // Malformed messages have no usable method ("(malformed)", "(batch)", "(invalid)").
      if (d.track && v.id === undefined && v.method.startsWith("(")) d.track.dropped ??= v.deny;
      return null;
    }
    const m = v.message;
    const id = m.id as string | number | null | undefined;
    if (v.kind === "response") {
      if (!d.solicited(id ?? null)) {
        d.unsolicited(id ?? null);
        return null;
      }
      if (d.track && id === d.track.id) d.track.answered = true;
      const rewritten = d.inspect(m.rewritable ? full() : m);
      return rewritten === undefined ? UNCHANGED : JSON.stringify(rewritten);
    }
    if (v.kind === "request") {
      const method = m.method as string;
      const params = m.params as Record<string, unknown> | undefined;
      const refusal = d.requestRefusal?.(method, params);
      if (refusal) {
        d.refuse({ action: "refuse", method, id: id!, deny: refusal });
        return null;
      }
      d.passedRequest(id!, method, asksForTask(params));
    }
    if (v.kind === "notification") {
      const method = m.method as string;
      const params = m.params as Record<string, unknown> | undefined;
      if (d.notificationAllowed && !d.notificationAllowed(method, params)) return null;
      if (method === "notifications/tools/list_changed") d.toolsChanged();
    }
    return UNCHANGED;
  };

  const allowed = GRANTABLE_SERVER_REQUESTS.filter((m) => serverRequestGranted(d.server, m));
  const inline = (text: string): string | null | typeof UNCHANGED => {
    const v = decideServerMessage(
      text,
      d.version,
      d.server.manifest,
      SERVER_MESSAGE_MAX_DEPTH,
      MAX_SERVER_MESSAGE_BYTES,
      allowed,
    );
    // The full parsed message is at hand: it is what gets inspected.
    return apply(v as SlimVerdict, () => (v.action === "pass" ? v.message : {}));
  };

  const text = (data: string): string | null => {
    const out = inline(data);
    return out === UNCHANGED ? data : out;
  };

  const stream = streamInspector(async (data: SseData) => {
    if (data.tooLarge) {
      const refused: Refused = {
        action: "refuse",
        method: "(malformed)",
        deny: {
          rule: "TooLarge",
          constraint: `server message dropped: larger than ${MAX_SERVER_MESSAGE_BYTES} bytes`,
          manifest: d.server.manifest,
          code: -32600,
        },
      };
      return apply(refused, () => ({}));
    }
    if (data.size <= OFFLOAD_BYTES || !d.workers) return inline(data.text());
    const v = await d.workers.decide(
      data.bytes(),
      d.version,
      d.server.manifest,
      SERVER_MESSAGE_MAX_DEPTH,
      MAX_SERVER_MESSAGE_BYTES,
      allowed,
    );
    // A large list result that must be filtered is parsed here in full (it passed the strict
    // parser on the worker, so JSON.parse reads the same object).
    return apply(v, () => JSON.parse(data.text()) as Record<string, unknown>);
  });

  return { text, stream };
}
