// Streams SSE from a tool server to the agent event by event (never buffering the stream), letting
// the caller decide each JSON-RPC message: pass it as sent, rewrite it (e.g. a filtered tools/list
// result) or drop it. Everything on an MCP stream is a JSON-RPC message, so the gateway never
// passes what it has not inspected. Events are decided one at a time, in order; while one is being
// decided (possibly off the event loop, for a large one) the upstream is not read further, and a
// slow agent pauses the upstream too (the sink's backpressure): memory per stream stays bounded.
import {
  DEFAULT_MAX_EVENT_BYTES,
  dataBytes,
  dataText,
  formatSse,
  type RawSseEvent,
  SseByteParser,
  sseHead,
} from "./sse.ts";

/** Where relayed events go: a node:http ServerResponse, or anything with write/end. */
export interface SseSink {
  write(chunk: string | Buffer): unknown;
  end(): unknown;
  once?(event: "drain" | "close", listener: () => void): unknown;
  off?(event: "drain" | "close", listener: () => void): unknown;
}

/** Returns the data to forward (the same text, or a rewrite), or null to drop the event. */
export type SseInspector = (data: string) => string | null;

/** Forward the event exactly as it arrived. */
export const UNCHANGED = Symbol("unchanged");

/** One event's data, offered as text or bytes (a large event is never decoded on the event loop). */
export interface SseData {
  size: number;
  text(): string;
  bytes(): Buffer;
  /** The event exceeded the parser's limit: its data is gone and it must be dropped. */
  tooLarge: boolean;
}

export type StreamInspector = (
  data: SseData,
) => string | null | typeof UNCHANGED | Promise<string | null | typeof UNCHANGED>;

export interface RelayOptions {
  maxEventBytes?: number;
}

/** Adapts a text inspector (same text back means unchanged). */
export function fromTextInspector(inspect: SseInspector): StreamInspector {
  return (d) => {
    if (d.tooLarge) return null;
    const text = d.text();
    const out = inspect(text);
    return out === text ? UNCHANGED : out;
  };
}

export async function relaySse(
  body: AsyncIterable<Buffer | Uint8Array | string>,
  sink: SseSink,
  inspect: SseInspector | StreamInspector,
  /** Data for one last event before the stream ends (e.g. an error for a dropped reply), or null. */
  finish?: () => string | null,
  opts: RelayOptions = {},
): Promise<void> {
  const parser = new SseByteParser(opts.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES);
  const decide: StreamInspector = isStreamInspector(inspect)
    ? inspect
    : fromTextInspector(inspect as SseInspector);
  let closed = false;
  sink.once?.("close", () => {
    closed = true;
  });
  try {
    for await (const chunk of body) {
      const buf =
        typeof chunk === "string"
          ? Buffer.from(chunk, "utf8")
          : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      for (const ev of parser.push(buf)) {
        if (closed) break;
        await relayEvent(ev, sink, decide);
      }
      if (closed) break;
    }
  } catch {
    // Upstream aborted (or the client went away): end the client stream below.
  }
  const last = finish?.();
  if (last) sink.write(formatSse({ event: "message", data: last }));
  sink.end();
}

const streamInspectors = new WeakSet<object>();

/** Marks a function as a StreamInspector (it takes SseData rather than text). */
export function streamInspector(f: StreamInspector): StreamInspector {
  streamInspectors.add(f);
  return f;
}

function isStreamInspector(f: unknown): f is StreamInspector {
  return typeof f === "function" && streamInspectors.has(f);
}

async function relayEvent(ev: RawSseEvent, sink: SseSink, decide: StreamInspector): Promise<void> {
  if (ev.size === 0 && !ev.tooLarge) {
    // Priming / id-only events (resumability) carry no message: forward as they are.
    await write(sink, formatSse({ ...ev, data: "" }));
    return;
  }
  const data: SseData = {
    size: ev.size,
    text: () => dataText(ev),
    bytes: () => dataBytes(ev),
    tooLarge: ev.tooLarge === true,
  };
  const out = await decide(data);
  if (out === null) return;
  if (out !== UNCHANGED) {
    await write(sink, formatSse({ ...ev, data: out }));
    return;
  }
  if (ev.lines.length === 1) {
    // The original bytes, never decoded and re-encoded.
    sink.write(`${sseHead(ev)}data: `);
    sink.write(ev.lines[0]!);
    await write(sink, "\n\n");
    return;
  }
  await write(sink, formatSse({ ...ev, data: dataText(ev) }));
}

/** Writes and, when the sink's buffer is full, waits until it drains (or closes). */
async function write(sink: SseSink, chunk: string | Buffer): Promise<void> {
  if (sink.write(chunk) !== false || !sink.once) return;
  await new Promise<void>((resolve) => {
    const done = () => {
      sink.off?.("drain", done);
      sink.off?.("close", done);
      resolve();
    };
    sink.once!("drain", done);
    sink.once!("close", done);
  });
}
