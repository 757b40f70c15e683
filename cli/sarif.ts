// SARIF 2.1.0 for `warden check --output sarif` (GitHub code scanning, GitLab, Azure DevOps).
// The driver names the rule catalog (its version is a digest of every rule, see provenance.ts) and
// each rule's helpUri points at its section in docs/rules.md; what the CLI could not check offline
// is reported as tool execution notifications, so a reader of the SARIF alone sees the limits.
import type { CheckResult } from "./commands/check.ts";
import type { OfflineLimit } from "./offline-limits.ts";
import { DOCS_BASE, type Provenance, ruleCatalog } from "./provenance.ts";

export const RULES_DOC = "docs/rules.md";

/** The anchor GitHub gives a Markdown heading: lower case, punctuation dropped, spaces to '-'. */
export function headingAnchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
}

/** The heading docs/rules.md gives a rule (scripts/gen-rule-docs.ts writes it). */
export function ruleHeading(id: string): string {
  return `\`${id}\``;
}

export function ruleHelpUri(id: string): string {
  return `${DOCS_BASE}/rules.md#${headingAnchor(ruleHeading(id))}`;
}

function ruleName(id: string): string {
  return id.replace(/[.-](\w)/g, (_, c: string) => c.toUpperCase()).replace(/^\w/, (c) => c.toUpperCase());
}

export function toSarif(result: CheckResult & { notChecked?: OfflineLimit[] }, p: Provenance) {
  const catalog = ruleCatalog();
  const findings = result.findings;
  const used = [...new Set(findings.map((f) => f.rule))].sort();
  const ruleIndex = new Map(used.map((r, i) => [r, i]));
  return {
    $schema: "https://json.schemastore.org/sarif-2.1.0.json",
    version: "2.1.0",
    runs: [
      {
        tool: {
          driver: {
            name: "warden",
            fullName: `agent-warden admission check, rule catalog ${p.catalogVersion}`,
            version: p.packageVersion,
            semanticVersion: p.packageVersion,
            informationUri: `${DOCS_BASE}/ci-usage.md`,
            rules: used.map((id) => ({
              id,
              name: ruleName(id),
              shortDescription: { text: catalog[id] ?? id },
              helpUri: ruleHelpUri(id),
              defaultConfiguration: { level: "error" },
            })),
            properties: {
              ruleCatalog: {
                name: "agent-warden rules",
                version: p.catalogVersion,
                rules: p.ruleCount,
                uri: `${DOCS_BASE}/rules.md`,
              },
              commit: p.commit,
            },
          },
        },
        invocations: [
          {
            executionSuccessful: true,
            properties: { objects: result.objects, checked: result.checked },
            toolExecutionNotifications: (result.notChecked ?? []).map((l) => ({
              level: "note",
              descriptor: { id: l.id },
              message: { text: `not checked offline: ${l.what}${l.input ? ` (give ${l.input})` : ""}` },
            })),
          },
        ],
        results: findings.map((f) => ({
          ruleId: f.rule,
          ruleIndex: ruleIndex.get(f.rule),
          level: "error",
          message: { text: `${f.kind}/${f.name} ${f.path || "(object)"}: ${f.message}. Fix: ${f.fix}` },
          locations: [
            {
              physicalLocation: {
                artifactLocation: { uri: f.file === "-" ? "stdin" : f.file.replaceAll("\\", "/") },
                ...(f.line ? { region: { startLine: f.line, startColumn: f.column ?? 1 } } : {}),
              },
              logicalLocations: [
                { fullyQualifiedName: `${f.kind}/${f.namespace}/${f.name}#${f.path}`, kind: "member" },
              ],
            },
          ],
          partialFingerprints: { wardenFinding: `${f.kind}/${f.namespace}/${f.name}/${f.rule}/${f.path}` },
        })),
      },
    ],
  };
}
