import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatSse, SseByteParser, SseParser } from "./sse.ts";

describe("SseParser", () => {
  it("parses events split across chunks, multi-line data, comments and CRLF", () => {
    const p = new SseParser();
    expect(p.push('event: message\nid: 1\ndata: {"a"')).toEqual([]);
    expect(p.push(":1}\n\n: keep-alive\r\ndata: x\r\ndata: y\r\n\r\n")).toEqual([
      { event: "message", id: "1", data: '{"a":1}' },
      { data: "x\ny" },
    ]);
  });
  it("round-trips through formatSse", () => {
    const e = { event: "message", id: "7", data: "line1\nline2" };
    expect(new SseParser().push(formatSse(e))).toEqual([e]);
  });
  it("treats a CRLF split between two chunks as one line end", () => {
    const p = new SseByteParser();
    expect(p.push(Buffer.from("data: a\r"))).toEqual([]);
    const evs = p.push(Buffer.from("\n\r\n"));
    expect(evs.map((e) => e.lines.map(String))).toEqual([["a"]]);
  });
  it("reads a 20 MiB line in chunks without re-scanning (bounded by the line itself)", () => {
    const p = new SseByteParser(32 * 1024 * 1024);
    const piece = Buffer.alloc(64 * 1024, 0x61);
    expect(p.push(Buffer.from("data: "))).toEqual([]);
    for (let i = 0; i < 320; i++) expect(p.push(piece)).toEqual([]);
    const [e] = p.push(Buffer.from("\n\n"));
    expect(e!.size).toBe(320 * 64 * 1024);
    expect(e!.tooLarge).toBeUndefined();
  });
  it("reports an event over the limit as too large and parses the next one", () => {
    const p = new SseByteParser(10);
    const evs = p.push(Buffer.from(`data: ${"x".repeat(50)}\n\ndata: ok\n\n`));
    expect(evs.map((e) => [e.tooLarge === true, e.lines.map(String)])).toEqual([
      [true, []],
      [false, ["ok"]],
    ]);
  });
  it("gives the same events however the stream is cut into chunks (property)", () => {
    const line = fc.stringMatching(/^[^\r\n]{0,40}$/);
    const event = fc.record({
      id: fc.option(line, { nil: undefined }),
      data: fc.array(line, { minLength: 1, maxLength: 3 }),
    });
    fc.assert(
      fc.property(
        fc.array(event, { maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        fc.constantFrom("\n", "\r\n", "\r"),
        (events, cuts, eol) => {
          const text = events
            .map(
              (e) =>
                `${e.id !== undefined ? `id: ${e.id}${eol}` : ""}${e.data.map((d) => `data: ${d}${eol}`).join("")}${eol}`,
            )
            .join("");
          const bytes = Buffer.from(text, "utf8");
          const whole = new SseByteParser().push(bytes);
          const p = new SseByteParser();
          const got = [];
          let at = 0;
          for (const c of [...cuts].sort((a, b) => a - b)) {
            const to = Math.min(bytes.length, c);
            if (to > at) got.push(...p.push(bytes.subarray(at, to)));
            at = Math.max(at, to);
          }
          got.push(...p.push(bytes.subarray(at)));
          const norm = (es: typeof whole) => es.map((e) => ({ id: e.id, data: e.lines.map(String) }));
          expect(norm(got)).toEqual(norm(whole));
          expect(whole.length).toBe(events.length);
        },
      ),
      { numRuns: 300 },
    );
  });
});
