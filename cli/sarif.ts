// SARIF 2.1.0 for `warden check --output sarif` (GitHub code scanning, GitLab, Azure DevOps).
import { ALL_RULES } from "../webhook/rules/catalog.ts";
import type { Finding } from "./commands/check.ts";

export function toSarif(findings: Finding[], version: string) {
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
            fullName: "agent-warden admission check",
            version,
            informationUri: "https://github.com/agent-warden/agent-warden/blob/main/docs/admission.md",
            rules: used.map((id) => ({
              id,
              name: id
                .replace(/[.-](\w)/g, (_, c: string) => c.toUpperCase())
                .replace(/^\w/, (c) => c.toUpperCase()),
              shortDescription: { text: ALL_RULES[id] ?? id },
              helpUri: `https://github.com/agent-warden/agent-warden/blob/main/docs/admission.md#${id.replaceAll(".", "")}`,
              defaultConfiguration: { level: "error" },
            })),
          },
        },
        results: findings.map((f) => ({
          ruleId: f.rule,
          ruleIndex: ruleIndex.get(f.rule),
          level: "error",
          message: { text: `${f.kind}/${f.name} ${f.path}: ${f.message}. Fix: ${f.fix}` },
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
