// The audit chain: appends per second through the real AuditWriter (canonical line, sha256 chain,
// queue, batched file writes, signed checkpoints every 1,000) against the floor of writing the same
// records as plain JSON lines with a sha256 chain and the same batching; and verifies per second of
// verifyAuditText on the file it wrote against the floor of parse + sha256 + link check. Also the
// canonical JSON alone, against the straightforward implementation it replaced.
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DecisionFields } from "../gateway/audit/chain.ts";
import { verifyAuditText } from "../gateway/audit/verify.ts";
import { AuditWriter } from "../gateway/audit/writer.ts";
import { canonicalJSON } from "../lib/canonical-json.ts";
import { issueFor, testCA } from "../lib/identity/testing.ts";
import type { BenchOptions, BenchResult } from "./run.ts";

function record(i: number): DecisionFields {
  return {
    time: new Date(1_700_000_000_000 + i).toISOString(),
    agent: "spiffe://cluster.local/ns/team/sa/researcher",
    taskId: null,
    manifest: "web-tools",
    method: "tools/call",
    tool: "search",
    argsHash: `sha256:${"a".repeat(64)}`,
    args: { q: `query number ${i}`, limit: 10 },
    decision: "allow",
    rule: "grant",
    latencyMs: 0.42,
    upstreamStatus: 200,
    traceId: "0af7651916cd43dd8448eb211c80319c",
  };
}

/** The implementation canonicalJSON replaced (operator/controllers/digest.ts before issue 16). */
function naiveCanonical(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value))
    return `[${value.map((v) => (v === undefined ? "null" : naiveCanonical(v))).join(",")}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${naiveCanonical(v)}`).join(",")}}`;
}

const sha = (s: string) => createHash("sha256").update(s).digest("hex");

function perSecond(n: number, ms: number): number {
  return n / (ms / 1000);
}

export async function run({ smoke }: BenchOptions): Promise<BenchResult[]> {
  const N = smoke ? 2_000 : 200_000;
  const dir = mkdtempSync(join(tmpdir(), "bench-audit-"));
  try {
    const ca = await testCA();
    const svid = await issueFor(ca, "spiffe://cluster.local/ns/team/sa/researcher");
    const records = Array.from({ length: N }, (_, i) => record(i));

    // Subject: the real writer. Appends are synchronous (hash + queue); the file write is batched.
    // Like the baseline, the loop lets the writer write every 1,000 records (drain); a loop that
    // never yields would instead keep all N lines queued in memory until close, which no gateway
    // does (it yields on every request) and which measured the garbage collector, not the chain.
    const file = join(dir, "audit.jsonl");
    const writer = new AuditWriter({
      file,
      maxQueue: 2 * N,
      checkpointEvery: 1000,
      signer: () => ({ spiffeID: svid.spiffeID, keyPem: svid.keyPem, certChainPem: svid.chainPem }),
    });
    await writer.open();
    let t = performance.now();
    for (let i = 0; i < N; i++) {
      writer.append(records[i]!);
      if ((i + 1) % 1000 === 0) await writer.drain();
    }
    await writer.close();
    const appendMs = performance.now() - t;

    // Baseline: JSON line + sha256 chain + the same batched append to a file.
    const baseFile = join(dir, "base.jsonl");
    const fh = await open(baseFile, "a");
    t = performance.now();
    let prev = "0".repeat(64);
    let batch: string[] = [];
    for (let i = 0; i < N; i++) {
      const body = { type: "decision", ...records[i], seq: i + 1, prevHash: prev };
      const line = JSON.stringify(body);
      prev = sha(line);
      batch.push(`${line.slice(0, -1)},"hash":"${prev}"}`);
      if (batch.length >= 1000) {
        await fh.appendFile(`${batch.join("\n")}\n`);
        batch = [];
      }
    }
    await fh.appendFile(`${batch.join("\n")}\n`);
    await fh.close();
    const baseAppendMs = performance.now() - t;

    // Verify: the real verifier on the real file vs parse + sha256 + link check of the baseline file.
    const text = readFileSync(file, "utf8");
    t = performance.now();
    const report = verifyAuditText(text);
    const verifyMs = performance.now() - t;
    if (report.tampered || report.records !== N)
      throw new Error(
        `audit bench: verified ${report.records}/${N} records: ${JSON.stringify(report.findings.slice(0, 3))}`,
      );
    const baseText = readFileSync(baseFile, "utf8");
    t = performance.now();
    let link = "0".repeat(64);
    let ok = 0;
    for (const line of baseText.split("\n")) {
      if (!line) continue;
      const rec = JSON.parse(line) as { prevHash: string; hash: string };
      const h = sha(line.slice(0, line.lastIndexOf(',"hash"')) + "}");
      if (rec.prevHash === link && rec.hash === h) ok++;
      link = rec.hash;
    }
    const baseVerifyMs = performance.now() - t;
    if (ok !== N) throw new Error(`audit bench: baseline verified ${ok}/${N}`);

    // Canonical JSON alone, on parsed (canonical-order) records and on insertion-order ones.
    const parsed = text
      .split("\n")
      .filter(Boolean)
      .slice(0, Math.min(N, 50_000))
      .map((l) => JSON.parse(l) as unknown);
    t = performance.now();
    for (const p of parsed) canonicalJSON(p);
    const canonMs = performance.now() - t;
    t = performance.now();
    for (const p of parsed) naiveCanonical(p);
    const naiveMs = performance.now() - t;
    const unsorted = records.slice(0, parsed.length);
    t = performance.now();
    for (const p of unsorted) canonicalJSON(p);
    const canonUnsortedMs = performance.now() - t;
    t = performance.now();
    for (const p of unsorted) naiveCanonical(p);
    const naiveUnsortedMs = performance.now() - t;

    const appends = perSecond(N, appendMs);
    const verifies = perSecond(N, verifyMs);
    return [
      {
        name: "audit appends",
        subject: "AuditWriter.append (canonical line, chain, checkpoints, file)",
        baseline: "JSON + sha256 chain + batched append",
        unit: "records/s",
        subjectValue: appends,
        baselineValue: perSecond(N, baseAppendMs),
        ratio: appends / perSecond(N, baseAppendMs),
        target: "≥ 100,000/s",
        met: appends >= 100_000,
        notes: `${N} records, checkpoint every 1,000`,
      },
      {
        name: "audit verifies",
        subject: "verifyAuditText (hash, chain, seq, checkpoint signatures)",
        baseline: "parse + sha256 + link check",
        unit: "records/s",
        subjectValue: verifies,
        baselineValue: perSecond(N, baseVerifyMs),
        ratio: verifies / perSecond(N, baseVerifyMs),
        target: "≥ 200,000/s",
        met: verifies >= 200_000,
        notes: `${N} records, ${report.checkpoints} checkpoints`,
      },
      {
        name: "canonical JSON (parsed, canonical order)",
        subject: "lib/canonical-json.ts",
        baseline: "the sort-every-object implementation it replaced",
        unit: "records/s",
        subjectValue: perSecond(parsed.length, canonMs),
        baselineValue: perSecond(parsed.length, naiveMs),
        ratio: naiveMs / canonMs,
        notes: `${parsed.length} audit records`,
      },
      {
        name: "canonical JSON (insertion order)",
        subject: "lib/canonical-json.ts",
        baseline: "the sort-every-object implementation it replaced",
        unit: "records/s",
        subjectValue: perSecond(unsorted.length, canonUnsortedMs),
        baselineValue: perSecond(unsorted.length, naiveUnsortedMs),
        ratio: naiveUnsortedMs / canonUnsortedMs,
        notes: "objects built in arbitrary key order (the append path)",
      },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
