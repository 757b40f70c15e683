// What the chart derives from elsewhere stays in sync (values.schema.json from zod, crds/ from the
// generated CRDs, RBAC from manifests/rbac), and the committed install manifest (the chart rendered
// with default values; its sync with the chart is checked by test/integration/helm.test.ts, which has
// helm) configures each component with an environment that component accepts.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseAllDocuments, parse as parseYaml } from "yaml";
import { DEFAULTS, FLAGS, loadConfig } from "../operator/config.ts";
import { ADMISSION_ENV, admissionSettings } from "../operator/wiring.ts";
import { webhookEnv } from "../webhook/main.ts";
import { DEFAULT_SIDECAR_CONFIG, sidecarConfigFromEnv } from "../webhook/sidecar-config.ts";
import { chartValuesSchema } from "./chart-values.ts";
import {
  CHART_DIR,
  chartCrdFiles,
  drifted,
  INSTALL_NAMESPACE,
  INSTALL_YAML,
  ROOT,
  staleChartCrds,
  valuesSchemaFile,
} from "./gen-chart.ts";

type Obj = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [k: string]: unknown;
};

function docs(path: string): Obj[] {
  return parseAllDocuments(readFileSync(path, "utf8"))
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => o !== null);
}

const install = docs(INSTALL_YAML);
const find = (kind: string, name: string) => {
  const o = install.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`manifests/install.yaml has no ${kind} ${name}`);
  return o;
};

type Container = { name: string; env?: { name: string; value?: string; valueFrom?: unknown }[] };
function container(deployment: string): Container {
  const d = find("Deployment", deployment) as unknown as {
    spec: { template: { spec: { containers: Container[] } } };
  };
  return d.spec.template.spec.containers[0]!;
}

/** A container's environment as the process would see it (fieldRefs resolved to pod values). */
function envOf(c: Container): Record<string, string> {
  const fieldRefs: Record<string, string> = {
    "metadata.namespace": INSTALL_NAMESPACE,
    "metadata.name": "pod-0",
  };
  return Object.fromEntries(
    (c.env ?? []).map((e) => {
      const ref = (e.valueFrom as { fieldRef?: { fieldPath: string } } | undefined)?.fieldRef?.fieldPath;
      return [e.name, e.value ?? (ref ? fieldRefs[ref] : undefined) ?? ""];
    }),
  );
}

describe("generated chart files", () => {
  it("values.schema.json matches the zod schema in scripts/chart-values.ts", () => {
    expect(drifted([valuesSchemaFile()]), "run `node scripts/gen-chart.ts`").toEqual([]);
  });

  it("charts/agent-warden/crds is a copy of crds/", () => {
    expect(chartCrdFiles().length).toBeGreaterThanOrEqual(3);
    expect(drifted(chartCrdFiles()), "run `node scripts/gen-chart.ts`").toEqual([]);
    expect(staleChartCrds()).toEqual([]);
  });
});

describe("values.yaml", () => {
  const values = parseYaml(readFileSync(join(CHART_DIR, "values.yaml"), "utf8")) as unknown;

  it("is valid against the schema, with the documented defaults", () => {
    const v = chartValuesSchema.parse(values);
    expect(v.svid).toEqual({ maxTTL: "24h", renewAt: 0.5 });
    expect(v.webhook.failurePolicy).toBe("Fail");
    expect(v.webhook.mutatingFailurePolicy).toBe("Ignore");
    expect(v.webhook.replicas).toBeGreaterThanOrEqual(2);
    expect(v.operator.replicas).toBe(2);
    expect(v.metrics.serviceMonitor.enabled).toBe(false);
    expect(v.webhook.excludedNamespaces).toContain("kube-system");
  });

  it.each([
    ["svid.maxTTL", { svid: { maxTTL: "fifteen", renewAt: 0.5 } }],
    ["svid.maxTTL", { svid: { maxTTL: "48h", renewAt: 0.5 } }],
    ["svid.maxTTL", { svid: { maxTTL: "4m", renewAt: 0.5 } }],
    ["svid.renewAt", { svid: { maxTTL: "24h", renewAt: 1.5 } }],
    // svid.ttl is gone: the CRD defaults spec.svid.ttl, so a chart-wide default could change nothing.
    ["svid", { svid: { ttl: "15m" } }],
    ["webhook.replicas", { webhook: { replicas: 1 } }],
    ["webhook.failurePolicy", { webhook: { failurePolicy: "Maybe" } }],
    ["gateway.resources.requests.cpu", { gateway: { resources: { requests: { cpu: "0.1" } } } }],
    ["", { replicaCount: 3 }],
  ])("refuses a bad %s", (path, patch) => {
    const merged = deepMerge(structuredClone(values), patch);
    const r = chartValuesSchema.safeParse(merged);
    expect(r.success).toBe(false);
    const paths = r.error!.issues.map((i) => i.path.join("."));
    expect(paths).toContain(path);
  });
});

describe("manifests/install.yaml (default values)", () => {
  it("creates its namespace under the restricted Pod Security Standard", () => {
    const ns = find("Namespace", INSTALL_NAMESPACE);
    expect(ns.metadata.labels?.["pod-security.kubernetes.io/enforce"]).toBe("restricted");
  });

  it("carries the CRDs exactly as generated", () => {
    const crds = install.filter((o) => o.kind === "CustomResourceDefinition");
    const want = docs(join(ROOT, "crds", "agentidentities.warden.dev.yaml"))[0]!;
    expect(crds).toHaveLength(3);
    expect(crds.find((c) => c.metadata.name === want.metadata.name)).toEqual(want);
  });

  it("grants the operator exactly the RBAC of manifests/rbac/operator-rbac.yaml", () => {
    const rbac = docs(join(ROOT, "manifests", "rbac", "operator-rbac.yaml"));
    for (const kind of ["ClusterRole", "Role"]) {
      for (const want of rbac.filter((o) => o.kind === kind)) {
        expect(find(kind, want.metadata.name).rules, `${kind} ${want.metadata.name}`).toEqual(want.rules);
      }
    }
    for (const kind of ["ClusterRoleBinding", "RoleBinding"]) {
      for (const want of rbac.filter((o) => o.kind === kind)) {
        const got = find(kind, want.metadata.name);
        expect(got.roleRef).toEqual(want.roleRef);
        expect(got.subjects).toEqual(want.subjects);
      }
    }
    // The operator runs with the enclave ClusterRole the chart creates.
    expect(envOf(container("agent-warden-operator")).WARDEN_ENCLAVE_CLUSTER_ROLE).toBe(
      "agent-warden-enclave",
    );
  });

  it("grants the webhook exactly the RBAC of manifests/rbac/webhook-rbac.yaml", () => {
    const rbac = docs(join(ROOT, "manifests", "rbac", "webhook-rbac.yaml"));
    expect(rbac.map((o) => o.kind).sort()).toEqual(["ClusterRole", "ClusterRoleBinding", "ServiceAccount"]);
    // The chart has no more webhook RBAC than the file: nothing extra to miss outside Helm.
    const chartRbac = install.filter(
      (o) =>
        ["ClusterRole", "Role", "ClusterRoleBinding", "RoleBinding", "ServiceAccount"].includes(o.kind) &&
        o.metadata.labels?.["app.kubernetes.io/component"] === "webhook",
    );
    expect(chartRbac.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual(
      rbac.map((o) => `${o.kind}/${o.metadata.name}`).sort(),
    );
    for (const want of rbac) {
      const got = find(want.kind, want.metadata.name);
      if (want.kind === "ClusterRole")
        expect(got.rules, `ClusterRole ${want.metadata.name}`).toEqual(want.rules);
      if (want.kind === "ClusterRoleBinding") {
        expect(got.roleRef).toEqual(want.roleRef);
        expect(got.subjects).toEqual(want.subjects);
      }
      if (want.kind === "ServiceAccount") {
        expect(got.metadata.namespace).toBe(want.metadata.namespace);
        expect(got.automountServiceAccountToken).toBe(want.automountServiceAccountToken);
      }
    }
    // The webhook Deployment runs as that ServiceAccount, and its configurations carry the names
    // the ClusterRole may update.
    const deploy = find("Deployment", "agent-warden-webhook") as unknown as {
      spec: { template: { spec: { serviceAccountName?: string } } };
    };
    expect(deploy.spec.template.spec.serviceAccountName).toBe("agent-warden-webhook");
    const rules = rbac.find((o) => o.kind === "ClusterRole")!.rules as {
      resources: string[];
      resourceNames?: string[];
    }[];
    for (const kind of ["ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"]) {
      const name = install.find((o) => o.kind === kind)!.metadata.name;
      const rule = rules.find((r) => r.resources[0] === `${kind.toLowerCase()}s`);
      expect(rule?.resourceNames).toEqual([name]);
    }
  });

  it("configures the operator with an environment operator/config.ts accepts", () => {
    const env = envOf(container("agent-warden-operator"));
    const c = loadConfig([], env);
    expect(c.namespace).toBe(INSTALL_NAMESPACE);
    expect(c["service-account"]).toBe("agent-warden-operator");
    expect(c["leader-elect"]).toBe(true);
    expect(c["probe-host"]).toBe("0.0.0.0");
    expect(c["issuer-port"]).toBe(8443);
    // The issuer's serving certificate names the Service the sidecars dial (WARDEN_ISSUER_URL).
    expect(c["issuer-dns-names"]).toEqual([
      "agent-warden-issuer",
      `agent-warden-issuer.${INSTALL_NAMESPACE}.svc`,
      `agent-warden-issuer.${INSTALL_NAMESPACE}.svc.cluster.local`,
    ]);
    const issuerURL = new URL(envOf(container("agent-warden-webhook")).WARDEN_ISSUER_URL!);
    expect(c["issuer-dns-names"]).toContain(issuerURL.hostname);
    expect(c["svid-max-ttl"]).toBe("24h");
    expect(c["svid-renew-at"]).toBe(0.5);
    // The issuer re-checks pods against the very sidecar the webhook injects.
    const webhookEnv = envOf(container("agent-warden-webhook"));
    expect(admissionSettings(env).expectedTemplateHashes).toEqual(
      admissionSettings(webhookEnv).expectedTemplateHashes,
    );
    expect(admissionSettings(env).gatewayImage).toBe(webhookEnv.WARDEN_GATEWAY_IMAGE);
    // The enclave NetworkPolicies name the issuer by exactly the pods the issuer Service selects,
    // on the port it targets, and cluster DNS as the chart's own policies do.
    const issuerSvc = find("Service", "agent-warden-issuer") as unknown as {
      spec: { selector: Record<string, string>; ports: { targetPort: string }[] };
    };
    expect(c["issuer-pod-labels"]).toEqual(issuerSvc.spec.selector);
    const op = find("Deployment", "agent-warden-operator") as unknown as {
      spec: {
        selector: { matchLabels: Record<string, string> };
        template: { spec: { containers: { ports: { name: string; containerPort: number }[] }[] } };
      };
    };
    expect(c["issuer-pod-labels"]).toEqual(op.spec.selector.matchLabels);
    const issuerPort = op.spec.template.spec.containers[0]!.ports.find((p) => p.name === "issuer");
    expect(issuerSvc.spec.ports[0]!.targetPort).toBe("issuer");
    expect(c["issuer-port"]).toBe(issuerPort?.containerPort);
    expect(c["dns-namespace"]).toBe("kube-system");
    expect(c["dns-pod-labels"]).toEqual({ "k8s-app": "kube-dns" });
    // The chart's API rate limit is the operator's own default, not a second opinion.
    expect(c["kube-api-qps"]).toBe(Number(DEFAULTS["kube-api-qps"]));
    expect(c["kube-api-burst"]).toBe(Number(DEFAULTS["kube-api-burst"]));
    // Every variable the chart sets is one the operator reads: none is set for nothing.
    const known = new Set<string>([...Object.values(FLAGS), ...ADMISSION_ENV]);
    const unread = Object.keys(env).filter((k) => k.startsWith("WARDEN_") && !known.has(k));
    expect(unread).toEqual([]);
  });

  it("configures the webhook and its gateway sidecar with what webhook/ accepts", () => {
    const env = envOf(container("agent-warden-webhook"));
    const w = webhookEnv.parse(env);
    expect(w.WARDEN_WEBHOOK_HOST).toBe("0.0.0.0");
    expect(w.WARDEN_OPERATOR_NAMESPACE).toBe(INSTALL_NAMESPACE);
    expect(w.WARDEN_WEBHOOK_VALIDATING_CONFIGS).toEqual(["agent-warden-validating"]);
    expect(w.WARDEN_WEBHOOK_MUTATING_CONFIGS).toEqual(["agent-warden-mutating"]);
    expect(w.WARDEN_WEBHOOK_DNS_NAMES).toContain(`agent-warden-webhook.${INSTALL_NAMESPACE}.svc`);
    const sidecar = sidecarConfigFromEnv(env);
    // Default values give the injector's own defaults, apart from where the issuer lives.
    expect({ ...sidecar, issuerURL: "" }).toEqual({ ...DEFAULT_SIDECAR_CONFIG, issuerURL: "" });
    expect(sidecar.issuerURL).toBe(`https://agent-warden-issuer.${INSTALL_NAMESPACE}.svc:8443`);
    expect(find("Service", "agent-warden-issuer")).toBeDefined();
  });

  it("puts every container under the restricted Pod Security Standard", () => {
    const workloads = install.filter((o) => o.kind === "Deployment");
    expect(workloads.map((w) => w.metadata.name).sort()).toEqual([
      "agent-warden-operator",
      "agent-warden-webhook",
    ]);
    for (const w of workloads) {
      const pod = (w as unknown as { spec: { template: { spec: Record<string, unknown> } } }).spec.template
        .spec;
      expect(pod.securityContext).toMatchObject({
        runAsNonRoot: true,
        seccompProfile: { type: "RuntimeDefault" },
      });
      for (const c of pod.containers as { securityContext: unknown }[]) {
        expect(c.securityContext).toMatchObject({
          runAsNonRoot: true,
          readOnlyRootFilesystem: true,
          allowPrivilegeEscalation: false,
          capabilities: { drop: ["ALL"] },
        });
      }
    }
  });
});

function deepMerge(base: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== "object" || Array.isArray(patch)) return patch;
  const out = { ...((base ?? {}) as Record<string, unknown>) };
  for (const [k, v] of Object.entries(patch)) out[k] = deepMerge(out[k], v);
  return out;
}
