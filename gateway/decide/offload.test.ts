// The worker pool decides a server message exactly as the event loop would, whether the bytes
// come as an ordinary Buffer (cloned into the worker) or as a view of a SharedArrayBuffer (a long
// SSE line, shared with the worker without a copy). Real worker threads, one row per message.
import { afterAll, describe, expect, it } from "vitest";
import { ServerMessageWorkers } from "./offload.ts";
import { decideServerMessage } from "./server-messages.ts";
import { slimVerdict } from "./slim-verdict.ts";

const workers = new ServerMessageWorkers();
afterAll(() => workers.close());

const VERSION = "2025-11-25";
const MANIFEST = "m";
const MAX_BYTES = 64 * 1024 * 1024;
const ALLOWED = ["sampling/createMessage"];

function shared(text: string): Buffer {
  const bytes = Buffer.from(text, "utf8");
  const sab = new SharedArrayBuffer(bytes.length + 6);
  const view = Buffer.from(sab);
  view.write("data: ");
  bytes.copy(view, 6);
  // The data of a parsed line: a view past the "data: " prefix, as sse.ts hands it over.
  return view.subarray(6);
}

const rows: { name: string; action: "pass" | "refuse"; text: string }[] = [
  {
    name: "a large notification",
    action: "pass",
    text: JSON.stringify({
      jsonrpc: "2.0",
      method: "notifications/message",
      params: { level: "info", data: "a".repeat(300_000) },
    }),
  },
  {
    name: "a response with a tools list (rewritable)",
    action: "pass",
    text: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      result: { tools: [{ name: "t", description: "d".repeat(1000), inputSchema: { type: "object" } }] },
    }),
  },
  {
    name: "a granted server request",
    action: "pass",
    text: JSON.stringify({
      jsonrpc: "2.0",
      id: "s1",
      method: "sampling/createMessage",
      params: { messages: [], maxTokens: 1 },
    }),
  },
  {
    name: "an ungranted server request",
    action: "refuse",
    text: JSON.stringify({ jsonrpc: "2.0", id: "s2", method: "roots/list" }),
  },
  {
    name: "a batch array",
    action: "refuse",
    text: JSON.stringify([{ jsonrpc: "2.0", method: "notifications/message" }]),
  },
  { name: "duplicate keys", action: "refuse", text: '{"jsonrpc":"2.0","id":1,"id":2,"result":{}}' },
  {
    name: "truncated JSON",
    action: "refuse",
    text: '{"jsonrpc":"2.0","method":"notifications/message","params":{"data":"',
  },
  {
    name: "a replacement character in the data",
    action: "pass",
    text: '{"jsonrpc":"2.0","method":"notifications/message","params":{"data":"\uFFFD"}}',
  },
  {
    name: "nesting deeper than the limit",
    action: "refuse",
    text: `${'{"a":'.repeat(200)}1${"}".repeat(200)}`,
  },
  {
    name: "a task result naming its task",
    action: "pass",
    text: JSON.stringify({ jsonrpc: "2.0", id: 3, result: { task: { taskId: "t-1", status: "working" } } }),
  },
];

describe("ServerMessageWorkers", () => {
  for (const r of rows)
    it(`decides ${r.name} like the event loop, from a Buffer and from shared memory`, async () => {
      const inline = slimVerdict(decideServerMessage(r.text, VERSION, MANIFEST, 128, MAX_BYTES, ALLOWED));
      const fromBuffer = await workers.decide(
        Buffer.from(r.text),
        VERSION,
        MANIFEST,
        128,
        MAX_BYTES,
        ALLOWED,
      );
      const fromShared = await workers.decide(shared(r.text), VERSION, MANIFEST, 128, MAX_BYTES, ALLOWED);
      expect(inline.action).toBe(r.action);
      expect(fromBuffer).toEqual(inline);
      expect(fromShared).toEqual(inline);
    });
  it("leaves the shared bytes as they were (the gateway relays what was decided)", async () => {
    const text = JSON.stringify({
      jsonrpc: "2.0",
      method: "notifications/message",
      params: { data: "z".repeat(1000) },
    });
    const bytes = shared(text);
    await workers.decide(bytes, VERSION, MANIFEST, 128, MAX_BYTES, ALLOWED);
    expect(bytes.toString("utf8")).toBe(text);
  });
});
