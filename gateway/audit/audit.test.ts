import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { attackLeaf, byoCA, type LeafAttack } from "../../lib/identity/attack-certs.ts";
import { issueFor, testCA } from "../../lib/identity/testing.ts";
import type { CheckpointSigner, DecisionFields } from "./chain.ts";
import { verifyAuditText } from "./verify.ts";
import { AuditWriter } from "./writer.ts";

let signer: CheckpointSigner;
let bundlePem: string;
let otherBundle: string;
const dir = mkdtempSync(join(tmpdir(), "warden-audit-"));
const fields = (i: number): DecisionFields => ({
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
  upstreamStatus: 200,
  traceId: null,
});

beforeAll(async () => {
  const ca = await testCA("example.org");
  const svid = await issueFor(ca, "spiffe://example.org/ns/a/sa/agent");
  signer = { spiffeID: svid.spiffeID, keyPem: svid.keyPem, certChainPem: svid.chainPem };
  bundlePem = ca.certPem;
  otherBundle = (await testCA("example.org")).certPem;
});

async function writeLog(name: string, n: number, every = 4): Promise<string> {
  const file = join(dir, name);
  const w = new AuditWriter({ file, signer: () => signer, checkpointEvery: every });
  await w.open();
  for (let i = 0; i < n; i++) expect(w.append(fields(i))).toBe(true);
  await w.close();
  return file;
}

describe("audit chain", () => {
  it("writes a chain that verifies, with signed checkpoints chaining to the bundle", async () => {
    const file = await writeLog("ok.jsonl", 10);
    const r = verifyAuditText(readFileSync(file, "utf8"), { bundlePem });
    expect(r.findings).toEqual([]);
    expect(r.records).toBe(10);
    expect(r.checkpoints).toBe(3);
    expect(r.verifiedThrough).toBe(10);
    expect(
      verifyAuditText(readFileSync(file, "utf8"), { bundlePem: otherBundle }).findings.map((f) => f.kind),
    ).toContain("UntrustedSigner");
  });
  it("resumes the chain after reopening", async () => {
    const file = await writeLog("resume.jsonl", 3);
    const w = new AuditWriter({ file, signer: () => signer });
    await w.open();
    w.append(fields(99));
    await w.close();
    expect(verifyAuditText(readFileSync(file, "utf8"), { bundlePem }).findings).toEqual([]);
  });
  it("detects edits, deletions, reordering, truncation and forged signatures", async () => {
    const file = await writeLog("t.jsonl", 10);
    const lines = readFileSync(file, "utf8").trimEnd().split("\n");
    const kinds = (ls: string[]) =>
      verifyAuditText(`${ls.join("\n")}\n`, { bundlePem }).findings.map((f) => f.kind);
    const edited = [...lines];
    edited[1] = edited[1]!.replace('"allow"', '"deny"');
    expect(kinds(edited)).toContain("EditedRecord");
    expect(kinds(lines.filter((_, i) => i !== 2))).toContain("BrokenChain");
    const swapped = [...lines];
    [swapped[1], swapped[2]] = [swapped[2]!, swapped[1]!];
    expect(kinds(swapped)).toContain("BrokenChain");
    expect(kinds(lines.slice(0, -2))).toEqual(
      expect.arrayContaining(["UnverifiableTail", "MissingFinalCheckpoint"]),
    );
    const cp = JSON.parse(lines[4]!) as Record<string, unknown>;
    expect(cp.type).toBe("checkpoint");
    const forged = [...lines];
    forged[4] = JSON.stringify({ ...cp, sig: Buffer.alloc(64).toString("base64url") });
    expect(kinds(forged)).toContain("BadCheckpointSignature");
    expect(verifyAuditText(`${lines.join("\n")}\n{"torn`).tampered).toBe(true);
  });
  it("refuses new records once the file cannot be written (ENOSPC on /dev/full)", async () => {
    const w = new AuditWriter({ file: "/dev/full", signer: () => signer });
    await w.open();
    expect(w.append(fields(1))).toBe(true);
    await w.drain();
    expect(w.accepting()).toBe(false);
    expect(w.refusal()).toMatch(/cannot be written: .*ENOSPC|no space/i);
    expect(w.append(fields(2))).toBe(false);
    await w.close().catch(() => {});
  });
});

describe("audit checkpoints signed by certificates that are not SVIDs (attack table)", () => {
  // Each signer's certificate is issued by a CA in the verifier's bundle (a bring-your-own CA) and
  // the checkpoint signature itself verifies: only the SVID profile of the signer can refuse it.
  const AGENT = "spiffe://example.org/ns/a/sa/agent";
  const ROWS: LeafAttack[] = [
    "dns-san-with-uri-text",
    "email-san-with-uri-text",
    "ca-true-leaf",
    "key-cert-sign-leaf",
    "no-digital-signature",
    "two-uri-sans",
  ];
  const logSignedBy = async (name: string, leaf: { chainPem: string; keyPem: string }) => {
    const file = join(dir, name);
    const w = new AuditWriter({
      file,
      signer: () => ({ spiffeID: AGENT, keyPem: leaf.keyPem, certChainPem: leaf.chainPem }),
      checkpointEvery: 2,
    });
    await w.open();
    for (let i = 0; i < 4; i++) expect(w.append(fields(i))).toBe(true);
    await w.close();
    return readFileSync(file, "utf8");
  };
  it("control: a valid SVID from the BYO CA signs checkpoints that verify", async () => {
    const byo = await byoCA("byo");
    const text = await logSignedBy("byo-valid.jsonl", await attackLeaf(byo, "valid", AGENT));
    expect(verifyAuditText(text, { bundlePem: byo.certPem }).findings).toEqual([]);
  });
  for (const attack of ROWS) {
    it(`flags checkpoints signed with a ${attack} certificate as UntrustedSigner`, async () => {
      const byo = await byoCA("byo");
      const text = await logSignedBy(`byo-${attack}.jsonl`, await attackLeaf(byo, attack, AGENT));
      const findings = verifyAuditText(text, { bundlePem: byo.certPem }).findings;
      expect(findings.map((f) => f.kind)).toContain("UntrustedSigner");
      expect(findings.find((f) => f.kind === "UntrustedSigner")?.message).toMatch(/not an X\.509-SVID/);
    });
  }
});
