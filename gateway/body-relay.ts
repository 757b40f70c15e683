// Reading and relaying upstream bodies on the gateway's hot path with stream events rather than
// `for await`: an async iterator over a Readable costs a generator, promises per chunk and a
// listener set per body, measurable per call (bench/gateway-profile.ts). And a small body is sent
// to the client in one write together with the response head, so that on a TLS connection a reply
// is one record and one syscall instead of one for the head, one per chunk and one for the end.
import type { ServerResponse } from "node:http";
import type { Readable } from "node:stream";

/** Bodies up to this size are held and written with the head in one write. */
export const COALESCE_BYTES = 256 * 1024;

export class BodyLimitExceeded extends Error {
  override name = "BodyLimitExceeded";
}

/**
 * Reads a whole body as UTF-8, rejecting with `tooLarge(limit)`'s error as soon as more than
 * `limit` bytes have arrived (the stream is destroyed then), or with the stream's own error.
 */
export function readStreamLimited(
  body: Readable,
  limit: number,
  tooLarge: (limit: number) => Error = (l) => new BodyLimitExceeded(`body larger than ${l} bytes`),
): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (err: Error | undefined) => {
      if (settled) return;
      settled = true;
      body.off("data", onData);
      if (err) {
        chunks.length = 0;
        reject(err);
      } else resolve((chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)).toString("utf8"));
    };
    const onData = (c: Buffer | Uint8Array | string) => {
      const b = typeof c === "string" ? Buffer.from(c) : Buffer.isBuffer(c) ? c : Buffer.from(c);
      size += b.length;
      if (size > limit) {
        settle(tooLarge(limit));
        body.destroy();
        return;
      }
      chunks.push(b);
    };
    body.on("data", onData);
    body.once("end", () => settle(undefined));
    body.once("error", (e) => settle(e));
    // Closed without an end (destroyed upstream): what `for await` reports as a premature close.
    body.once("close", () => {
      // After an end or an error this is the stream's ordinary close: build no error for it.
      if (!settled)
        settle(Object.assign(new Error("premature close"), { code: "ERR_STREAM_PREMATURE_CLOSE" }));
    });
  });
}

/**
 * Relays `body` to `res` (whose head is set but not flushed) and ends it. Up to `coalesce` bytes are
 * held and written with the head and the end in one write; past that what is held is written and
 * the rest streams through (`coalesce` 0: every chunk as it comes, for event streams). An
 * upstream error or premature close ends the response with what was received (the client sees a
 * short body), as before. Resolves once the response is ended.
 */
export function relayBody(body: Readable, res: ServerResponse, coalesce = COALESCE_BYTES): Promise<void> {
  return new Promise((resolve) => {
    let held: Buffer[] | undefined = coalesce > 0 ? [] : undefined;
    let size = 0;
    let done = false;
    const release = () => {
      if (!held) return;
      for (const b of held) res.write(b);
      held = undefined;
    };
    const finish = (bodyComplete: boolean) => {
      if (done) return;
      done = true;
      body.off("data", onData);
      if (held && bodyComplete) {
        const all = held.length === 1 ? held[0]! : Buffer.concat(held, size);
        held = undefined;
        if (all.length > 0) res.end(all);
        else res.end();
      } else {
        release();
        res.end();
      }
      resolve();
    };
    const onData = (c: Buffer | Uint8Array | string) => {
      const b = typeof c === "string" ? Buffer.from(c) : Buffer.isBuffer(c) ? c : Buffer.from(c);
      if (!held) {
        res.write(b);
        return;
      }
      held.push(b);
      size += b.length;
      if (size > coalesce) release();
    };
    body.on("data", onData);
    body.once("end", () => finish(true));
    body.once("error", () => finish(false));
    body.once("close", () => finish(false));
  });
}
