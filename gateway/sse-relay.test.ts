import { describe, expect, it } from "vitest";
import { relaySse } from "./sse-relay.ts";

async function* chunks(...parts: string[]) {
  for (const p of parts) yield Buffer.from(p);
}

describe("relaySse", () => {
  it("forwards priming events, rewrites or drops each message, and ends the sink", async () => {
    const out: string[] = [];
    let ended = false;
    const seen: string[] = [];
    await relaySse(
      chunks(
        "id: 0\ndata: \n\n",
        'event: message\ndata: {"a"',
        ':1}\n\ndata: {"drop":1}\n\n',
        'data: {"b":2}\n\n',
      ),
      { write: (s) => out.push(s), end: () => (ended = true) },
      (data) => {
        seen.push(data);
        if (data.includes("drop")) return null;
        return data.includes('"b"') ? '{"b":3}' : data;
      },
    );
    expect(seen).toEqual(['{"a":1}', '{"drop":1}', '{"b":2}']);
    expect(out).toEqual(["id: 0\ndata: \n\n", 'event: message\ndata: {"a":1}\n\n', 'data: {"b":3}\n\n']);
    expect(ended).toBe(true);
  });

  it("writes the finish event before ending", async () => {
    const out: string[] = [];
    await relaySse(
      chunks('data: {"x":1}\n\n'),
      { write: (s) => out.push(s), end: () => undefined },
      () => null,
      () => '{"late":true}',
    );
    expect(out).toEqual(['event: message\ndata: {"late":true}\n\n']);
  });
});
