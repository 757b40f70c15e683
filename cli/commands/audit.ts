// `warden audit verify <file> [--bundle <pem>] [--allow-open] [--json]`: checks an audit JSONL file
// for edits, deletions, reordering and truncation, and checks checkpoint signatures (against a
// trust bundle when given). Exit 0 intact, 1 tampered (or unsealed without --allow-open), 2 unreadable.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { verifyAuditText } from "../../gateway/audit/verify.ts";

const USAGE = `usage: warden audit verify <file> [--bundle <trust-bundle.pem>] [--allow-open] [--json]

  --bundle      PEM trust bundle; checkpoint signers must chain to it
  --allow-open  a file still being written (no final checkpoint) is not a failure
  --json        print the report as JSON
exit codes: 0 intact, 1 tampered or unsealed, 2 unreadable or usage error
`;

export async function auditCommand(
  argv: string[],
  out: { write(s: string): unknown } = process.stdout,
  err: { write(s: string): unknown } = process.stderr,
): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== "verify") {
    err.write(sub ? `warden audit: unknown subcommand '${sub}'\n${USAGE}` : USAGE);
    return 2;
  }
  let parsed: ReturnType<typeof parse>;
  const parse = (a: string[]) =>
    parseArgs({
      args: a,
      allowPositionals: true,
      options: { bundle: { type: "string" }, "allow-open": { type: "boolean" }, json: { type: "boolean" } },
    });
  try {
    parsed = parse(rest);
  } catch (e) {
    err.write(`warden audit verify: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const file = parsed.positionals[0];
  if (!file || parsed.positionals.length > 1) {
    err.write(USAGE);
    return 2;
  }
  let text: string;
  let bundlePem: string | undefined;
  try {
    text = readFileSync(file, "utf8");
    if (parsed.values.bundle) bundlePem = readFileSync(parsed.values.bundle, "utf8");
  } catch (e) {
    err.write(`warden audit verify: cannot read input: ${(e as Error).message}\n`);
    return 2;
  }
  const report = verifyAuditText(text, bundlePem ? { bundlePem } : {});
  const allowOpen = parsed.values["allow-open"] === true;
  const unsealed = report.findings.some((f) => f.kind === "MissingFinalCheckpoint" || f.kind === "Empty");
  const code = report.tampered ? 1 : unsealed && !allowOpen ? 1 : 0;
  if (parsed.values.json) {
    out.write(`${JSON.stringify({ file, ok: code === 0, ...report }, null, 2)}\n`);
  } else {
    for (const f of report.findings)
      out.write(`${f.line ? `line ${f.line}: ` : ""}${f.kind}: ${f.message}\n`);
    const verdict = report.tampered ? "TAMPERED" : code === 0 ? "OK" : "UNSEALED";
    out.write(
      `${verdict}: ${count(report.records, "record")}, ${count(report.checkpoints, "checkpoint")}, signed through record ${report.verifiedThrough}` +
        `${bundlePem ? "" : " (signers not checked against a trust bundle: pass --bundle)"}\n`,
    );
  }
  return code;
}

/** "1 record", "2 records". */
function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}
