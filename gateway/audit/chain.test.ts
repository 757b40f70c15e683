// The audit hash definition stays what it was: sealRecord writes the same line and hash as the
// member-by-member implementation it replaced, recordHash agrees with it, and a file written the
// way older writers wrote it (lines in insertion order, not canonical) still verifies, while an
// edit to such a file is still found.
import { createHash } from "node:crypto";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { canonicalJSON } from "../../lib/canonical-json.ts";
import { issueFor, testCA } from "../../lib/identity/testing.ts";
import {
  type CheckpointSigner,
  canonicalRuns,
  GENESIS_HASH,
  makeCheckpoint,
  recordHash,
  sealRecord,
} from "./chain.ts";
import { verifyAuditText } from "./verify.ts";

const sha = (s: string) => createHash("sha256").update(s).digest("hex");

/** sealRecord before issue 16's second round: one canonicalJSON per member, spliced. */
function referenceSeal(body: Record<string, unknown>): { hash: string; line: string } {
  const keys = Object.keys(body)
    .filter((k) => k !== "hash" && body[k] !== undefined)
    .sort();
  const members = keys.map((k) => `${JSON.stringify(k)}:${canonicalJSON(body[k])}`);
  const hash = sha(`{${members.join(",")}}`);
  let at = 0;
  while (at < keys.length && (keys[at] as string) < "hash") at++;
  members.splice(at, 0, `"hash":"${hash}"`);
  return { hash, line: `{${members.join(",")}}` };
}

/** recordHash as first defined: sha256 over canonicalJSON of the record without `hash`. */
function referenceHash(rec: Record<string, unknown>): string {
  const { hash: _h, ...rest } = rec;
  return sha(canonicalJSON(rest));
}

const key = fc.oneof(
  fc.string(),
  fc.constantFrom(
    "hash",
    "type",
    "seq",
    "0",
    "10",
    "9",
    "",
    "__proto__",
    "h",
    "hasi",
    "has",
    "\ud83d\ude00",
    '"',
  ),
);
const json = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    fc.constant(null),
    fc.boolean(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.string({ unit: "binary" }),
    fc.array(tie("value")),
    fc.dictionary(key, tie("value")),
  ),
})).value;
/** Records as parsed (own __proto__ keys possible) and as built (undefined members possible). */
const record = fc.oneof(
  fc.dictionary(key, json).map((r) => JSON.parse(JSON.stringify(r)) as Record<string, unknown>),
  fc.dictionary(key, fc.oneof(json, fc.constant(undefined))),
);

let signer: CheckpointSigner;
beforeAll(async () => {
  const ca = await testCA("example.org");
  const svid = await issueFor(ca, "spiffe://example.org/ns/a/sa/agent");
  signer = { spiffeID: svid.spiffeID, keyPem: svid.keyPem, certChainPem: svid.chainPem };
});

describe("sealRecord and recordHash keep the hash definition", () => {
  it("seal the same line and hash as the member-by-member implementation (property)", () => {
    fc.assert(
      fc.property(record, (body) => {
        expect(sealRecord(body)).toEqual(referenceSeal(body));
      }),
      { numRuns: 1000 },
    );
  });

  it("hash as first defined, on sealed lines parsed back and on any record (property)", () => {
    fc.assert(
      fc.property(record, (body) => {
        expect(recordHash(body)).toBe(referenceHash(body));
        const parsed = JSON.parse(sealRecord(body).line) as Record<string, unknown>;
        expect(recordHash(parsed)).toBe(referenceHash(parsed));
        expect(recordHash(parsed)).toBe(parsed.hash);
      }),
      { numRuns: 500 },
    );
  });

  const runs: { name: string; body: Record<string, unknown>; before: string; after: string }[] = [
    { name: "members on both sides", body: { a: 1, z: 2, hash: "x" }, before: '"a":1', after: '"z":2' },
    { name: "only before", body: { a: 1 }, before: '"a":1', after: "" },
    { name: "only after", body: { z: [1] }, before: "", after: '"z":[1]' },
    { name: "nothing", body: {}, before: "", after: "" },
    { name: "undefined members dropped", body: { a: undefined, z: 1 }, before: "", after: '"z":1' },
    {
      name: "nested objects sorted",
      body: { args: { q: 1, limit: 2 } },
      before: '"args":{"limit":2,"q":1}',
      after: "",
    },
    {
      name: "an own __proto__ member kept as a member",
      body: JSON.parse('{"__proto__":{"x":1},"a":2}') as Record<string, unknown>,
      before: '"__proto__":{"x":1},"a":2',
      after: "",
    },
    {
      name: "integer-like keys in code-unit order",
      body: { "9": 1, "10": 2, i: 3 },
      before: '"10":2,"9":1',
      after: '"i":3',
    },
  ];
  for (const r of runs) {
    it(`canonicalRuns: ${r.name}`, () => {
      expect(canonicalRuns(r.body)).toEqual({ before: r.before, after: r.after });
    });
  }
});

describe("files written the way older writers wrote them", () => {
  /** A chain whose lines are JSON.stringify of each record in insertion order (not canonical). */
  function olderFile(n: number): string {
    let prev = GENESIS_HASH;
    const lines: string[] = [];
    for (let seq = 1; seq <= n; seq++) {
      const body: Record<string, unknown> = {
        type: "decision",
        time: new Date(1_700_000_000_000 + seq).toISOString(),
        agent: "spiffe://example.org/ns/a/sa/agent",
        taskId: null,
        manifest: "web",
        method: "tools/call",
        tool: "search",
        argsHash: null,
        args: { q: `q${seq}`, limit: 3 },
        decision: "allow",
        rule: "Granted",
        latencyMs: 1.5,
        upstreamStatus: 200,
        traceId: null,
        seq,
        prevHash: prev,
      };
      const hash = referenceHash(body);
      lines.push(JSON.stringify({ ...body, hash }));
      prev = hash;
    }
    const cp = makeCheckpoint(n + 1, prev, new Date(1_700_000_100_000).toISOString(), signer);
    lines.push(JSON.stringify(cp));
    return `${lines.join("\n")}\n`;
  }

  it("still verify, every record and the signed checkpoint", () => {
    const text = olderFile(20);
    expect(text.split("\n")[0]).not.toBe(sealRecord(JSON.parse(text.split("\n")[0]!)).line);
    const r = verifyAuditText(text);
    expect(r.findings).toEqual([]);
    expect(r.records).toBe(20);
    expect(r.verifiedThrough).toBe(20);
  });

  it("still show an edit as EditedRecord", () => {
    const lines = olderFile(5).split("\n");
    lines[2] = lines[2]!.replace('"allow"', '"deny"');
    const r = verifyAuditText(lines.join("\n"));
    expect(r.tampered).toBe(true);
    expect(r.findings.map((f) => [f.line, f.kind])).toContainEqual([3, "EditedRecord"]);
  });

  it("a canonical line re-spaced or re-ordered still verifies (the hash covers the values, not the bytes)", () => {
    const body = { type: "decision", seq: 1, prevHash: GENESIS_HASH, args: { b: 1, a: [1, 2] }, z: "é" };
    const { line } = sealRecord(body);
    const respaced = JSON.stringify(JSON.parse(line), null, 1).replace(/\n/g, "");
    const reordered = JSON.stringify(Object.fromEntries(Object.entries(JSON.parse(line)).reverse()));
    for (const text of [line, respaced, reordered]) {
      const r = verifyAuditText(`${text}\n`);
      expect(r.findings.filter((f) => f.kind === "EditedRecord")).toEqual([]);
    }
  });
});
