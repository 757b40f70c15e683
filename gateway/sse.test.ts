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
    // Accumulated as it arrived in a SharedArrayBuffer of its own (a worker reads it without a
    // copy), byte for byte.
    const data = e!.lines[0]!;
    expect(data.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(data.length).toBe(320 * 64 * 1024);
    expect(data.indexOf(0x61 ^ 0xff)).toBe(-1);
    expect(data.every((b) => b === 0x61)).toBe(true);
  });
  it("keeps a line at or under the shared threshold in ordinary Buffers", () => {
    const p = new SseByteParser(1024, 16);
    const [e] = p.push(Buffer.from("data: 0123456789\n\n"));
    expect(e!.lines[0]!.buffer).not.toBeInstanceOf(SharedArrayBuffer);
    expect(String(e!.lines[0])).toBe("0123456789");
  });
  it("reports an event over the limit as too large and parses the next one", () => {
    const p = new SseByteParser(10);
    const evs = p.push(Buffer.from(`data: ${"x".repeat(50)}\n\ndata: ok\n\n`));
    expect(evs.map((e) => [e.tooLarge === true, e.lines.map(String)])).toEqual([
      [true, []],
      [false, ["ok"]],
    ]);
  });
  // Attacks on the shared accumulation of long lines: one row each, every one must leave the parser
  // reading the next event (a RangeError from growing past the reservation would end the stream).
  const sharedAttacks: {
    name: string;
    max: number;
    shared: number;
    input: string[];
    want: ([true] | [false, string[]])[];
  }[] = [
    {
      name: "a line that crosses the limit after it went shared",
      max: 20,
      shared: 4,
      input: ["data: 0123", "456789", "abcdefghijklmnopq", "rstuvwxyz\n\ndata: ok\n\n"],
      want: [[true], [false, ["ok"]]],
    },
    {
      name: "a line exactly at the limit, in one-byte chunks",
      max: 8,
      shared: 2,
      input: [..."data: 01234567\n\ndata: next\n\n"],
      want: [
        [false, ["01234567"]],
        [false, ["next"]],
      ],
    },
    {
      name: "a second data line that pushes a shared event over the limit",
      max: 12,
      shared: 3,
      input: ["data: 0123", "4567\ndata: 89", "abcdef\n\ndata: ok\n\n"],
      want: [[true], [false, ["ok"]]],
    },
    {
      name: "a huge comment line (never data) makes its event too large, not the next",
      max: 16,
      shared: 4,
      input: [": ", "x".repeat(100), "\n\ndata: ok\n\n"],
      want: [[true], [false, ["ok"]]],
    },
    {
      name: "a CR split between chunks ending a shared line",
      max: 64,
      shared: 4,
      input: ["data: abcdefgh\r", "\n\r\n"],
      want: [[false, ["abcdefgh"]]],
    },
  ];
  for (const a of sharedAttacks)
    it(`shared long lines: ${a.name}`, () => {
      const p = new SseByteParser(a.max, a.shared);
      const evs = a.input.flatMap((c) => p.push(Buffer.from(c)));
      // A too-large event is dropped whole: what it kept of its data does not matter.
      expect(evs.map((e) => (e.tooLarge ? [true] : [false, e.lines.map(String)]))).toEqual(a.want);
    });
  it("gives the same events with or without shared accumulation, however the stream is cut (property)", () => {
    const line = fc.stringMatching(/^[^\r\n]{0,60}$/);
    fc.assert(
      fc.property(
        fc.array(fc.array(line, { minLength: 1, maxLength: 3 }), { maxLength: 5 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        fc.integer({ min: 0, max: 80 }),
        fc.integer({ min: 0, max: 150 }),
        (events, cuts, shared, max) => {
          const bytes = Buffer.from(events.map((d) => `${d.map((l) => `data: ${l}\n`).join("")}\n`).join(""));
          const reference = new SseByteParser(max, Number.POSITIVE_INFINITY).push(bytes);
          const p = new SseByteParser(max, shared);
          const got: ReturnType<SseByteParser["push"]> = [];
          let at = 0;
          for (const c of [...cuts].sort((a, b) => a - b)) {
            const to = Math.min(bytes.length, c);
            if (to > at) got.push(...p.push(bytes.subarray(at, to)));
            at = Math.max(at, to);
          }
          got.push(...p.push(bytes.subarray(at)));
          const norm = (es: typeof got) =>
            es.map((e) => ({ tooLarge: e.tooLarge === true, size: e.size, data: e.lines.map(String) }));
          expect(norm(got)).toEqual(norm(reference));
        },
      ),
      { numRuns: 400 },
    );
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
