// A minimal incremental Server-Sent Events parser and writer, enough to inspect every JSON-RPC
// message on an MCP stream and re-emit it (possibly rewritten) without buffering the stream.
export interface SseEvent {
  event?: string;
  id?: string;
  retry?: string;
  data: string;
}

export class SseParser {
  #buf = "";
  #cur: { event?: string; id?: string; retry?: string; data: string[] } = { data: [] };

  /** Feeds a chunk; returns the events it completed. */
  push(chunk: string): SseEvent[] {
    this.#buf += chunk;
    const out: SseEvent[] = [];
    for (;;) {
      const nl = this.#buf.search(/\r\n|\r|\n/);
      if (nl === -1) break;
      const len = this.#buf.startsWith("\r\n", nl) ? 2 : 1;
      const line = this.#buf.slice(0, nl);
      this.#buf = this.#buf.slice(nl + len);
      if (line === "") {
        if (this.#cur.data.length > 0 || this.#cur.event || this.#cur.id) {
          const e: SseEvent = { data: this.#cur.data.join("\n") };
          if (this.#cur.event !== undefined) e.event = this.#cur.event;
          if (this.#cur.id !== undefined) e.id = this.#cur.id;
          if (this.#cur.retry !== undefined) e.retry = this.#cur.retry;
          out.push(e);
        }
        this.#cur = { data: [] };
        continue;
      }
      if (line.startsWith(":")) continue; // comment / keep-alive
      const colon = line.indexOf(":");
      const field = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "data") this.#cur.data.push(value);
      else if (field === "event") this.#cur.event = value;
      else if (field === "id") this.#cur.id = value;
      else if (field === "retry") this.#cur.retry = value;
    }
    if (this.#buf.length > 4 * 1024 * 1024) throw new Error("SSE line longer than 4 MiB");
    return out;
  }
}

export function formatSse(e: SseEvent): string {
  let s = "";
  if (e.event !== undefined) s += `event: ${e.event}\n`;
  if (e.id !== undefined) s += `id: ${e.id}\n`;
  if (e.retry !== undefined) s += `retry: ${e.retry}\n`;
  for (const line of e.data.split("\n")) s += `data: ${line}\n`;
  return `${s}\n`;
}
