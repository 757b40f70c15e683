// Worker thread body: decides one large server→client message off the gateway's event loop. The
// strict parse of a 20 MiB event takes long enough to stall every other call and the probes, so
// events above a threshold come here. Only a slim verdict goes back (ids, method, the few result
// fields the gateway's bookkeeping reads), never the parsed message itself.
import { parentPort } from "node:worker_threads";
import type { ProtocolVersion } from "./methods.ts";
import { decideServerMessage } from "./server-messages.ts";
import { slimVerdict } from "./slim-verdict.ts";

export interface WorkerRequest {
  seq: number;
  /** Usually a view of the SharedArrayBuffer a long SSE line was read into: read, never written. */
  bytes: Uint8Array;
  version: ProtocolVersion;
  manifest: string;
  maxDepth: number;
  maxBytes: number;
  allowedRequests: string[];
}

parentPort?.on("message", (m: WorkerRequest) => {
  try {
    const text = Buffer.from(m.bytes.buffer, m.bytes.byteOffset, m.bytes.byteLength).toString("utf8");
    const v = decideServerMessage(text, m.version, m.manifest, m.maxDepth, m.maxBytes, m.allowedRequests);
    parentPort!.postMessage({ seq: m.seq, verdict: slimVerdict(v) });
  } catch (e) {
    parentPort!.postMessage({ seq: m.seq, error: (e as Error).message });
  }
});
