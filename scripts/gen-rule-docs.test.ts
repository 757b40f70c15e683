import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DOCS_BASE, provenance, ruleCatalog } from "../cli/provenance.ts";
import { headingAnchor, ruleHelpUri, toSarif } from "../cli/sarif.ts";
import { RULES_DOC_PATH, renderRulesDoc } from "./gen-rule-docs.ts";

const ROOT = join(import.meta.dirname, "..");

/** Every heading anchor GitHub generates for a Markdown file (duplicates get -1, -2, ...). */
function anchorsOf(file: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  let fenced = false;
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (line.startsWith("```")) fenced = !fenced;
    const m = !fenced && /^#{1,6}\s+(.*)$/.exec(line);
    if (!m) continue;
    const base = headingAnchor(m[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** A docs URI of this repository → the file it names and its anchor; throws for anything else. */
function resolveDocsUri(uri: string): { file: string; anchor?: string } {
  expect(uri.startsWith(`${DOCS_BASE}/`), uri).toBe(true);
  const [path, anchor] = uri.slice(DOCS_BASE.length + 1).split("#");
  return { file: join(ROOT, "docs", path!), ...(anchor ? { anchor } : {}) };
}

describe("docs/rules.md", () => {
  it("is what npm run rules:docs generates from the catalogs (run it after changing a rule)", () => {
    expect(readFileSync(RULES_DOC_PATH, "utf8")).toBe(renderRulesDoc());
  });

  it("every rule's SARIF helpUri resolves to an existing file and heading anchor", () => {
    const ids = Object.keys(ruleCatalog());
    expect(ids.length).toBeGreaterThan(30);
    for (const id of ids) {
      const { file, anchor } = resolveDocsUri(ruleHelpUri(id));
      expect(existsSync(file), `${id}: ${file}`).toBe(true);
      expect(anchorsOf(file), `${id} → #${anchor}`).toContain(anchor);
    }
  });

  it("every docs link in a SARIF report resolves (driver, catalog, rules)", () => {
    const findings = Object.keys(ruleCatalog()).map((rule, i) => ({
      file: "x.yaml",
      document: i,
      kind: "Pod",
      name: "p",
      namespace: "ns",
      rule,
      path: "spec",
      message: "m",
      fix: "f",
    }));
    const sarif = toSarif(
      { findings, notChecked: [], waived: [], warnings: [], objects: 1, checked: 1 },
      provenance(),
    );
    const driver = sarif.runs[0]!.tool.driver;
    const uris = [
      driver.informationUri,
      driver.properties.ruleCatalog.uri,
      ...driver.rules.map((r) => r.helpUri),
    ];
    for (const uri of uris) {
      const { file, anchor } = resolveDocsUri(uri);
      expect(existsSync(file), uri).toBe(true);
      if (anchor) expect(anchorsOf(file), uri).toContain(anchor);
    }
  });

  it("the section warden check's text output points to exists in docs/ci-usage.md", () => {
    expect(anchorsOf(join(ROOT, "docs", "ci-usage.md"))).toContain("what-warden-check-cannot-see");
  });

  it("headingAnchor follows GitHub: lower case, punctuation dropped, spaces to hyphens", () => {
    expect(headingAnchor("`container.readOnlyRootFilesystem`")).toBe("containerreadonlyrootfilesystem");
    expect(headingAnchor("What `warden check` cannot see")).toBe("what-warden-check-cannot-see");
    expect(headingAnchor("GitLab CI")).toBe("gitlab-ci");
  });
});
