// `warden check <files|dirs|->`: the webhook's admission rules, offline, for CI. Context objects
// (Namespace, AgentEnclave, AgentIdentity, ToolManifest) found in the input (or --context) stand in
// for what the webhook reads from the API. Exit 0 clean, 1 findings, 2 usage or unreadable input.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { parse as parseYaml } from "yaml";
import { StaticContextSource } from "../../webhook/context.ts";
import { engineSettings, evaluateObject } from "../../webhook/evaluate.ts";
import { injectGateway } from "../../webhook/inject.ts";
import {
  DEFAULT_SIDECAR_CONFIG,
  type SidecarConfig,
  sidecarConfig,
  sidecarConfigFromEnv,
} from "../../webhook/sidecar-config.ts";
import { type InputDoc, InputError, locate, readInputs } from "../input.ts";
import { toSarif } from "../sarif.ts";

export const CHECK_USAGE = `usage: warden check [options] <file|dir|->...

Checks Kubernetes manifests against agent-warden's admission rules (the same rules the webhook runs).

options:
  -o, --output text|json|sarif   output format (default text)
      --mutate                   inject the gateway sidecar first, as the mutating webhook does
      --restricted               also apply the pod hardening rules to every other pod and pod
                                 template (ordinary workloads, e.g. a Helm chart's output)
  -n, --namespace NAME           namespace of objects that name none (default "default")
  -c, --context PATH             extra manifests used only as context (AgentIdentity, AgentEnclave, ...)
      --sidecar-config FILE      gateway sidecar settings (image, issuerURL, ...) as YAML/JSON
      --now RFC3339              evaluate exemptions at this time (default: now)
  -h, --help                     this help

exit codes: 0 no findings, 1 findings, 2 usage error or unreadable input
`;

export interface Finding {
  file: string;
  document: number;
  kind: string;
  name: string;
  namespace: string;
  rule: string;
  path: string;
  message: string;
  fix: string;
  line?: number;
  column?: number;
}

export interface CheckResult {
  findings: Finding[];
  waived: (Omit<Finding, "line" | "column"> & { exemption: string; expiresAt: string })[];
  warnings: { file: string; document: number; kind: string; name: string; message: string }[];
  objects: number;
  checked: number;
}

export interface CheckOptions {
  mutate: boolean;
  /** Hardening rules for every pod and pod template, agent or not. */
  restricted?: boolean;
  namespace: string;
  sidecar: SidecarConfig;
  now: Date;
}

function meta(o: unknown) {
  const m =
    (o as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown; generateName?: unknown } }) ??
    {};
  return {
    kind: typeof m.kind === "string" ? m.kind : "?",
    name:
      typeof m.metadata?.name === "string"
        ? m.metadata.name
        : typeof m.metadata?.generateName === "string"
          ? m.metadata.generateName
          : "",
    namespace: typeof m.metadata?.namespace === "string" ? m.metadata.namespace : undefined,
  };
}

/** The pure core: documents in, findings out. */
export function checkDocuments(docs: InputDoc[], contextDocs: InputDoc[], opts: CheckOptions): CheckResult {
  const source = new StaticContextSource(
    [...contextDocs, ...docs].map((d) => d.object),
    opts.namespace,
  );
  const settings = engineSettings(opts.sidecar);
  const result: CheckResult = { findings: [], waived: [], warnings: [], objects: docs.length, checked: 0 };
  for (const d of docs) {
    const m = meta(d.object);
    const namespace = m.namespace ?? opts.namespace;
    const snapshot = source.snapshotSync(namespace);
    let obj = d.object;
    // Mirror the mutating webhook's selectors: agent and tool-server Pods in enclave namespaces
    // (a tool server's port comes from its ToolManifest when the input has one).
    if (opts.mutate && m.kind === "Pod" && (snapshot.enclaveLabel || snapshot.enclaves.length === 1)) {
      obj = injectGateway(obj, opts.sidecar, {
        toolServerPort: (name) => snapshot.toolManifests.get(name)?.spec.server.port,
      }).object;
    }
    const v = evaluateObject(obj, {
      snapshot,
      settings,
      now: opts.now,
      restricted: opts.restricted ?? false,
    });
    if (!v.applies) continue;
    result.checked++;
    const base = { file: d.file, document: d.index, kind: m.kind, name: m.name, namespace };
    for (const f of v.violations) {
      // After --mutate the paths of the injected pod still point into the user's document for
      // everything the user wrote except initContainers, shifted by the inserted sidecar.
      const loc = locate(d, obj === d.object ? f.path : unshiftInit(f.path));
      result.findings.push({ ...base, ...f, ...(loc ? { line: loc.line, column: loc.column } : {}) });
    }
    for (const w of v.waived) {
      result.waived.push({
        ...base,
        ...w.violation,
        exemption: w.exemption,
        expiresAt: w.expiresAt.toISOString(),
      });
    }
    for (const message of v.warnings)
      result.warnings.push({ file: d.file, document: d.index, kind: m.kind, name: m.name, message });
  }
  return result;
}

/** spec.initContainers[n] -> [n-1] (the injected sidecar sits at 0), for locating lines only. */
function unshiftInit(path: string): string {
  return path.replace(/^spec\.initContainers\[(\d+)\]/, (_all, n: string) =>
    n === "0" ? "spec" : `spec.initContainers[${Number(n) - 1}]`,
  );
}

export function formatText(r: CheckResult): string {
  const lines: string[] = [];
  for (const f of r.findings) {
    const where = `${f.file}${f.line ? `:${f.line}:${f.column ?? 1}` : ""}`;
    lines.push(`${where}: document ${f.document} ${f.kind}/${f.name}: [${f.rule}] ${f.path}: ${f.message}`);
    lines.push(`    fix: ${f.fix}`);
  }
  for (const w of r.waived) {
    lines.push(
      `${w.file}: document ${w.document} ${w.kind}/${w.name}: waived [${w.rule}] ${w.path} by exemption ${w.exemption} until ${w.expiresAt}`,
    );
  }
  for (const w of r.warnings)
    lines.push(`${w.file}: document ${w.document} ${w.kind}/${w.name}: warning: ${w.message}`);
  lines.push(
    `${r.findings.length} finding(s) in ${r.checked} checked object(s) of ${r.objects}${r.waived.length ? `, ${r.waived.length} waived` : ""}`,
  );
  return `${lines.join("\n")}\n`;
}

function loadSidecarConfig(file: string | undefined): SidecarConfig {
  if (!file) return sidecarConfigFromEnv(process.env);
  const raw = parseYaml(readFileSync(file, "utf8")) as Partial<SidecarConfig>;
  const merged = sidecarConfig.safeParse({ ...DEFAULT_SIDECAR_CONFIG, ...raw });
  if (!merged.success) {
    throw new InputError(
      `${file}: ${merged.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
    );
  }
  return sidecarConfigFromEnv(process.env, merged.data);
}

export interface CheckIO {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  readStdin: () => string;
}

const defaultIO: CheckIO = {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  readStdin: () => readFileSync(0, "utf8"),
};

export async function run(argv: string[], io: CheckIO = defaultIO): Promise<number> {
  let parsed: ReturnType<typeof parseCheckArgs>;
  try {
    parsed = parseCheckArgs(argv);
  } catch (err) {
    io.stderr(`warden check: ${(err as Error).message}\n${CHECK_USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.stdout(CHECK_USAGE);
    return 0;
  }
  const output = values.output ?? "text";
  if (!["text", "json", "sarif"].includes(output)) {
    io.stderr(`warden check: --output must be text, json or sarif, not "${output}"\n`);
    return 2;
  }
  if (positionals.length === 0) {
    io.stderr(`warden check: no input: give files, directories or - for stdin\n${CHECK_USAGE}`);
    return 2;
  }
  const now = values.now ? new Date(values.now) : new Date();
  if (Number.isNaN(now.getTime())) {
    io.stderr(`warden check: --now must be an RFC 3339 time such as 2026-01-31T12:00:00Z\n`);
    return 2;
  }
  let result: CheckResult;
  try {
    const docs = readInputs(positionals, io.readStdin);
    const contextDocs = readInputs(values.context ?? [], io.readStdin);
    result = checkDocuments(docs, contextDocs, {
      mutate: values.mutate ?? false,
      restricted: values.restricted ?? false,
      namespace: values.namespace ?? "default",
      sidecar: loadSidecarConfig(values["sidecar-config"]),
      now,
    });
  } catch (err) {
    if (
      err instanceof InputError ||
      (err as NodeJS.ErrnoException).code === "ENOENT" ||
      (err as Error).name === "ZodError"
    ) {
      io.stderr(`warden check: ${(err as Error).message}\n`);
      return 2;
    }
    throw err;
  }
  if (output === "json") io.stdout(`${JSON.stringify(result, null, 2)}\n`);
  else if (output === "sarif") {
    const { versionText } = await import("../warden.ts");
    const version = versionText().split(" ")[1] ?? "0.0.0";
    io.stdout(`${JSON.stringify(toSarif(result.findings, version), null, 2)}\n`);
  } else io.stdout(formatText(result));
  return result.findings.length > 0 ? 1 : 0;
}

function parseCheckArgs(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      output: { type: "string", short: "o" },
      mutate: { type: "boolean" },
      restricted: { type: "boolean" },
      namespace: { type: "string", short: "n" },
      context: { type: "string", short: "c", multiple: true },
      "sidecar-config": { type: "string" },
      now: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
}
