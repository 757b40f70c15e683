// The Helm chart, with real Helm 3 and Helm 4 binaries (built from the Go module proxy, cached) and
// the real API server of the shared test cluster: lint, render (several value sets, identical with
// both majors), the values schema refusing bad values, install / upgrade / uninstall with the objects
// appearing and no cluster-scoped leftovers. Nothing runs pods here, so no `--wait`.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as k8s from "@kubernetes/client-node";
import { beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { loadConfig } from "../../operator/config.ts";
import {
  INSTALL_NAMESPACE,
  INSTALL_RELEASE,
  INSTALL_YAML,
  ROOT,
  renderInstallYaml,
} from "../../scripts/gen-chart.ts";
import { webhookConfigurations } from "../../webhook/configurations.ts";
import { extractPod } from "../../webhook/rules/extract.ts";
import { RESTRICTED } from "../../webhook/rules/index.ts";
import type { RuleContext } from "../../webhook/rules/types.ts";
import { sidecarConfigFromEnv } from "../../webhook/sidecar-config.ts";
import { HELM_VERSIONS, type HelmMajor, helmBinary, helmEnv } from "../helm/helm.ts";
import { createNamespace, kubeConfig, kubeconfigPath, kubectl, run, uniqueName } from "../support/kube.ts";

const CHART = join(ROOT, "charts", "agent-warden");
const MAJORS: HelmMajor[] = [3, 4];
const helmPath: Partial<Record<HelmMajor, string>> = {};

type Obj = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  // biome-ignore lint/suspicious/noExplicitAny: rendered manifests are walked freely in assertions
  [k: string]: any;
};

function helm(major: HelmMajor, args: string[], timeoutMs = 120_000) {
  const bin = helmPath[major];
  if (!bin) throw new Error(`helm ${major} was not built`);
  return run(bin, args, { env: helmEnv({ KUBECONFIG: kubeconfigPath() }), timeoutMs });
}

async function render(
  major: HelmMajor,
  args: string[] = [],
  release = "agent-warden",
  ns = "agent-warden-system",
) {
  const r = await helm(major, ["template", release, CHART, "--namespace", ns, ...args]);
  if (r.code !== 0) throw new Error(`helm ${major} template failed: ${r.stderr}`);
  return r.stdout;
}

function parse(text: string): Obj[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => o !== null);
}

function one(objs: Obj[], kind: string, name: string): Obj {
  const o = objs.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o)
    throw new Error(`no ${kind} ${name} in ${objs.map((x) => `${x.kind}/${x.metadata.name}`).join(", ")}`);
  return o;
}

function env(d: Obj): Record<string, string> {
  const c = d.spec.template.spec.containers[0] as { env: { name: string; value?: string }[] };
  return Object.fromEntries(c.env.filter((e) => e.value !== undefined).map((e) => [e.name, e.value!]));
}

beforeAll(async () => {
  // Both builds together take ~3-4 minutes on two quiet cores the first time (up to ~15 on a busy
  // machine with a cold Go module cache); cached under .cache/bin afterwards.
  const [h3, h4] = await Promise.all([helmBinary(3), helmBinary(4)]);
  helmPath[3] = h3;
  helmPath[4] = h4;
  for (const m of MAJORS) {
    const v = await helm(m, ["version", "--short"]);
    expect(v.stdout.trim()).toContain(HELM_VERSIONS[m]);
  }
}, 1_800_000);

describe("helm lint", () => {
  it.each(MAJORS)("passes with helm %i (strict)", async (major) => {
    const r = await helm(major, ["lint", CHART, "--strict"]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain("0 chart(s) failed");
  });
});

describe("manifests/install.yaml", () => {
  it("is the chart rendered with default values (run `node scripts/gen-chart.ts` when this fails)", () => {
    const want = renderInstallYaml(helmPath[3]!, helmEnv());
    expect(readFileSync(INSTALL_YAML, "utf8")).toBe(want.content);
    expect(want.content).toContain(
      `# (helm template ${INSTALL_RELEASE} charts/agent-warden -n ${INSTALL_NAMESPACE}`,
    );
  });
});

describe("manifests/install.yaml against the API server", () => {
  it("is accepted object by object (server-side apply, dry run, strict field validation)", async () => {
    // Into a namespace of our own (dry run: nothing is stored, so the shared cluster is untouched).
    const ns = await createNamespace("install-yaml");
    try {
      const docs = parse(readFileSync(INSTALL_YAML, "utf8")).filter((o) => o.kind !== "Namespace");
      const text = docs
        .map((o) =>
          JSON.stringify(o).replaceAll(`"namespace":"${INSTALL_NAMESPACE}"`, `"namespace":"${ns.name}"`),
        )
        .join("\n");
      const r = await kubectl(
        [
          "apply",
          "--server-side",
          "--dry-run=server",
          "--force-conflicts",
          "--field-manager=helm-test",
          "-f",
          "-",
        ],
        { input: text },
      );
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.trim().split("\n")).toHaveLength(docs.length);
    } finally {
      await ns.cleanup();
    }
  });
});

const VALUE_SETS: { name: string; args: string[]; check: (objs: Obj[]) => void }[] = [
  {
    name: "default values",
    args: [],
    check: (objs) => {
      expect(objs.filter((o) => o.kind === "ServiceMonitor")).toEqual([]);
      const operator = one(objs, "Deployment", "agent-warden-operator");
      expect(operator.spec.replicas).toBe(2);
      expect(env(operator).WARDEN_LEADER_ELECT).toBe("true");
      const webhook = one(objs, "Deployment", "agent-warden-webhook");
      expect(webhook.spec.replicas).toBe(2);
      expect(webhook.spec.template.spec.affinity.podAntiAffinity).toBeDefined();
      expect(one(objs, "PodDisruptionBudget", "agent-warden-webhook").spec.minAvailable).toBe(1);
      for (const s of [
        "agent-warden-webhook",
        "agent-warden-issuer",
        "agent-warden-metrics",
        "agent-warden-webhook-metrics",
      ])
        one(objs, "Service", s);
      // The webhook's probes and metrics use its plain-HTTP probe port, never the TLS review port:
      // the port the webhook is told to serve them on is the one kubelet probes and the Service,
      // the NetworkPolicy and (when enabled) the ServiceMonitor name.
      const wc = webhook.spec.template.spec.containers[0];
      const metricsPort = wc.ports.find((p: { name: string }) => p.name === "metrics");
      expect(metricsPort.containerPort).toBe(8080);
      expect(env(webhook).WARDEN_WEBHOOK_PROBE_PORT).toBe(String(metricsPort.containerPort));
      expect(Number(env(webhook).WARDEN_WEBHOOK_PORT)).not.toBe(metricsPort.containerPort);
      for (const probe of ["startupProbe", "livenessProbe", "readinessProbe"]) {
        expect(wc[probe].httpGet.port, probe).toBe("metrics");
        expect(wc[probe].httpGet.scheme ?? "HTTP", probe).toBe("HTTP");
      }
      const whMetrics = one(objs, "Service", "agent-warden-webhook-metrics");
      expect(whMetrics.spec.selector).toEqual(webhook.spec.selector.matchLabels);
      expect(whMetrics.spec.ports).toEqual([
        { name: "metrics", port: 8080, targetPort: "metrics", protocol: "TCP" },
      ]);
      const whPolicy = one(objs, "NetworkPolicy", "agent-warden-webhook");
      expect(
        whPolicy.spec.ingress
          .flatMap((r: { ports: { port: string }[] }) => r.ports.map((p) => p.port))
          .sort(),
      ).toEqual(["https", "metrics"]);
      expect(objs.filter((o) => o.kind === "NetworkPolicy")).toHaveLength(2);
      // The chart's webhook configurations are the webhook's own (webhook/configurations.ts), with a
      // Service target; the webhook writes caBundle itself at run time.
      const want = webhookConfigurations({
        name: "agent-warden",
        target: { service: { name: "agent-warden-webhook", namespace: "agent-warden-system", port: 443 } },
        operatorNamespace: "agent-warden-system",
      });
      const validating = one(objs, "ValidatingWebhookConfiguration", "agent-warden-validating");
      const mutating = one(objs, "MutatingWebhookConfiguration", "agent-warden-mutating");
      expect(validating.webhooks).toEqual(want.validating.webhooks);
      expect(mutating.webhooks).toEqual(want.mutating.webhooks);
      for (const w of [...validating.webhooks, ...mutating.webhooks])
        expect(w.clientConfig.caBundle).toBeUndefined();
    },
  },
  {
    name: "metrics.serviceMonitor.enabled=true",
    args: [
      "--set",
      "metrics.serviceMonitor.enabled=true",
      "--set",
      "metrics.serviceMonitor.labels.release=prom",
    ],
    check: (objs) => {
      const sm = one(objs, "ServiceMonitor", "agent-warden-operator");
      expect(sm.metadata.labels?.release).toBe("prom");
      // It selects the metrics Service (and only it) by labels and port name.
      const selected = objs.filter(
        (o) =>
          o.kind === "Service" &&
          Object.entries(sm.spec.selector.matchLabels as Record<string, string>).every(
            ([k, v]) => o.metadata.labels?.[k] === v,
          ),
      );
      expect(selected.map((s) => s.metadata.name)).toEqual(["agent-warden-metrics"]);
      expect(selected[0]!.spec.ports.map((p: { name: string }) => p.name)).toContain(
        sm.spec.endpoints[0].port,
      );
      // The webhook's ServiceMonitor selects the webhook's metrics Service (and only it).
      const wsm = one(objs, "ServiceMonitor", "agent-warden-webhook");
      expect(wsm.metadata.labels?.release).toBe("prom");
      const wselected = objs.filter(
        (o) =>
          o.kind === "Service" &&
          Object.entries(wsm.spec.selector.matchLabels as Record<string, string>).every(
            ([k, v]) => o.metadata.labels?.[k] === v,
          ),
      );
      expect(wselected.map((s) => s.metadata.name)).toEqual(["agent-warden-webhook-metrics"]);
      expect(wselected[0]!.spec.ports.map((p: { name: string }) => p.name)).toContain(
        wsm.spec.endpoints[0].port,
      );
    },
  },
  {
    name: "svid.maxTTL=2h and svid.renewAt=0.7",
    // --set makes 0.7 a string (Helm parses only integers and booleans); --set-json keeps a number.
    args: ["--set", "svid.maxTTL=2h", "--set-json", "svid.renewAt=0.7"],
    check: (objs) => {
      // Each component reads the values through its own configuration loader.
      const op = env(one(objs, "Deployment", "agent-warden-operator"));
      const config = loadConfig([], { ...op, WARDEN_OPERATOR_NAMESPACE: "agent-warden-system" });
      expect(config["svid-max-ttl"]).toBe("2h");
      expect(config["svid-renew-at"]).toBe(0.7);
      expect(config["issuer-dns-names"]).toEqual([
        "agent-warden-issuer",
        "agent-warden-issuer.agent-warden-system.svc",
        "agent-warden-issuer.agent-warden-system.svc.cluster.local",
      ]);
      const sidecar = sidecarConfigFromEnv(env(one(objs, "Deployment", "agent-warden-webhook")));
      expect(sidecar.renewAt).toBe(0.7);
      expect(sidecar.issuerURL).toBe("https://agent-warden-issuer.agent-warden-system.svc:8443");
    },
  },
  {
    name: "webhook.failurePolicy=Ignore",
    args: ["--set", "webhook.failurePolicy=Ignore"],
    check: (objs) => {
      const v = one(objs, "ValidatingWebhookConfiguration", "agent-warden-validating");
      expect(v.webhooks.map((w: { failurePolicy: string }) => w.failurePolicy)).toEqual([
        "Ignore",
        "Ignore",
        "Ignore",
      ]);
      expect(
        one(objs, "MutatingWebhookConfiguration", "agent-warden-mutating").webhooks[0].failurePolicy,
      ).toBe("Ignore");
    },
  },
  {
    name: "a custom trust domain",
    args: ["--set", "trustDomain=prod.example.org"],
    check: (objs) => {
      expect(env(one(objs, "Deployment", "agent-warden-operator")).WARDEN_TRUST_DOMAIN).toBe(
        "prod.example.org",
      );
      expect(env(one(objs, "Deployment", "agent-warden-webhook")).WARDEN_TRUST_DOMAIN).toBe(
        "prod.example.org",
      );
    },
  },
  {
    name: "3 webhook replicas and an extra namespace selector",
    args: ["--set", "webhook.replicas=3", "--set", "webhook.namespaceSelector.matchLabels.team=ml"],
    check: (objs) => {
      expect(one(objs, "Deployment", "agent-warden-webhook").spec.replicas).toBe(3);
      const v = one(objs, "ValidatingWebhookConfiguration", "agent-warden-validating");
      for (const w of v.webhooks) expect(w.namespaceSelector.matchLabels).toEqual({ team: "ml" });
    },
  },
];

describe.each(VALUE_SETS)("helm template with $name", ({ args, check }) => {
  let objs: Obj[] = [];

  it("renders identically with helm 3 and helm 4", async () => {
    const [three, four] = await Promise.all([render(3, args), render(4, args)]);
    // Byte-identical documents in the same order. The one difference Helm itself makes: kinds it
    // does not know (ServiceMonitor) are ordered differently by Helm 3.21 and 4.3 (install order only).
    const split = (text: string) => text.split(/^---\n/m).filter((d) => d.trim() !== "");
    const known = (docs: string[]) => docs.filter((d) => !/^kind: ServiceMonitor$/m.test(d));
    expect(known(split(four))).toEqual(known(split(three)));
    expect(split(four).sort()).toEqual(split(three).sort());
    if (!args.includes("metrics.serviceMonitor.enabled=true")) expect(four).toBe(three);
    objs = parse(three);
    expect(objs.length).toBeGreaterThan(15);
  });

  it("renders what the values ask for", () => {
    check(objs);
  });

  it("puts every pod under the restricted rules (readOnlyRootFilesystem, non-root, no capabilities)", () => {
    const ctx = {} as RuleContext; // the restricted rules read the pod only
    const pods = objs.filter((o) => o.kind === "Deployment");
    expect(pods).toHaveLength(2);
    for (const o of pods) {
      const x = extractPod(o, o.metadata.namespace ?? "agent-warden-system");
      if (!x.ok) throw new Error(`${o.kind} ${o.metadata.name}: ${x.violation.message}`);
      expect(RESTRICTED.flatMap((rule) => rule(x.pod, ctx))).toEqual([]);
    }
  });
});

describe("warden check", () => {
  it("finds nothing to object to in the rendered chart", async () => {
    const manifest = await render(3);
    const r = await run(process.execPath, [join(ROOT, "cli", "warden.ts"), "check", "-"], {
      input: manifest,
    });
    expect(r.code, r.stdout + r.stderr).toBe(0);
  });

  it("--restricted: every pod template of the chart passes the hardening rules", async () => {
    const manifest = await render(3);
    const r = await run(
      process.execPath,
      [join(ROOT, "cli", "warden.ts"), "check", "--restricted", "-o", "json", "-"],
      { input: manifest },
    );
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const result = JSON.parse(r.stdout) as { findings: unknown[]; checked: number; objects: number };
    expect(result.findings).toEqual([]);
    // The operator and webhook Deployments were actually checked, not skipped as non-agents.
    expect(result.checked).toBe(parse(manifest).filter((o) => o.kind === "Deployment").length);
    expect(result.checked).toBeGreaterThan(0);
  });
});

describe("the values schema", () => {
  const BAD: { args: string[]; names: RegExp }[] = [
    { args: ["--set-string", "svid.maxTTL=fifteen"], names: /svid.maxTTL/ },
    { args: ["--set-string", "svid.maxTTL=48h"], names: /svid.maxTTL/ },
    { args: ["--set", "svid.renewAt=2"], names: /svid.renewAt/ },
    { args: ["--set", "webhook.replicas=1"], names: /webhook.replicas/ },
    { args: ["--set", "webhook.failurePolicy=Maybe"], names: /webhook.failurePolicy/ },
    { args: ["--set", "gateway.resources.requests.cpu=0.1"], names: /gateway.resources.requests.cpu/ },
    { args: ["--set", "replicaCount=3"], names: /replicaCount/ },
    { args: ["--set", "webhook.probePort=80"], names: /webhook.probePort/ },
    { args: ["--set-string", "webhook.probePort=8080"], names: /webhook.probePort/ },
  ];
  it.each(MAJORS.flatMap((major) => BAD.map((b) => ({ major, ...b }))))(
    "helm $major refuses $args.1",
    async ({ major, args, names }) => {
      const r = await helm(major, ["template", "agent-warden", CHART, "-n", "agent-warden-system", ...args]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/schema/i);
      expect(r.stderr).toMatch(names);
    },
  );

  it.each(MAJORS)("helm %i refuses a PodDisruptionBudget that would block every drain", async (major) => {
    const r = await helm(major, [
      "template",
      "agent-warden",
      CHART,
      "--set",
      "webhook.replicas=2",
      "--set",
      "webhook.podDisruptionBudget.minAvailable=2",
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(
      "webhook.podDisruptionBudget.minAvailable (2) must be below webhook.replicas (2)",
    );
  });
});

describe("webhook.probePort", () => {
  it.each(MAJORS)("helm %i refuses a probe port that is the TLS review port", async (major) => {
    const r = await helm(major, ["template", "agent-warden", CHART, "--set", "webhook.probePort=9443"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("webhook.probePort (9443) must differ from webhook.port (9443)");
  });
});

describe.each(MAJORS)("helm %i install, upgrade and uninstall in the cluster", (major) => {
  it("installs the operator's objects, upgrades them, and leaves nothing cluster-scoped behind", async () => {
    const ns = await createNamespace(`helm${major}`);
    const release = uniqueName(`aw${major}`);
    const fullname = `${release}-agent-warden`;
    const kc = kubeConfig();
    const apps = kc.makeApiClient(k8s.AppsV1Api);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
    const adm = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
    const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
    // No webhook pod runs here: scope the release's fail-closed webhooks to a label no namespace
    // carries, so other tests' enclave namespaces are never sent to a webhook that cannot answer.
    const scope = ["--set", `webhook.namespaceSelector.matchLabels.warden\\.dev/helm-test=${release}`];
    try {
      // CRDs are cluster-scoped and shared (installed by the global setup): Helm must not own them.
      const inst = await helm(major, ["install", release, CHART, "-n", ns.name, "--skip-crds", ...scope]);
      expect(inst.code, inst.stderr).toBe(0);
      expect(inst.stdout).toContain("kubectl get aid"); // NOTES.txt

      const deploys = await apps.listNamespacedDeployment({ namespace: ns.name });
      expect(deploys.items.map((d) => d.metadata?.name).sort()).toEqual([
        `${fullname}-operator`,
        `${fullname}-webhook`,
      ]);
      const svcs = await core.listNamespacedService({ namespace: ns.name });
      expect(svcs.items.map((s) => s.metadata?.name).sort()).toEqual(
        [
          `${fullname}-issuer`,
          `${fullname}-metrics`,
          `${fullname}-webhook`,
          `${fullname}-webhook-metrics`,
        ].sort(),
      );
      await core.readNamespacedServiceAccount({ name: `${fullname}-operator`, namespace: ns.name });
      await rbac.readNamespacedRole({ name: `${fullname}-operator`, namespace: ns.name });
      for (const n of ["operator", "enclave", "webhook"])
        await rbac.readClusterRole({ name: `${fullname}-${n}` });
      for (const n of ["operator", "webhook"])
        await rbac.readClusterRoleBinding({ name: `${fullname}-${n}` });
      const vwc = await adm.readValidatingWebhookConfiguration({ name: `${fullname}-validating` });
      expect(vwc.webhooks?.map((w) => w.failurePolicy)).toEqual(["Fail", "Fail", "Fail"]);
      expect(vwc.webhooks?.[0]?.clientConfig.service).toMatchObject({
        name: `${fullname}-webhook`,
        namespace: ns.name,
      });
      for (const w of vwc.webhooks ?? []) {
        expect(w.namespaceSelector?.matchLabels).toEqual({ "warden.dev/helm-test": release });
        expect(w.namespaceSelector?.matchExpressions).toContainEqual({
          key: "kubernetes.io/metadata.name",
          operator: "NotIn",
          values: ["kube-system", ns.name],
        });
      }
      await adm.readMutatingWebhookConfiguration({ name: `${fullname}-mutating` });

      // The installed RBAC is least privilege, as the API server's own authorizer sees it.
      const sa = `system:serviceaccount:${ns.name}:${fullname}-operator`;
      const can = async (...a: string[]) => (await kubectlAs(sa, ["auth", "can-i", ...a])).trim();
      expect(await can("list", "agentidentities.warden.dev", "--all-namespaces")).toBe("yes");
      expect(await can("create", "tokenreviews.authentication.k8s.io")).toBe("yes");
      expect(await can("get", "secrets", "-n", ns.name)).toBe("yes");
      expect(await can("get", "secrets", "-n", "default")).toBe("no");
      expect(await can("create", "serviceaccounts", "-n", "default")).toBe("no");
      expect(await can("bind", `clusterroles/${fullname}-enclave`)).toBe("yes");
      expect(await can("bind", "clusterroles/cluster-admin")).toBe("no");

      // Upgrade: something visible changes.
      const up = await helm(major, [
        "upgrade",
        release,
        CHART,
        "-n",
        ns.name,
        "--skip-crds",
        ...scope,
        "--set",
        "webhook.replicas=3",
        "--set",
        "webhook.failurePolicy=Ignore",
      ]);
      expect(up.code, up.stderr).toBe(0);
      const wd = await apps.readNamespacedDeployment({ name: `${fullname}-webhook`, namespace: ns.name });
      expect(wd.spec?.replicas).toBe(3);
      const vwc2 = await adm.readValidatingWebhookConfiguration({ name: `${fullname}-validating` });
      expect(vwc2.webhooks?.map((w) => w.failurePolicy)).toEqual(["Ignore", "Ignore", "Ignore"]);
      const hist = await helm(major, ["history", release, "-n", ns.name, "-o", "json"]);
      expect((JSON.parse(hist.stdout) as unknown[]).length).toBe(2);

      // Uninstall: no cluster-scoped leftovers; the CRDs stay (Helm never deletes them).
      const un = await helm(major, ["uninstall", release, "-n", ns.name]);
      expect(un.code, un.stderr).toBe(0);
      const selector = `app.kubernetes.io/instance=${release}`;
      expect((await rbac.listClusterRole({ labelSelector: selector })).items).toEqual([]);
      expect((await rbac.listClusterRoleBinding({ labelSelector: selector })).items).toEqual([]);
      expect((await adm.listValidatingWebhookConfiguration({ labelSelector: selector })).items).toEqual([]);
      expect((await adm.listMutatingWebhookConfiguration({ labelSelector: selector })).items).toEqual([]);
      expect((await apps.listNamespacedDeployment({ namespace: ns.name })).items).toEqual([]);
      const gone = async (read: () => Promise<unknown>) => {
        const err = await read().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect((err as { code?: number } | undefined)?.code).toBe(404);
      };
      for (const n of ["operator", "enclave", "webhook"])
        await gone(() => rbac.readClusterRole({ name: `${fullname}-${n}` }));
      for (const n of ["operator", "webhook"])
        await gone(() => rbac.readClusterRoleBinding({ name: `${fullname}-${n}` }));
      await gone(() => adm.readValidatingWebhookConfiguration({ name: `${fullname}-validating` }));
      await gone(() => adm.readMutatingWebhookConfiguration({ name: `${fullname}-mutating` }));
      for (const crd of ["agentenclaves", "agentidentities", "toolmanifests"]) {
        await ext.readCustomResourceDefinition({ name: `${crd}.warden.dev` });
      }
    } finally {
      // Best effort if an assertion failed half-way: never leave a webhook configuration behind.
      await helm(major, ["uninstall", release, "-n", ns.name, "--ignore-not-found"]).catch(() => undefined);
      await ns.cleanup();
    }
  });
});

async function kubectlAs(user: string, args: string[]): Promise<string> {
  // `auth can-i` exits 1 for "no": the answer is on stdout either way.
  return (await kubectl([`--as=${user}`, ...args])).stdout;
}
