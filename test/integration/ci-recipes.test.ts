// The CI recipes in docs/ci-usage.md and README.md, run as written: the YAML blocks are read from
// the docs files themselves (not a copy), and every `run:` / `script:` line runs verbatim with
// bash in a fresh "user repository" outside this one, which has the packed @agent-warden/cli in its
// devDependencies and a sample chart. Steps that are actions stand in for what the action does:
// setup-node puts a Node on PATH, setup-helm puts the tested helm on PATH, upload-sarif validates
// the SARIF file against the SARIF 2.1.0 JSON schema.
import { cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { Ajv } from "ajv";
import AjvDraft04 from "ajv-draft-04";
import addFormats from "ajv-formats";
import { beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { helmBinary } from "../helm/helm.ts";
import {
  cleanEnv,
  type NodeRuntime,
  nodeRuntimes,
  type PackedCli,
  packCli,
  ROOT,
  runStep,
} from "../support/cli-package.ts";
import { run } from "../support/process.ts";

const CHART = join(ROOT, "test/fixtures/ci/research-agents");
const SARIF_SCHEMA = JSON.parse(
  readFileSync(join(ROOT, "test/fixtures/sarif/sarif-2.1.0-rtm.5.json"), "utf8"),
) as object;

// biome-ignore lint/suspicious/noExplicitAny: ajv-draft-04's default export is CommonJS
const Draft04 = ((AjvDraft04 as any).default ?? AjvDraft04) as typeof Ajv;
// biome-ignore lint/suspicious/noExplicitAny: ajv-formats' default export is CommonJS
const withFormats = ((addFormats as any).default ?? addFormats) as (a: Ajv) => Ajv;
// unicodeRegExp: false — the schema's language-tag pattern (`…-[a-zA-Z]{2}]?$`) is valid ECMAScript
// only without the `u` flag.
const validateSarif = withFormats(
  new Draft04({ allErrors: true, strict: false, unicodeRegExp: false }),
).compile(SARIF_SCHEMA);

interface Sarif {
  runs: {
    tool: {
      driver: { rules: { id: string; helpUri: string }[]; properties: { ruleCatalog: { version: string } } };
    };
    invocations: {
      toolExecutionNotifications: { descriptor: { id: string } }[];
      properties: { objects: number; checked: number };
    }[];
    results: { ruleId: string }[];
  }[];
}

function sarifFile(file: string): Sarif {
  const sarif = JSON.parse(readFileSync(file, "utf8")) as Sarif;
  const ok = validateSarif(sarif);
  expect(validateSarif.errors ?? [], `${file} against the SARIF 2.1.0 schema`).toEqual([]);
  expect(ok).toBe(true);
  return sarif;
}

/** The first ```yaml block after a heading of a docs file, parsed. */
function yamlBlockAfter(file: string, heading: string): unknown {
  const text = readFileSync(join(ROOT, file), "utf8");
  const at = text.indexOf(`\n${heading}\n`);
  expect(at, `${file} has no "${heading}" section`).toBeGreaterThan(0);
  const block = /```yaml\n([\s\S]*?)```/.exec(text.slice(at));
  expect(block, `${file}: no yaml block after "${heading}"`).not.toBeNull();
  return parseYaml(block![1]!);
}

interface GhStep {
  name?: string;
  shell?: string;
  uses?: string;
  run?: string;
  if?: string;
  with?: Record<string, unknown>;
}

interface StepLog {
  step: string;
  ran: boolean;
  code?: number;
  stdout?: string;
  stderr?: string;
}

/** Runs GitHub Actions steps in order with GitHub's default `bash -e` and its if: semantics. */
async function runGithubSteps(
  steps: GhStep[],
  dir: string,
  rt: NodeRuntime,
  helmDir: string,
): Promise<{ failed: boolean; log: StepLog[]; sarif: Sarif[] }> {
  const env = cleanEnv(rt, [helmDir]);
  let failed = false;
  const log: StepLog[] = [];
  const sarif: Sarif[] = [];
  for (const s of steps) {
    const label = s.name ?? s.run ?? s.uses ?? "?";
    const cond = s.if ?? "success()";
    const runs =
      cond === "always()" || (cond === "failure()" ? failed : cond === "success()" ? !failed : undefined);
    if (runs === undefined) throw new Error(`step ${label}: the test does not model if: ${cond}`);
    if (!runs) {
      log.push({ step: label, ran: false });
      continue;
    }
    if (s.run !== undefined) {
      // GitHub's shells on Linux: the default is `bash -e {0}`; `shell: bash` adds pipefail.
      if (s.shell !== undefined && s.shell !== "bash") throw new Error(`step ${label}: shell ${s.shell}`);
      const r = await runStep(s.shell === "bash" ? `set -o pipefail\n${s.run}` : s.run, dir, env);
      log.push({ step: label, ran: true, code: r.code, stdout: r.stdout, stderr: r.stderr });
      if (r.code !== 0) failed = true;
      continue;
    }
    const action = s.uses?.split("@")[0];
    switch (action) {
      case "actions/checkout":
        break; // the user repository is the working directory
      case "actions/setup-node":
        expect(["20", "22", "24"]).toContain(String(s.with?.["node-version"]));
        break; // rt's node is first on PATH
      case "azure/setup-helm":
        break; // helmDir is on PATH
      case "github/codeql-action/upload-sarif": {
        const file = join(dir, String(s.with?.sarif_file));
        expect(existsSync(file), `${file} to upload`).toBe(true);
        sarif.push(sarifFile(file));
        break;
      }
      default:
        throw new Error(`step ${label}: the test does not model action ${s.uses}`);
    }
    log.push({ step: label, ran: true, code: 0 });
  }
  return { failed, log, sarif };
}

/** A repository of a CLI user: the packed CLI as devDependency (locked), the sample chart. */
async function userRepo(packed: PackedCli, rt: NodeRuntime, values: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), "warden-ci-user-"));
  for (const at of ["charts/research-agents", "deploy/chart"]) {
    cpSync(CHART, join(dir, at), { recursive: true });
    let v = readFileSync(join(CHART, "values.yaml"), "utf8");
    for (const [k, val] of Object.entries(values)) v = v.replace(new RegExp(`(${k}: ).*`), `$1${val}`);
    writeFileSync(join(dir, at, "values.yaml"), v);
  }
  writeFileSync(
    join(dir, "package.json"),
    `${JSON.stringify({ name: "agents-repo", private: true, devDependencies: { "@agent-warden/cli": `file:${packed.tarball}` } }, null, 2)}\n`,
  );
  const lock = await run("npm", ["install", "--package-lock-only", "--offline", "--no-audit", "--no-fund"], {
    cwd: dir,
    env: cleanEnv(rt),
    timeoutMs: 300_000,
  });
  expect(lock.code, lock.stderr).toBe(0);
  return dir;
}

// npm, helm and Node start-up on a busy two-core machine: wait as long as it takes (no speed assumed).
const SLOW = 900_000;

describe("CI recipes, run verbatim from the docs", { timeout: SLOW }, () => {
  let packed: PackedCli;
  let runtimes: NodeRuntime[];
  let helmDir: string;

  beforeAll(async () => {
    packed = await packCli();
    runtimes = nodeRuntimes();
    helmDir = dirname(await helmBinary(3));
  }, SLOW);

  const github = () =>
    (yamlBlockAfter("docs/ci-usage.md", "## GitHub Actions") as { jobs: Record<string, { steps: GhStep[] }> })
      .jobs["warden-check"]!.steps;

  it("the GitHub Actions recipe uses `helm template … | warden check --mutate --output sarif -`", () => {
    const runs = github()
      .map((s) => s.run ?? "")
      .join("\n");
    expect(runs).toMatch(
      /helm template [^\n]*\\\n\s*\| npx warden check [^\n]*--mutate --output sarif - > warden\.sarif/,
    );
  });

  for (const label of ["machine", "project"]) {
    it(`GitHub Actions recipe on the ${label} Node: a compliant chart passes, every step as written`, async () => {
      const rt = runtimes.find((r) => r.label === label)!;
      const dir = await userRepo(packed, rt);
      const r = await runGithubSteps(github(), dir, rt, helmDir);
      expect(r.failed, JSON.stringify(r.log, null, 2)).toBe(false);
      expect(r.sarif).toHaveLength(1);
      expect(r.sarif[0]!.runs[0]!.results).toEqual([]);
      // Not vacuous: the chart rendered and its four objects were checked.
      expect(r.sarif[0]!.runs[0]!.invocations[0]!.properties).toEqual({ objects: 4, checked: 4 });
      expect(r.log.find((s) => s.step === "Findings as text in the log")?.ran).toBe(false);
    });

    it(`GitHub Actions recipe on the ${label} Node: findings fail the job, are uploaded as SARIF and printed`, async () => {
      const rt = runtimes.find((r) => r.label === label)!;
      const dir = await userRepo(packed, rt, { readOnlyRootFilesystem: "false", svidTTL: "1m" });
      const r = await runGithubSteps(github(), dir, rt, helmDir);
      expect(r.failed).toBe(true);
      const check = r.log.find((s) => s.step === "Render and check the chart")!;
      expect(check.code).toBe(1);
      const sarif = r.sarif[0]!.runs[0]!;
      expect(sarif.results.map((x) => x.ruleId).sort()).toEqual([
        "container.readOnlyRootFilesystem",
        "crd.rule",
      ]);
      expect(sarif.tool.driver.rules.map((x) => x.helpUri)).toEqual([
        expect.stringMatching(/\/docs\/rules\.md#containerreadonlyrootfilesystem$/),
        expect.stringMatching(/\/docs\/rules\.md#crdrule$/),
      ]);
      expect(sarif.invocations[0]!.toolExecutionNotifications.map((n) => n.descriptor.id)).toContain(
        "offline.update",
      );
      const text = r.log.find((s) => s.step === "Findings as text in the log")!;
      expect(text.ran).toBe(true);
      expect(text.stdout).toContain("[container.readOnlyRootFilesystem]");
      expect(text.stdout).toContain(
        '[crd.rule] spec.svid.ttl: Invalid value: "1m": svid.ttl must be between 5m and 24h',
      );
    });
  }

  it("GitLab CI recipe: both jobs' scripts, verbatim, in stage order", async () => {
    const rt = runtimes.find((r) => r.label === "machine")!;
    const doc = yamlBlockAfter("docs/ci-usage.md", "## GitLab CI") as Record<string, unknown> & {
      stages: string[];
    };
    const jobs = Object.entries(doc)
      .filter(([, j]) => typeof j === "object" && j !== null && "script" in j)
      .map(([name, j]) => ({ name, ...(j as { stage: string; image: string; script: string[] }) }))
      .sort((a, b) => doc.stages.indexOf(a.stage) - doc.stages.indexOf(b.stage));
    expect(jobs.map((j) => j.name)).toEqual(["render-chart", "warden-check"]);
    expect(jobs[1]!.image).toMatch(/^node:(20|22|24)$/);
    for (const [values, wantOk] of [
      [{}, true],
      [{ readOnlyRootFilesystem: "false" }, false],
    ] as const) {
      const dir = await userRepo(packed, rt, values);
      const results: number[] = [];
      for (const job of jobs) {
        // GitLab runs a job's script lines in one shell that stops at the first failing line.
        const r = await runStep(`set -eo pipefail\n${job.script.join("\n")}`, dir, cleanEnv(rt, [helmDir]));
        results.push(r.code);
        if (job.name === "warden-check" && !wantOk)
          expect(r.stdout).toContain("[container.readOnlyRootFilesystem]");
      }
      expect(results).toEqual(wantOk ? [0, 0] : [0, 1]);
      const sarif = sarifFile(join(dir, "gl-warden.sarif"));
      expect(sarif.runs[0]!.results.length > 0).toBe(!wantOk);
      expect(sarif.runs[0]!.invocations[0]!.properties).toEqual({ objects: 4, checked: 4 });
    }
  });

  it("README's GitHub Actions steps work verbatim in a clean repository", async () => {
    const rt = runtimes.find((r) => r.label === "machine")!;
    const steps = yamlBlockAfter("README.md", "## The admission rules in CI") as GhStep[];
    expect(
      steps.some((s) =>
        /helm template .*\| npx warden check --mutate --output sarif - > warden\.sarif/.test(s.run ?? ""),
      ),
    ).toBe(true);
    const ok = await runGithubSteps(steps, await userRepo(packed, rt), rt, helmDir);
    expect(ok.failed, JSON.stringify(ok.log, null, 2)).toBe(false);
    expect(ok.sarif[0]!.runs[0]!.results).toEqual([]);
    expect(ok.sarif[0]!.runs[0]!.invocations[0]!.properties).toEqual({ objects: 4, checked: 4 });
    const bad = await runGithubSteps(
      steps,
      await userRepo(packed, rt, { readOnlyRootFilesystem: "false" }),
      rt,
      helmDir,
    );
    expect(bad.failed).toBe(true);
    expect(bad.sarif[0]!.runs[0]!.results.map((x) => x.ruleId)).toEqual(["container.readOnlyRootFilesystem"]);
  });
});
