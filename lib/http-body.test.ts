import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BodyTooLarge, readBodyBytes } from "./http-body.ts";

const LIMIT = 1024;

// A real server on loopback: each request's outcome is answered as JSON.
let server: Server;
let port: number;
beforeAll(async () => {
  server = createServer((req, res) => {
    readBodyBytes(req, LIMIT).then(
      (body) => res.end(JSON.stringify({ ok: true, bytes: body.length, text: body.toString("utf8") })),
      (err: unknown) =>
        res.end(JSON.stringify({ ok: false, tooLarge: err instanceof BodyTooLarge, message: String(err) })),
    );
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

/**
 * Sends `chunks` with the given headers (chunked when there is no Content-Length). With `finish`
 * false the request is never ended: an answer can then only come from the headers alone.
 */
function send(
  chunks: Buffer[],
  headers: Record<string, string | number> = {},
  finish = true,
): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, method: "POST", headers }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        text += c;
      });
      res.on("end", () => {
        resolve(JSON.parse(text) as Record<string, unknown>);
        req.destroy();
      });
    });
    req.on("error", reject);
    for (const c of chunks) req.write(c);
    if (finish) req.end();
  });
}

describe("readBodyBytes", () => {
  it("returns the body, multi-byte text intact across chunk boundaries", async () => {
    const text = "é".repeat(100);
    const buf = Buffer.from(text);
    const r = await send([buf.subarray(0, 1), buf.subarray(1)], { "content-length": buf.length });
    expect(r).toEqual({ ok: true, bytes: buf.length, text });
  });

  it("accepts exactly the limit", async () => {
    const r = await send([Buffer.alloc(LIMIT, 0x61)], { "content-length": LIMIT });
    expect(r).toMatchObject({ ok: true, bytes: LIMIT });
  });

  // Attacks on the bound, one row each: [name, chunks, headers, finish the body?].
  const attacks: [string, Buffer[], Record<string, string | number>, boolean][] = [
    [
      "declared Content-Length one past the limit",
      [Buffer.alloc(LIMIT + 1)],
      { "content-length": LIMIT + 1 },
      true,
    ],
    [
      "a 1 TiB Content-Length, refused on the header alone",
      [Buffer.alloc(10)],
      { "content-length": 2 ** 40 },
      false,
    ],
    [
      "chunked body (no Content-Length) streaming past the limit",
      [Buffer.alloc(600), Buffer.alloc(600)],
      {},
      true,
    ],
    ["many small chunks past the limit", Array.from({ length: 40 }, () => Buffer.alloc(32)), {}, true],
  ];
  for (const [name, chunks, headers, finish] of attacks) {
    it(`refuses: ${name}`, async () => {
      expect(await send(chunks, headers, finish)).toMatchObject({ ok: false, tooLarge: true });
    });
  }
});
