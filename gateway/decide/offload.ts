// A small pool of worker threads that decide large server→client messages (see
// server-message-worker.ts). Created on first use, unref'd (they never keep the process alive),
// restarted if one dies; a message whose worker fails is refused (fail closed).
import { Worker } from "node:worker_threads";
import { deny, INVALID_REQUEST } from "./deny.ts";
import type { ProtocolVersion } from "./methods.ts";
import type { SlimVerdict } from "./slim-verdict.ts";

const POOL_SIZE = 2;

/**
 * The worker's code: server-message-worker.ts beside this module when the gateway runs from its
 * sources, server-message-worker.mjs beside the bundle in the gateway image, where import.meta.url
 * is the bundle's (scripts/images/definitions.ts bundles the worker there).
 */
const WORKER_URL = new URL(
  import.meta.url.endsWith(".ts") ? "./server-message-worker.ts" : "./server-message-worker.mjs",
  import.meta.url,
);

interface Pending {
  resolve: (v: SlimVerdict) => void;
  manifest: string;
}

export class ServerMessageWorkers {
  readonly #workers: (Worker | undefined)[] = new Array(POOL_SIZE).fill(undefined);
  readonly #pending: Map<number, Pending>[] = Array.from({ length: POOL_SIZE }, () => new Map());
  #seq = 0;
  #next = 0;

  decide(
    bytes: Buffer,
    version: ProtocolVersion,
    manifest: string,
    maxDepth: number,
    maxBytes: number,
    allowedRequests: string[],
  ): Promise<SlimVerdict> {
    const slot = this.#next;
    this.#next = (this.#next + 1) % POOL_SIZE;
    const w = this.#worker(slot);
    const seq = ++this.#seq;
    return new Promise<SlimVerdict>((resolve) => {
      this.#pending[slot]!.set(seq, { resolve, manifest });
      // A long SSE line lives in a SharedArrayBuffer (sse.ts): posting it shares the memory, where
      // a Buffer of 20 MiB would be copied on the event loop (~90 ms here). Neither side writes it
      // once the line has ended, so the worker decides exactly the bytes that are then relayed.
      w.postMessage({ seq, bytes, version, manifest, maxDepth, maxBytes, allowedRequests });
    });
  }

  #worker(slot: number): Worker {
    const existing = this.#workers[slot];
    if (existing) return existing;
    const w = new Worker(WORKER_URL);
    w.unref();
    const pending = this.#pending[slot]!;
    w.on("message", (m: { seq: number; verdict?: SlimVerdict; error?: string }) => {
      const p = pending.get(m.seq);
      if (!p) return;
      pending.delete(m.seq);
      p.resolve(m.verdict ?? failed(p.manifest, m.error ?? "no verdict"));
    });
    const fail = (e: unknown) => {
      this.#workers[slot] = undefined;
      for (const [seq, p] of pending) {
        pending.delete(seq);
        p.resolve(failed(p.manifest, e instanceof Error ? e.message : String(e)));
      }
    };
    w.on("error", fail);
    w.on("exit", (code) => fail(new Error(`worker exited with code ${code}`)));
    this.#workers[slot] = w;
    return w;
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w?.terminate()));
  }
}

function failed(manifest: string, why: string): SlimVerdict {
  return {
    action: "refuse",
    method: "(malformed)",
    deny: deny(
      "InspectionFailed",
      `server message dropped: it could not be inspected (${why})`,
      manifest,
      INVALID_REQUEST,
    ),
  };
}
