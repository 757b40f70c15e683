// An incremental Server-Sent Events parser and writer, enough to inspect every JSON-RPC message on
// an MCP stream and re-emit it (possibly rewritten) without buffering the stream. The parser works
// on bytes: each chunk is scanned once for line ends (a long line costs O(n), not O(n²)), a line
// is kept as the list of chunk slices it arrived in until it ends, and an event larger than
// `maxEventBytes` is skipped to its end and reported as too large, so one hostile event neither
// exhausts memory nor ends the stream. A long line is copied chunk by chunk, as it arrives, into a
// growable SharedArrayBuffer of its own: it is never joined in one step on the event loop (a
// 20 MiB Buffer.concat took ~80 ms here), and a worker thread can read it without a copy.
export interface SseEvent {
  event?: string;
  id?: string;
  retry?: string;
  data: string;
}

/** An event as bytes: its data lines stay Buffers until someone needs the text. */
export interface RawSseEvent {
  event?: string;
  id?: string;
  retry?: string;
  /** The data lines (without "data:" and the line end). */
  lines: Buffer[];
  /** Bytes of data, "\n" between lines included. */
  size: number;
  /** The event exceeded maxEventBytes: its data was dropped. */
  tooLarge?: boolean;
}

export const DEFAULT_MAX_EVENT_BYTES = 64 * 1024 * 1024;
/** A line longer than this is accumulated in a SharedArrayBuffer (see the header). */
export const SHARED_LINE_BYTES = 64 * 1024;
const LF = 0x0a;
const CR = 0x0d;

export class SseByteParser {
  readonly #max: number;
  readonly #sharedLine: number;
  /** Slices of the line being read. */
  #line: Buffer[] = [];
  #lineBytes = 0;
  /** The line being read, once longer than SHARED_LINE_BYTES (then #line is empty). */
  #shared: SharedArrayBuffer | undefined;
  /** The previous chunk ended with CR: a LF at the start of the next one belongs to it. */
  #afterCR = false;
  #cur: Omit<RawSseEvent, "size"> & { size: number } = { lines: [], size: 0 };

  constructor(maxEventBytes = DEFAULT_MAX_EVENT_BYTES, sharedLineBytes = SHARED_LINE_BYTES) {
    this.#max = maxEventBytes;
    this.#sharedLine = sharedLineBytes;
  }

  /** Feeds a chunk; returns the events it completed. */
  push(chunk: Buffer): RawSseEvent[] {
    const out: RawSseEvent[] = [];
    let start = 0;
    if (this.#afterCR && chunk[0] === LF) start = 1;
    this.#afterCR = false;
    // Line ends are found with the native indexOf (a 20 MiB line is scanned at memchr speed).
    let nextLF = chunk.indexOf(LF, start);
    let nextCR = chunk.indexOf(CR, start);
    while (nextLF !== -1 || nextCR !== -1) {
      const i = nextLF === -1 ? nextCR : nextCR === -1 ? nextLF : Math.min(nextLF, nextCR);
      const b = chunk[i];
      this.#append(chunk.subarray(start, i));
      this.#endLine(out);
      if (b === CR && i + 1 === chunk.length) this.#afterCR = true;
      start = b === CR && chunk[i + 1] === LF ? i + 2 : i + 1;
      if (nextLF !== -1 && nextLF < start) nextLF = chunk.indexOf(LF, start);
      if (nextCR !== -1 && nextCR < start) nextCR = chunk.indexOf(CR, start);
    }
    if (start < chunk.length) this.#append(chunk.subarray(start));
    return out;
  }

  #append(part: Buffer): void {
    if (part.length === 0) return;
    // A line that already makes the event too large is not kept: only its length is counted.
    if (this.#cur.tooLarge || this.#cur.size + this.#lineBytes + part.length > this.#max + 6) {
      this.#cur.tooLarge = true;
      this.#line = [];
      this.#shared = undefined;
      this.#lineBytes += part.length;
      return;
    }
    const at = this.#lineBytes;
    this.#lineBytes += part.length;
    if (this.#shared) {
      this.#shared.grow(this.#lineBytes);
      new Uint8Array(this.#shared, at).set(part);
      return;
    }
    this.#line.push(part);
    if (this.#lineBytes <= this.#sharedLine) return;
    // The line kept so far is at most max + 6 bytes ("data: " and the data), so this reservation
    // (address space; pages are committed as the buffer grows) is never exceeded.
    const shared = new SharedArrayBuffer(this.#lineBytes, { maxByteLength: this.#max + 6 });
    const view = new Uint8Array(shared);
    let o = 0;
    for (const p of this.#line) {
      view.set(p, o);
      o += p.length;
    }
    this.#line = [];
    this.#shared = shared;
  }

  #endLine(out: RawSseEvent[]): void {
    const parts = this.#line;
    const len = this.#lineBytes;
    const shared = this.#shared;
    this.#line = [];
    this.#lineBytes = 0;
    this.#shared = undefined;
    if (len === 0) {
      // Blank line: dispatch.
      const c = this.#cur;
      if (c.lines.length > 0 || c.event !== undefined || c.id !== undefined || c.tooLarge) out.push(c);
      this.#cur = { lines: [], size: 0 };
      return;
    }
    if (this.#cur.tooLarge) return;
    const line = shared
      ? Buffer.from(shared, 0, len)
      : parts.length === 1
        ? parts[0]!
        : Buffer.concat(parts, len);
    if (line[0] === 0x3a) return; // ":" comment / keep-alive
    const colon = line.indexOf(0x3a);
    const field = (colon === -1 ? line : line.subarray(0, colon)).toString("utf8");
    let value = colon === -1 ? Buffer.alloc(0) : line.subarray(colon + 1);
    if (value[0] === 0x20) value = value.subarray(1);
    if (field === "data") {
      this.#cur.size += value.length + (this.#cur.lines.length > 0 ? 1 : 0);
      if (this.#cur.size > this.#max) {
        this.#cur.tooLarge = true;
        this.#cur.lines = [];
      } else this.#cur.lines.push(value);
    } else if (field === "event") this.#cur.event = value.toString("utf8");
    else if (field === "id") this.#cur.id = value.toString("utf8");
    else if (field === "retry") this.#cur.retry = value.toString("utf8");
  }
}

/** The data of a raw event as text ("\n" between lines). */
export function dataText(e: RawSseEvent): string {
  return e.lines.length === 1
    ? e.lines[0]!.toString("utf8")
    : e.lines.map((l) => l.toString("utf8")).join("\n");
}

/** The data of a raw event as one Buffer. */
export function dataBytes(e: RawSseEvent): Buffer {
  if (e.lines.length === 1) return e.lines[0]!;
  const parts: Buffer[] = [];
  e.lines.forEach((l, i) => {
    if (i > 0) parts.push(Buffer.from("\n"));
    parts.push(l);
  });
  return Buffer.concat(parts);
}

/** A text-level parser for callers that have the whole body as a string. */
export class SseParser {
  readonly #bytes: SseByteParser;
  constructor(maxEventBytes = DEFAULT_MAX_EVENT_BYTES) {
    this.#bytes = new SseByteParser(maxEventBytes);
  }

  /** Feeds a chunk; returns the events it completed. */
  push(chunk: string): SseEvent[] {
    return this.#bytes.push(Buffer.from(chunk, "utf8")).map((r) => {
      const e: SseEvent = { data: dataText(r) };
      if (r.event !== undefined) e.event = r.event;
      if (r.id !== undefined) e.id = r.id;
      if (r.retry !== undefined) e.retry = r.retry;
      return e;
    });
  }
}

/** The field lines of an event before its data ("event:", "id:", "retry:"). */
export function sseHead(e: Omit<SseEvent, "data">): string {
  let s = "";
  if (e.event !== undefined) s += `event: ${e.event}\n`;
  if (e.id !== undefined) s += `id: ${e.id}\n`;
  if (e.retry !== undefined) s += `retry: ${e.retry}\n`;
  return s;
}

export function formatSse(e: SseEvent): string {
  let s = sseHead(e);
  for (const line of e.data.split("\n")) s += `data: ${line}\n`;
  return `${s}\n`;
}
