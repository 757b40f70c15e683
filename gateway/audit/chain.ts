// The audit chain: every JSONL line carries `seq`, the hash of the line before (`prevHash`) and
// its own `hash` = sha256 over the canonical JSON of the record without `hash`. A checkpoint line
// additionally signs (ES256, the gateway's SVID key) everything except `sig` and `hash`, with the
// signer's certificate chain embedded (`x5c`), so a verifier holding the trust bundle can tell that
// the head of the chain was vouched for by a gateway identity at that time.
import { createPrivateKey, type KeyObject, sign } from "node:crypto";
import { canonicalJSON } from "../../lib/canonical-json.ts";
import { sha256Hex } from "../decide/digest.ts";

export const GENESIS_HASH = "0".repeat(64);
export const CHECKPOINT_CONTEXT = "warden-audit-checkpoint/v1";

export interface DecisionFields {
  time: string;
  agent: string;
  taskId: string | null;
  manifest: string;
  method: string;
  tool: string | null;
  argsHash: string | null;
  args: unknown;
  /** allow | deny | would-deny | hold-approved | drift | … */
  decision: string;
  rule: string;
  constraint?: string;
  latencyMs: number;
  upstreamStatus: number | null;
  traceId: string | null;
  approver?: string;
  detail?: Record<string, unknown>;
}

export interface DecisionRecord extends DecisionFields {
  type: "decision";
  seq: number;
  prevHash: string;
  hash: string;
}

export interface CheckpointRecord {
  type: "checkpoint";
  time: string;
  seq: number;
  prevHash: string;
  /** SPIFFE ID of the signer (must equal the URI SAN of x5c[0]). */
  signer: string;
  alg: "ES256";
  /** Base64 DER certificates, leaf first. */
  x5c: string[];
  /** Base64url IEEE-P1363 ECDSA signature over signingInput(record). */
  sig: string;
  hash: string;
}

export type AuditRecord = DecisionRecord | CheckpointRecord;

/**
 * The canonical JSON members of a record other than `hash`, in two runs: those whose keys sort
 * before "hash" and those after, each the inside of a canonical object (no braces; "" when empty).
 * `{before,after}` is the canonical JSON of the record without `hash`, and `hash` goes between them
 * in a canonical line. Each run is one canonicalJSON call over an object built in sorted key order,
 * which takes its native path: one JSON.stringify per run instead of one per member.
 */
export function canonicalRuns(body: Record<string, unknown>): { before: string; after: string } {
  const keys = Object.keys(body).sort();
  const before: Record<string, unknown> = {};
  const after: Record<string, unknown> = {};
  for (const k of keys) {
    const v = body[k];
    if (k === "hash" || v === undefined) continue;
    // Assigning "__proto__" on a plain object would set its prototype, not a member.
    if (k === "__proto__") return memberRuns(body, keys);
    if (k < "hash") before[k] = v;
    else after[k] = v;
  }
  return { before: canonicalJSON(before).slice(1, -1), after: canonicalJSON(after).slice(1, -1) };
}

/** canonicalRuns member by member, for the records plain objects cannot rebuild. */
function memberRuns(body: Record<string, unknown>, sortedKeys: string[]): { before: string; after: string } {
  const before: string[] = [];
  const after: string[] = [];
  for (const k of sortedKeys) {
    const v = body[k];
    if (k === "hash" || v === undefined) continue;
    (k < "hash" ? before : after).push(`${JSON.stringify(k)}:${canonicalJSON(v)}`);
  }
  return { before: before.join(","), after: after.join(",") };
}

const joinRuns = (a: string, b: string) => (a === "" ? b : b === "" ? a : `${a},${b}`);

/** Hash of a record: sha256 over canonical JSON of every field but `hash`. */
export function recordHash(rec: Record<string, unknown>): string {
  const { before, after } = canonicalRuns(rec);
  return sha256Hex(`{${joinRuns(before, after)}}`);
}

/**
 * Hashes a record and writes its line in one pass: the hash is taken over the canonical JSON of
 * the record without `hash`, and the line is the same members with `hash` at its sorted place. The
 * line is therefore itself canonical JSON, which is what makes verification cheap: a parsed
 * canonical line enumerates its keys in order, so canonicalJSON takes the native path on it.
 */
export function sealRecord(body: Record<string, unknown>): { hash: string; line: string } {
  const { before, after } = canonicalRuns(body);
  const hash = sha256Hex(`{${joinRuns(before, after)}}`);
  return { hash, line: `{${joinRuns(joinRuns(before, `"hash":"${hash}"`), after)}}` };
}

/** The bytes a checkpoint signature covers: a context string and every field but sig and hash. */
export function signingInput(rec: Record<string, unknown>): Buffer {
  const { hash: _h, sig: _s, ...rest } = rec;
  return Buffer.from(`${CHECKPOINT_CONTEXT}\n${canonicalJSON(rest)}`, "utf8");
}

export interface CheckpointSigner {
  spiffeID: string;
  keyPem: string;
  certChainPem: string;
}

export function pemToDerBase64(pem: string): string[] {
  const out: string[] = [];
  const re = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g;
  for (let m = re.exec(pem); m; m = re.exec(pem)) out.push(m[1]!.replace(/\s+/g, ""));
  return out;
}

/** The last signing key imported: the SVID key changes at each rotation, checkpoints come far more often. */
let lastKey: { pem: string; key: KeyObject } | undefined;

function signingKey(pem: string): KeyObject {
  if (lastKey?.pem !== pem) lastKey = { pem, key: createPrivateKey(pem) };
  return lastKey.key;
}

export function makeCheckpoint(
  seq: number,
  prevHash: string,
  time: string,
  signer: CheckpointSigner,
): CheckpointRecord {
  const unsigned = {
    type: "checkpoint" as const,
    time,
    seq,
    prevHash,
    signer: signer.spiffeID,
    alg: "ES256" as const,
    x5c: pemToDerBase64(signer.certChainPem),
  };
  const sig = sign("sha256", signingInput(unsigned), {
    key: signingKey(signer.keyPem),
    dsaEncoding: "ieee-p1363",
  }).toString("base64url");
  const withSig = { ...unsigned, sig };
  return { ...withSig, hash: recordHash(withSig) };
}
