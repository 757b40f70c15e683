import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BodyLimitExceeded, readStreamLimited, relayBody } from "./body-relay.ts";

/** A body that yields `chunks`, then ends, errors or is destroyed without an end. */
function source(chunks: Buffer[], ending: "end" | "error" | "close" = "end"): Readable {
  let i = 0;
  return new Readable({
    read() {
      if (i < chunks.length) {
        this.push(chunks[i++]);
        return;
      }
      if (ending === "end") this.push(null);
      else if (ending === "error") this.destroy(new Error("upstream reset"));
      else this.destroy();
    },
  });
}

describe("readStreamLimited", () => {
  it("reads a body in any chunking as UTF-8", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({ unit: "binary", maxLength: 2000 }),
        fc.integer({ min: 1, max: 64 }),
        async (s, size) => {
          const bytes = Buffer.from(s, "utf8");
          const chunks: Buffer[] = [];
          for (let at = 0; at < bytes.length; at += size) chunks.push(bytes.subarray(at, at + size));
          expect(await readStreamLimited(source(chunks), bytes.length)).toBe(s);
        },
      ),
      { numRuns: 200 },
    );
  });

  const refusals: [string, () => Promise<string>, RegExp][] = [
    [
      "one byte over the limit",
      () => readStreamLimited(source([Buffer.alloc(10), Buffer.alloc(1)]), 10),
      /larger than 10 bytes/,
    ],
    [
      "the caller's error for an oversized body",
      () =>
        readStreamLimited(
          source([Buffer.alloc(11)]),
          10,
          (l) => new Error(`upstream response larger than ${l} bytes`),
        ),
      /^upstream response larger than 10 bytes$/,
    ],
    [
      "an upstream error mid-body",
      () => readStreamLimited(source([Buffer.from("{")], "error"), 100),
      /upstream reset/,
    ],
    [
      "a destroy without an end",
      () => readStreamLimited(source([Buffer.from("{")], "close"), 100),
      /premature close/,
    ],
  ];
  for (const [name, read, message] of refusals)
    it(`rejects ${name}`, () => expect(read()).rejects.toThrow(message));

  it("stops reading (destroys the stream) once over the limit", async () => {
    const body = source([Buffer.alloc(8), Buffer.alloc(8), Buffer.alloc(8)]);
    await expect(readStreamLimited(body, 10)).rejects.toBeInstanceOf(BodyLimitExceeded);
    expect(body.destroyed).toBe(true);
  });
});

describe("relayBody", () => {
  let server: Server;
  let port = 0;
  /** What the next request's handler relays. */
  let next: { body: Readable; coalesce: number } = { body: source([]), coalesce: 0 };
  beforeAll(async () => {
    server = createServer((req, res) => {
      req.resume();
      res.writeHead(200, { "content-type": "application/octet-stream" });
      void relayBody(next.body, res, next.coalesce);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const fetchBody = (): Promise<{ body: Buffer; complete: boolean }> =>
    new Promise((resolve, reject) => {
      const r = request({ host: "127.0.0.1", port, path: "/" }, (res) => {
        const parts: Buffer[] = [];
        res.on("data", (c: Buffer) => parts.push(c));
        res.on("end", () => resolve({ body: Buffer.concat(parts), complete: res.complete }));
        res.on("error", () => resolve({ body: Buffer.concat(parts), complete: false }));
      });
      r.on("error", reject);
      r.end();
    });

  const cases: [string, number[], number][] = [
    ["an empty body", [], 1024],
    ["one small chunk, held and sent with the head", [100], 1024],
    ["several chunks under the bound", [10, 20, 30], 1024],
    ["chunks past the bound (held part written, rest streamed)", [600, 600, 600], 1024],
    ["an event stream (nothing held)", [5, 5, 5], 0],
  ];
  for (const [name, sizes, coalesce] of cases) {
    it(`relays ${name} intact`, async () => {
      const chunks = sizes.map((n, i) => Buffer.alloc(n, 65 + i));
      next = { body: source(chunks), coalesce };
      const got = await fetchBody();
      expect(got.complete).toBe(true);
      expect(got.body.equals(Buffer.concat(chunks))).toBe(true);
    });
  }

  for (const ending of ["error", "close"] as const) {
    it(`ends the response with what arrived when the upstream body ends by ${ending}`, async () => {
      next = { body: source([Buffer.from("partial")], ending), coalesce: 1024 };
      const got = await fetchBody();
      expect(got.body.toString()).toBe("partial");
    });
  }
});
