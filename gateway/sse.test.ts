import { describe, expect, it } from "vitest";
import { formatSse, SseParser } from "./sse.ts";

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
});
