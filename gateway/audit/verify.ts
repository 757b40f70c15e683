// Verification of an audit file: recomputes every hash, follows the prevHash chain and seq
// numbers, and checks each checkpoint's signature (and, with a trust bundle, its certificate
// chain). Any edit, deletion or reordering breaks a hash link; truncation is visible as records
// after the last checkpoint or a missing final checkpoint (the writer seals the file on close).

import { type KeyObject, verify as verifySig, X509Certificate } from "node:crypto";
import { canonicalJSON } from "../../lib/canonical-json.ts";
import { checkLeafProfile } from "../../lib/identity/svid-profile.ts";
import { sha256Hex } from "../../lib/tool-digest.ts";
import { GENESIS_HASH, recordHash, signingInput } from "./chain.ts";

export interface Finding {
  /** 1-based line number in the file (0 for whole-file findings). */
  line: number;
  kind:
    | "Unparseable"
    | "EditedRecord"
    | "BrokenChain"
    | "SequenceGap"
    | "BadCheckpointSignature"
    | "UntrustedSigner"
    | "UnverifiableTail"
    | "MissingFinalCheckpoint"
    | "Empty";
  message: string;
}

export interface VerifyReport {
  records: number;
  checkpoints: number;
  /** Decision records covered by a valid signed checkpoint. */
  verifiedThrough: number;
  findings: Finding[];
  /** true when any finding proves tampering (not only an unsealed tail). */
  tampered: boolean;
}

export interface VerifyOptions {
  /** PEM trust bundle: checkpoint signer chains must lead to one of these certificates. */
  bundlePem?: string;
}

const TAMPER_KINDS = new Set<Finding["kind"]>([
  "Unparseable",
  "EditedRecord",
  "BrokenChain",
  "SequenceGap",
  "BadCheckpointSignature",
  "UntrustedSigner",
]);

function parseBundle(pem: string): X509Certificate[] {
  const out: X509Certificate[] = [];
  const re = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;
  for (const m of pem.match(re) ?? []) out.push(new X509Certificate(m));
  return out;
}

/**
 * The signer's SPIFFE ID: the one URI SAN of a certificate that passes the X.509-SVID profile,
 * read from the DER (lib/identity/svid-profile.ts) — never from Node's subjectAltName text, where
 * a DNS SAN "URI:spiffe://…" reads like a URI SAN.
 */
function spiffeIDOf(cert: X509Certificate): { id: string } | { problem: string } {
  try {
    return { id: checkLeafProfile(new Uint8Array(cert.raw), { purposes: [] }).spiffeID };
  } catch (e) {
    return { problem: (e as Error).message };
  }
}

/** What a checkpoint's x5c says, worked out once per distinct chain (one SVID signs many checkpoints). */
interface SignerChain {
  chain: X509Certificate[];
  leaf: X509Certificate;
  publicKey: KeyObject;
  signer: { id: string } | { problem: string };
  /** Whether the chain leads to a root of the bundle (computed on first use, with roots only). */
  chainsToBundle?: boolean;
}

/** Distinct signer chains remembered per verification; more than this and the oldest is forgotten. */
const MAX_SIGNER_CHAINS = 64;

function signerChain(x5c: unknown[], cache: Map<string, SignerChain | undefined>): SignerChain | undefined {
  const cacheKey = x5c.join(",");
  if (cache.has(cacheKey)) return cache.get(cacheKey);
  let entry: SignerChain | undefined;
  try {
    const chain = x5c.map((b) => new X509Certificate(Buffer.from(String(b), "base64")));
    const leaf = chain[0]!;
    entry = { chain, leaf, publicKey: leaf.publicKey, signer: spiffeIDOf(leaf) };
  } catch {
    entry = undefined;
  }
  if (cache.size >= MAX_SIGNER_CHAINS) cache.delete(cache.keys().next().value as string);
  cache.set(cacheKey, entry);
  return entry;
}

/** Walks leaf → intermediates (from x5c) → a root in the bundle. */
function chainsToBundle(sc: SignerChain, roots: X509Certificate[]): boolean {
  let cur = sc.leaf;
  for (let depth = 0; depth < 8; depth++) {
    if (roots.some((r) => cur.checkIssued(r) && cur.verify(r.publicKey))) return true;
    const next = sc.chain.find((c) => c !== cur && cur.checkIssued(c) && cur.verify(c.publicKey));
    if (!next) break;
    cur = next;
  }
  return false;
}

/** Checks a checkpoint's signature and (with roots) its chain; returns the problem or undefined. */
function checkpointProblem(
  rec: Record<string, unknown>,
  roots: X509Certificate[] | undefined,
  chains: Map<string, SignerChain | undefined>,
): Finding["kind"] | string | undefined {
  const x5c = rec.x5c;
  if (!Array.isArray(x5c) || x5c.length === 0 || typeof rec.sig !== "string")
    return "checkpoint has no certificate chain or signature";
  const sc = signerChain(x5c, chains);
  if (!sc) return "checkpoint certificate chain does not parse";
  const signer = sc.signer;
  if ("problem" in signer)
    return `UntrustedSigner:the signing certificate is not an X.509-SVID: ${signer.problem}`;
  if (signer.id !== rec.signer)
    return `checkpoint signer ${String(rec.signer)} is not the certificate's SPIFFE ID`;
  const ok = verifySig(
    "sha256",
    signingInput(rec),
    { key: sc.publicKey, dsaEncoding: "ieee-p1363" },
    Buffer.from(rec.sig, "base64url"),
  );
  if (!ok) return "signature does not verify";
  if (roots) {
    const at = new Date(String(rec.time));
    const inWindow = (c: X509Certificate) => new Date(c.validFrom) <= at && at <= new Date(c.validTo);
    if (!inWindow(sc.leaf))
      return "UntrustedSigner:the signing certificate was not valid at the checkpoint time";
    sc.chainsToBundle ??= chainsToBundle(sc, roots);
    if (sc.chainsToBundle) return undefined;
    return "UntrustedSigner:the signing certificate does not chain to the trust bundle";
  }
  return undefined;
}

/**
 * Whether a record's `hash` is the sha256 of the canonical JSON of its other members (recordHash).
 * Cheaper than recordHash on the lines the writer writes: the canonical JSON of the whole record
 * (one native serialization, since a parsed canonical line enumerates its keys sorted) with the
 * `"hash":"…"` member cut out IS the canonical JSON of the other members. The cut is taken at the
 * last occurrence of that member text, which is the top-level one unless a member sorting after
 * `hash` nests the very same text; a cut in the wrong place leaves the top-level member in the
 * text, and a text whose sha256 is written inside it is out of reach, so a match is a match of the
 * definition. Without a match, recordHash decides.
 */
function hashMatches(rec: Record<string, unknown>, hash: string): boolean {
  const text = canonicalJSON(rec);
  const member = `"hash":${JSON.stringify(hash)}`;
  const at = text.lastIndexOf(member);
  if (at > 0) {
    const end = at + member.length;
    const rest =
      text.charCodeAt(at - 1) === 0x2c
        ? text.slice(0, at - 1) + text.slice(end)
        : text.charCodeAt(end) === 0x2c
          ? text.slice(0, at) + text.slice(end + 1)
          : text.slice(0, at) + text.slice(end);
    if (sha256Hex(rest) === hash) return true;
  }
  return recordHash(rec) === hash;
}

export function verifyAuditText(text: string, opts: VerifyOptions = {}): VerifyReport {
  const roots = opts.bundlePem ? parseBundle(opts.bundlePem) : undefined;
  const chains = new Map<string, SignerChain | undefined>();
  const findings: Finding[] = [];
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  let prevHash = GENESIS_HASH;
  let prevSeq = 0;
  let records = 0;
  let checkpoints = 0;
  let verifiedThrough = 0;
  let sinceCheckpoint = 0;
  let lastWasCheckpoint = false;
  if (lines.length === 0) findings.push({ line: 0, kind: "Empty", message: "the audit file has no records" });
  lines.forEach((line, idx) => {
    const n = idx + 1;
    let rec: Record<string, unknown>;
    try {
      rec = JSON.parse(line) as Record<string, unknown>;
      if (typeof rec !== "object" || rec === null || Array.isArray(rec)) throw new Error("not an object");
    } catch {
      const last = idx === lines.length - 1;
      findings.push({
        line: n,
        kind: "Unparseable",
        message: last
          ? "the last line is not a complete JSON record (torn write or truncation)"
          : "the line is not a JSON record",
      });
      lastWasCheckpoint = false;
      return;
    }
    const seq = rec.seq;
    const hash = rec.hash;
    if (typeof hash !== "string" || !hashMatches(rec, hash)) {
      findings.push({
        line: n,
        kind: "EditedRecord",
        message: `record seq ${String(seq)}: its content does not match its hash`,
      });
    }
    if (rec.prevHash !== prevHash) {
      findings.push({
        line: n,
        kind: "BrokenChain",
        message: `record seq ${String(seq)}: prevHash does not match the record before it (a record was deleted, inserted or moved)`,
      });
    }
    if (seq !== prevSeq + 1) {
      findings.push({
        line: n,
        kind: "SequenceGap",
        message: `record seq ${String(seq)} follows seq ${prevSeq}`,
      });
    }
    prevSeq = typeof seq === "number" ? seq : prevSeq + 1;
    prevHash = typeof hash === "string" ? hash : "";
    if (rec.type === "checkpoint") {
      checkpoints++;
      const problem = checkpointProblem(rec, roots, chains);
      if (problem) {
        const untrusted = problem.startsWith("UntrustedSigner:");
        findings.push({
          line: n,
          kind: untrusted ? "UntrustedSigner" : "BadCheckpointSignature",
          message: `checkpoint seq ${String(seq)}: ${untrusted ? problem.slice("UntrustedSigner:".length) : problem}`,
        });
      } else if (!findings.some((f) => TAMPER_KINDS.has(f.kind))) {
        verifiedThrough = records;
      }
      sinceCheckpoint = 0;
      lastWasCheckpoint = true;
    } else {
      records++;
      sinceCheckpoint++;
      lastWasCheckpoint = false;
    }
  });
  if (sinceCheckpoint > 0) {
    findings.push({
      line: 0,
      kind: "UnverifiableTail",
      message: `${sinceCheckpoint} record(s) after the last checkpoint are not covered by a signature (a truncation there cannot be detected)`,
    });
  }
  if (lines.length > 0 && !lastWasCheckpoint) {
    findings.push({
      line: 0,
      kind: "MissingFinalCheckpoint",
      message:
        "the file does not end with a checkpoint: the writer was not closed cleanly, or the file was truncated",
    });
  }
  return {
    records,
    checkpoints,
    verifiedThrough,
    findings,
    tampered: findings.some((f) => TAMPER_KINDS.has(f.kind)),
  };
}
