// Streams SSE from a tool server to the agent event by event (never buffering the stream), letting
// the caller decide each JSON-RPC message: pass it as sent, rewrite it (e.g. a filtered tools/list
// result) or drop it. Everything on an MCP stream is a JSON-RPC message, so the gateway never
// passes what it has not inspected.
import { formatSse, SseParser } from "./sse.ts";

/** Where relayed events go: a node:http ServerResponse, or anything with write/end. */
export interface SseSink {
  write(chunk: string): unknown;
  end(): unknown;
}

/** Returns the data to forward (the same text, or a rewrite), or null to drop the event. */
export type SseInspector = (data: string) => string | null;

export async function relaySse(
  body: AsyncIterable<Buffer | Uint8Array | string>,
  sink: SseSink,
  inspect: SseInspector,
  /** Data for one last event before the stream ends (e.g. an error for a dropped reply), or null. */
  finish?: () => string | null,
): Promise<void> {
  const parser = new SseParser();
  const decoder = new TextDecoder();
  try {
    for await (const chunk of body) {
      const text = typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true });
      for (const ev of parser.push(text)) {
        if (ev.data === "") {
          // Priming / id-only events (resumability) carry no message: forward as they are.
          sink.write(formatSse(ev));
          continue;
        }
        const out = inspect(ev.data);
        if (out !== null) sink.write(formatSse(out === ev.data ? ev : { ...ev, data: out }));
      }
    }
  } catch {
    // Upstream aborted (or the client went away): end the client stream below.
  }
  const last = finish?.();
  if (last) sink.write(formatSse({ event: "message", data: last }));
  sink.end();
}
