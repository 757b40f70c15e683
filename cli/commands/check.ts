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
import { bundledCrdObjects } from "../crd/schemas.ts";
import { type CrdError, type CrdVersion, crdVersions, validateCustomResource } from "../crd/validate.ts";
import { type InputDoc, InputError, locate, readInputs } from "../input.ts";
import { limitsFor, type OfflineLimit } from "../offline-limits.ts";
import { provenance } from "../provenance.ts";
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
      --old PATH                 the objects as the cluster stores them now: inputs that match one
                                 (kind, namespace, name) are checked as UPDATEs against it
      --namespace-labels [NS:]K=V[,K=V]
                                 live labels of namespace NS (default: --namespace), e.g.
                                 team-a:warden.dev/enclave=research
      --now RFC3339              evaluate exemptions at this time (default: now)
  -h, --help                     this help

Warden objects (AgentIdentity, AgentEnclave, ToolManifest) are first validated as the API server
validates them: the CRD schema, its CEL rules, strict field validation and object metadata.
What cannot be checked offline is listed at the end of every report (docs/ci-usage.md).

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
  /** What this run could not check offline (see offline-limits.ts). */
  notChecked: OfflineLimit[];
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
  /** Stored objects: an input matching one is an UPDATE of it. */
  old?: InputDoc[];
  /** Live namespace labels, by namespace. */
  namespaceLabels?: Map<string, Record<string, string>>;
}

const WARDEN_GROUP = "warden.dev";

let crdIndex: Map<string, CrdVersion[]> | undefined;
/** The warden CRDs by kind (the very files the cluster installs). */
function wardenCrds(): Map<string, CrdVersion[]> {
  if (!crdIndex) {
    crdIndex = new Map();
    for (const crd of bundledCrdObjects()) {
      const versions = crdVersions(crd);
      if (versions[0]) crdIndex.set(versions[0].kind, versions);
    }
  }
  return crdIndex;
}

function objectKey(o: unknown, defaultNamespace: string): string {
  const m = meta(o);
  const apiVersion = (o as { apiVersion?: unknown })?.apiVersion;
  const group = typeof apiVersion === "string" && apiVersion.includes("/") ? apiVersion.split("/")[0] : "";
  return `${group}/${m.kind}/${m.namespace ?? defaultNamespace}/${m.name}`;
}

/** The API server's own refusals of a warden object, before any webhook; undefined if not ours. */
function crdFindings(obj: unknown, old: unknown): CrdError[] | undefined {
  const apiVersion = (obj as { apiVersion?: unknown })?.apiVersion;
  if (typeof apiVersion !== "string" || !apiVersion.startsWith(`${WARDEN_GROUP}/`)) return undefined;
  const kind = meta(obj).kind;
  const versions = wardenCrds().get(kind);
  if (!versions) {
    return [
      {
        rule: "crd.schema",
        path: "kind",
        type: "FieldValueInvalid",
        message: `no kind "${kind}" is served by ${WARDEN_GROUP} (kinds: ${[...wardenCrds().keys()].join(", ")})`,
      },
    ];
  }
  const version = versions.find((v) => apiVersion === `${v.group}/${v.version}`);
  if (!version) {
    return [
      {
        rule: "crd.schema",
        path: "apiVersion",
        type: "FieldValueInvalid",
        message: `no version "${apiVersion}" of ${kind} is served (served: ${versions.map((v) => `${v.group}/${v.version}`).join(", ")})`,
      },
    ];
  }
  return validateCustomResource(obj, version, old === undefined ? {} : { old });
}

function crdFix(kind: string, e: CrdError): string {
  const explain = `kubectl explain ${kind.toLowerCase()}${e.path && !e.path.startsWith("metadata") ? `.${e.path.replace(/\[\d+\]/g, "")}` : ""}`;
  switch (e.rule) {
    case "crd.unknownField":
      return `remove the field or correct its name (${explain} lists the fields)`;
    case "crd.metadata":
      return "use a lowercase DNS name (a-z, 0-9, '-', '.') and valid label/annotation keys";
    default:
      return `correct the value (${explain})`;
  }
}

/** Namespace objects standing for --namespace-labels. */
function namespaceObjects(labels: Map<string, Record<string, string>> | undefined): unknown[] {
  return [...(labels ?? [])].map(([name, l]) => ({
    apiVersion: "v1",
    kind: "Namespace",
    metadata: { name, labels: l },
  }));
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
    [...namespaceObjects(opts.namespaceLabels), ...[...contextDocs, ...docs].map((d) => d.object)],
    opts.namespace,
  );
  const settings = engineSettings(opts.sidecar);
  const stored = new Map((opts.old ?? []).map((d) => [objectKey(d.object, opts.namespace), d.object]));
  const inputHasNamespace = [...contextDocs, ...docs].some((d) => meta(d.object).kind === "Namespace");
  const result: CheckResult = {
    findings: [],
    notChecked: limitsFor({
      old: opts.old !== undefined,
      namespaceLabels: (opts.namespaceLabels?.size ?? 0) > 0 || inputHasNamespace,
    }),
    waived: [],
    warnings: [],
    objects: docs.length,
    checked: 0,
  };
  for (const d of docs) {
    const m = meta(d.object);
    const namespace = m.namespace ?? opts.namespace;
    const snapshot = source.snapshotSync(namespace);
    const old = stored.get(objectKey(d.object, opts.namespace));
    const base = { file: d.file, document: d.index, kind: m.kind, name: m.name, namespace };
    // The API server validates warden objects against their CRD before any webhook runs: an
    // object it refuses there never reaches the rules below.
    const crdErrors = crdFindings(d.object, old);
    if (crdErrors && crdErrors.length > 0) {
      result.checked++;
      for (const e of crdErrors) {
        const loc = locate(d, e.path);
        result.findings.push({
          ...base,
          rule: e.rule,
          path: e.path,
          message: e.message,
          fix: crdFix(m.kind, e),
          ...(loc ? { line: loc.line, column: loc.column } : {}),
        });
      }
      continue;
    }
    let obj = d.object;
    // Mirror the mutating webhook's selectors: agent and tool-server Pods in enclave namespaces
    // (a tool server's port comes from its ToolManifest when the input has one). It mutates on
    // CREATE only: an UPDATE (--old) is checked as given.
    if (
      opts.mutate &&
      old === undefined &&
      m.kind === "Pod" &&
      (snapshot.enclaveLabel || snapshot.enclaves.length === 1)
    ) {
      obj = injectGateway(obj, opts.sidecar, {
        toolServerPort: (name) => snapshot.toolManifests.get(name)?.spec.server.port,
      }).object;
    }
    const v = evaluateObject(obj, {
      snapshot,
      settings,
      now: opts.now,
      restricted: opts.restricted ?? false,
      ...(old === undefined ? {} : { oldObject: old }),
    });
    if (!v.applies) continue;
    result.checked++;
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
    lines.push(
      `${where}: document ${f.document} ${f.kind}/${f.name}: [${f.rule}] ${f.path || "(object)"}: ${f.message}`,
    );
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
  if (r.notChecked.length > 0) {
    lines.push("not checked offline (docs/ci-usage.md#what-warden-check-cannot-see):");
    for (const l of r.notChecked) lines.push(`  - ${l.short}${l.input ? `: give ${l.input}` : ""}`);
  }
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
    const namespace = values.namespace ?? "default";
    result = checkDocuments(docs, contextDocs, {
      mutate: values.mutate ?? false,
      restricted: values.restricted ?? false,
      namespace,
      sidecar: loadSidecarConfig(values["sidecar-config"]),
      now,
      ...(values.old ? { old: readInputs(values.old, io.readStdin) } : {}),
      namespaceLabels: parseNamespaceLabels(values["namespace-labels"] ?? [], namespace),
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
    io.stdout(`${JSON.stringify(toSarif(result, provenance()), null, 2)}\n`);
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
      old: { type: "string", multiple: true },
      "namespace-labels": { type: "string", multiple: true },
      now: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
}

const LABEL_ARG = /^(?:([a-z0-9]([-a-z0-9]*[a-z0-9])?):)?(.+)$/;

/** `--namespace-labels [NS:]k=v[,k=v]`, repeatable; NS defaults to --namespace. */
export function parseNamespaceLabels(
  args: string[],
  defaultNamespace: string,
): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>();
  for (const arg of args) {
    // "team-a:warden.dev/enclave=x": the part before the first ':' is a namespace only if it has
    // no '=' or '/' (label keys may contain neither ':' nor start a namespace name).
    const colon = arg.indexOf(":");
    const head = colon > 0 ? arg.slice(0, colon) : "";
    const hasNs = head !== "" && !head.includes("=") && !head.includes("/") && LABEL_ARG.test(arg);
    const ns = hasNs ? head : defaultNamespace;
    const body = hasNs ? arg.slice(colon + 1) : arg;
    const labels = out.get(ns) ?? {};
    for (const pair of body.split(",")) {
      const eq = pair.indexOf("=");
      if (eq <= 0) {
        throw new InputError(
          `--namespace-labels ${arg}: "${pair}" is not key=value (example: team-a:warden.dev/enclave=research)`,
        );
      }
      labels[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
    out.set(ns, labels);
  }
  return out;
}
