import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { webhookConfigurations } from "./configurations.ts";
import { renderedManifests } from "./render-manifests.ts";

describe("webhook configurations", () => {
  const { validating, mutating } = webhookConfigurations(
    { name: "t", target: { url: "https://127.0.0.1:9443/" }, operatorNamespace: "warden-system" },
    "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
  );

  it("validating: fail closed, no side effects, 5 s, v1 only, Equivalent, enclave selector, exclusions", () => {
    for (const wh of validating.webhooks) {
      expect(wh).toMatchObject({
        failurePolicy: "Fail",
        sideEffects: "None",
        timeoutSeconds: 5,
        admissionReviewVersions: ["v1"],
        matchPolicy: "Equivalent",
      });
      expect(wh.clientConfig).toMatchObject({ url: "https://127.0.0.1:9443/validate" });
      expect(Buffer.from((wh.clientConfig as { caBundle: string }).caBundle, "base64").toString()).toContain(
        "BEGIN CERTIFICATE",
      );
      expect(wh.namespaceSelector.matchExpressions).toContainEqual({
        key: "kubernetes.io/metadata.name",
        operator: "NotIn",
        values: ["kube-system", "warden-system"],
      });
    }
    const pods = validating.webhooks[0]!;
    expect(pods.namespaceSelector.matchExpressions).toContainEqual({
      key: "warden.dev/enclave",
      operator: "Exists",
    });
    expect(pods.rules.flatMap((r) => r.resources)).toEqual(
      expect.arrayContaining([
        "pods",
        "pods/ephemeralcontainers",
        "deployments",
        "statefulsets",
        "daemonsets",
        "replicasets",
        "jobs",
        "cronjobs",
      ]),
    );
  });

  it("mutating: fail open, reinvoked if needed, pods CREATE only", () => {
    const wh = mutating.webhooks[0]!;
    expect(wh).toMatchObject({
      failurePolicy: "Ignore",
      reinvocationPolicy: "IfNeeded",
      sideEffects: "None",
      timeoutSeconds: 5,
    });
    expect(wh.rules).toEqual([
      {
        apiGroups: [""],
        apiVersions: ["v1"],
        resources: ["pods"],
        operations: ["CREATE"],
        scope: "Namespaced",
      },
    ]);
    expect(wh.clientConfig).toMatchObject({ url: "https://127.0.0.1:9443/mutate" });
  });

  it("mutating: one entry for agent pods, one for tool-server pods, both in enclaves only", () => {
    expect(mutating.webhooks.map((w) => [w.name, w.objectSelector.matchExpressions])).toEqual([
      ["pods.mutate.warden.dev", [{ key: "warden.dev/agent", operator: "Exists" }]],
      ["tool-servers.mutate.warden.dev", [{ key: "warden.dev/tool-server", operator: "Exists" }]],
    ]);
    const [agents, servers] = mutating.webhooks;
    expect(servers).toEqual({
      ...agents,
      name: "tool-servers.mutate.warden.dev",
      objectSelector: { matchExpressions: [{ key: "warden.dev/tool-server", operator: "Exists" }] },
    });
    // No shared objects: the rendered YAML has no anchors.
    expect(servers!.namespaceSelector).not.toBe(agents!.namespaceSelector);
  });

  it("manifests/webhook/*.yaml are up to date", () => {
    for (const [file, text] of Object.entries(renderedManifests()))
      expect(readFileSync(file, "utf8")).toBe(text);
  });
});
