import { describe, expect, it } from "vitest";
import { relaySse } from "./sse-relay.ts";

async function* chunks(...parts: string[]) {
  for (const p of parts) yield Buffer.from(p);
}

function collect() {
  const out: string[] = [];
  let ended = false;
  return {
    out,
    ended: () => ended,
    sink: {
      write: (s: string | Buffer) => {
        out.push(String(s));
        return true;
      },
      end: () => {
        ended = true;
      },
    },
  };
}

describe("relaySse", () => {
  it("forwards priming events, rewrites or drops each message, and ends the sink", async () => {
    const c = collect();
    const seen: string[] = [];
    await relaySse(
      chunks(
        "id: 0\ndata: \n\n",
        'event: message\ndata: {"a"',
        ':1}\n\ndata: {"drop":1}\n\n',
        'data: {"b":2}\n\n',
      ),
      c.sink,
      (data: string) => {
        seen.push(data);
        if (data.includes("drop")) return null;
        return data.includes('"b"') ? '{"b":3}' : data;
      },
    );
    expect(seen).toEqual(['{"a":1}', '{"drop":1}', '{"b":2}']);
    expect(c.out.join("")).toBe('id: 0\ndata: \n\nevent: message\ndata: {"a":1}\n\ndata: {"b":3}\n\n');
    expect(c.ended()).toBe(true);
  });

  it("writes the finish event before ending", async () => {
    const c = collect();
    await relaySse(
      chunks('data: {"x":1}\n\n'),
      c.sink,
      () => null,
      () => '{"late":true}',
    );
    expect(c.out.join("")).toBe('event: message\ndata: {"late":true}\n\n');
  });

  it("drops an event over the size limit and keeps relaying the stream", async () => {
    const c = collect();
    const seen: number[] = [];
    const big = `data: {"x":"${"a".repeat(5000)}"}\n\n`;
    await relaySse(
      chunks(big.slice(0, 100), big.slice(100), 'data: {"after":1}\n\n'),
      c.sink,
      (data: string) => {
        seen.push(data.length);
        return data;
      },
      undefined,
      { maxEventBytes: 1000 },
    );
    expect(seen).toEqual([11]);
    expect(c.out.join("")).toBe('data: {"after":1}\n\n');
  });
});
