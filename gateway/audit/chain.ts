// The audit chain: every JSONL line carries `seq`, the hash of the line before (`prevHash`) and
// its own `hash` = sha256 over the canonical JSON of the record without `hash`. A checkpoint line
// additionally signs (ES256, the gateway's SVID key) everything except `sig` and `hash`, with the
// signer's certificate chain embedded (`x5c`), so a verifier holding the trust bundle can tell that
// the head of the chain was vouched for by a gateway identity at that time.
import { sign } from "node:crypto";
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

/** Hash of a record: sha256 over canonical JSON of every field but `hash`. */
export function recordHash(rec: Record<string, unknown>): string {
  const { hash: _h, ...rest } = rec;
  return sha256Hex(canonicalJSON(rest));
}

/**
 * Hashes a record and writes its line in one pass: each top-level member is serialized once, the
 * hash is taken over them, and the line is the same members with `hash` at its sorted place. The
 * line is therefore itself canonical JSON, which is what makes verification cheap: a parsed
 * canonical line enumerates its keys in order, so canonicalJSON takes the native path on it.
 */
export function sealRecord(body: Record<string, unknown>): { hash: string; line: string } {
  const keys = Object.keys(body)
    .filter((k) => k !== "hash" && body[k] !== undefined)
    .sort();
  const members = keys.map((k) => `${JSON.stringify(k)}:${canonicalJSON(body[k])}`);
  const hash = sha256Hex(`{${members.join(",")}}`);
  let at = 0;
  while (at < keys.length && (keys[at] as string) < "hash") at++;
  members.splice(at, 0, `"hash":"${hash}"`);
  return { hash, line: `{${members.join(",")}}` };
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
    key: signer.keyPem,
    dsaEncoding: "ieee-p1363",
  }).toString("base64url");
  const withSig = { ...unsigned, sig };
  return { ...withSig, hash: recordHash(withSig) };
}
