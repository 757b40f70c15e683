// How the writer makes write-ahead records durable: group commit, and the choice between one
// O_DSYNC write (only on a durable prefix) and write + fdatasync of the whole file.
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { DecisionFields } from "./chain.ts";
import { verifyAuditText } from "./verify.ts";
import { AuditWriter } from "./writer.ts";

const dir = mkdtempSync(join(tmpdir(), "warden-audit-durable-"));
const fields = (i: number, phase: "intent" | "outcome"): DecisionFields => ({
  time: new Date().toISOString(),
  agent: "spiffe://example.org/ns/a/sa/agent",
  taskId: null,
  manifest: "web",
  method: "tools/call",
  tool: "search",
  argsHash: null,
  args: { q: `q${i}` },
  decision: "allow",
  rule: "Granted",
  latencyMs: 1,
  upstreamStatus: phase === "outcome" ? 200 : null,
  traceId: null,
  detail: { phase },
});

function writer(name: string): { w: AuditWriter; file: string } {
  const file = join(dir, name);
  // No signer: no checkpoints, so every batch below is exactly the records appended.
  return { w: new AuditWriter({ file, signer: () => undefined, checkpointEvery: 1_000_000 }), file };
}

describe("durable audit records", () => {
  it("syncs the whole file unless everything before is durable, then uses one O_DSYNC write", async () => {
    const { w, file } = writer("modes.jsonl");
    await w.open();
    // The file's earlier content is not known to be durable: write + fdatasync.
    expect(await w.appendDurable(fields(1, "intent"))).toBe(true);
    expect(w.stats).toEqual({ batches: 1, dsyncWrites: 0, datasyncs: 1 });
    // On a durable prefix: one O_DSYNC write.
    expect(await w.appendDurable(fields(2, "intent"))).toBe(true);
    expect(w.stats).toEqual({ batches: 2, dsyncWrites: 1, datasyncs: 1 });
    // A record nobody waits for is written without a sync…
    expect(w.append(fields(2, "outcome"))).toBe(true);
    await w.drain();
    expect(w.stats).toEqual({ batches: 3, dsyncWrites: 1, datasyncs: 1 });
    // …so the next durable batch syncs the whole file again (an O_DSYNC write syncs its own range only).
    expect(await w.appendDurable(fields(3, "intent"))).toBe(true);
    expect(w.stats).toEqual({ batches: 4, dsyncWrites: 1, datasyncs: 2 });
    await w.close();
    const r = verifyAuditText(readFileSync(file, "utf8"), {});
    expect(r.records).toBe(4);
    expect(
      r.findings.filter((f) => f.kind !== "UnverifiableTail" && f.kind !== "MissingFinalCheckpoint"),
    ).toEqual([]);
  });

  it("writes every record in order when appends and durable appends interleave without awaiting", async () => {
    const { w, file } = writer("interleaved.jsonl");
    await w.open();
    const waits: Promise<boolean>[] = [];
    for (let i = 0; i < 50; i++) {
      expect(w.append(fields(i, "outcome"))).toBe(true);
      if (i % 3 === 0) waits.push(w.appendDurable(fields(i, "intent")));
      if (i % 7 === 0) await Promise.resolve();
    }
    expect((await Promise.all(waits)).every(Boolean)).toBe(true);
    await w.close();
    const seqs = readFileSync(file, "utf8")
      .trim()
      .split("\n")
      .map((l) => (JSON.parse(l) as { seq: number }).seq);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    expect(seqs).toHaveLength(50 + waits.length);
  });

  it("commits concurrent durable records in groups, in order, every one resolved true", async () => {
    const { w, file } = writer("group.jsonl");
    await w.open();
    const n = 200;
    const results = await Promise.all(
      Array.from({ length: n }, (_, i) => {
        const p = w.appendDurable(fields(i, "intent"));
        w.append(fields(i, "outcome"));
        return p;
      }),
    );
    expect(results.every((ok) => ok)).toBe(true);
    // Fewer syncs than records: the batches were shared.
    const s = w.stats;
    expect(s.dsyncWrites + s.datasyncs).toBeLessThan(n);
    await w.close();
    const lines = readFileSync(file, "utf8").trim().split("\n");
    expect(lines).toHaveLength(2 * n);
    expect(lines.map((l) => (JSON.parse(l) as { seq: number }).seq)).toEqual(
      Array.from({ length: 2 * n }, (_, i) => i + 1),
    );
    const r = verifyAuditText(readFileSync(file, "utf8"), {});
    expect(
      r.findings.filter((f) => f.kind !== "UnverifiableTail" && f.kind !== "MissingFinalCheckpoint"),
    ).toEqual([]);
  });
});
