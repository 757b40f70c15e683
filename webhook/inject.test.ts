import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AGENT_ENV, GATEWAY_CONTAINER_NAME } from "../api/v1alpha1/sidecar.ts";
import { injectGateway } from "./inject.ts";
import { applyPatch } from "./jsonpatch.ts";
import { agentPodSource, CFG, type Loose, toolServerPodSource } from "./rules/testkit.ts";
import { type SidecarConfig, sidecarConfig } from "./sidecar-config.ts";
import { inboundTemplateHash, templateHash } from "./sidecar-template.ts";

const normalisedConfig = (c: SidecarConfig) => sidecarConfig.parse(c);

describe("injectGateway", () => {
  it("adds a native sidecar first, its volumes, the agent env and the status annotation", () => {
    const { object, patch, mutated }: Loose = injectGateway(agentPodSource(), CFG);
    expect(mutated).toBe(true);
    const sidecar = object.spec.initContainers[0];
    expect(sidecar.name).toBe(GATEWAY_CONTAINER_NAME);
    expect(sidecar.restartPolicy).toBe("Always");
    expect(sidecar.startupProbe.httpGet).toEqual({ path: "/readyz", port: 15020, scheme: "HTTP" });
    expect(sidecar.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
    });
    expect(object.spec.initContainers[1].name).toBe("fetch-prompts");
    expect(object.spec.volumes.map((v: Loose) => v.name)).toEqual([
      "warden-issuer-token",
      "warden-trust-bundle",
      "warden-policy",
      "warden-audit",
      "warden-credentials",
      "warden-approvers",
    ]);
    expect(object.spec.volumes[0].projected.sources[0].serviceAccountToken).toEqual({
      audience: "warden.dev/issuer",
      expirationSeconds: 600,
      path: "token",
    });
    expect(object.spec.volumes[2].configMap.name).toBe("warden-policy-researcher");
    for (const c of object.spec.containers) {
      expect(c.env).toContainEqual({ name: AGENT_ENV.gatewayURL, value: "http://127.0.0.1:15001" });
      expect(c.volumeMounts).toBeUndefined();
    }
    expect(JSON.parse(object.metadata.annotations["warden.dev/gateway-status"])).toEqual({
      version: "v2",
      templateHash: templateHash(CFG),
    });
    // the patch, applied to the original, gives exactly the injected object
    expect(applyPatch(agentPodSource(), patch)).toEqual(object);
  });

  it("wires credentials, approver tokens and audit redaction into the sidecar alone", () => {
    const cfg = { ...CFG, approvalsSecret: "team-approvers", auditRedact: ["ssn", "password", "SSN"] };
    const { object }: Loose = injectGateway(agentPodSource(), normalisedConfig(cfg));
    const sidecar = object.spec.initContainers[0];
    expect(sidecar.env).toEqual(
      expect.arrayContaining([
        { name: "WARDEN_CREDENTIALS_DIR", value: "/var/run/warden/credentials" },
        { name: "WARDEN_APPROVAL_TOKENS_FILE", value: "/var/run/warden/approvers/tokens" },
        { name: "WARDEN_AUDIT_REDACT", value: "password,ssn" },
      ]),
    );
    expect(sidecar.volumeMounts).toEqual(
      expect.arrayContaining([
        { name: "warden-credentials", mountPath: "/var/run/warden/credentials", readOnly: true },
        { name: "warden-approvers", mountPath: "/var/run/warden/approvers", readOnly: true },
      ]),
    );
    const vol = (n: string) => object.spec.volumes.find((v: Loose) => v.name === n);
    // Named after the agent (projected by the operator) and the chart value: never after grants.
    expect(vol("warden-credentials")).toEqual({
      name: "warden-credentials",
      secret: { secretName: "warden-credentials-researcher", optional: true, defaultMode: 0o444 },
    });
    expect(vol("warden-approvers")).toEqual({
      name: "warden-approvers",
      secret: { secretName: "team-approvers", optional: true, defaultMode: 0o444 },
    });
    for (const c of [...object.spec.containers, ...object.spec.initContainers.slice(1)])
      expect((c.volumeMounts ?? []).map((m: Loose) => m.name)).not.toContain("warden-credentials");
    // The default redaction list is left out, so the default sidecar does not carry it.
    const plain: Loose = injectGateway(agentPodSource(), CFG).object;
    expect(plain.spec.initContainers[0].env.map((e: Loose) => e.name)).not.toContain("WARDEN_AUDIT_REDACT");
    // The redaction list is part of the template hash the validator compares.
    expect(templateHash(normalisedConfig(cfg))).not.toBe(templateHash(CFG));
    // (The approvers Secret is in the volumes, which the validator compares one by one.)
  });

  it("is idempotent: injecting twice equals injecting once, with an empty second patch", () => {
    const once = injectGateway(agentPodSource(), CFG).object;
    const twice = injectGateway(once, CFG);
    expect(twice.object).toEqual(once);
    expect(twice.patch).toEqual([]);
    expect(twice.mutated).toBe(false);
  });

  it("leaves non-agent pods and other kinds alone", () => {
    const pod: Loose = agentPodSource();
    delete pod.metadata.labels["warden.dev/agent"];
    expect(injectGateway(pod, CFG).patch).toEqual([]);
    expect(injectGateway({ kind: "ConfigMap", data: {} }, CFG).patch).toEqual([]);
  });

  it("works on every workload kind through the right path prefix", () => {
    const src: Loose = agentPodSource();
    const cron = {
      apiVersion: "batch/v1",
      kind: "CronJob",
      metadata: { name: "nightly" },
      spec: {
        schedule: "@daily",
        jobTemplate: { spec: { template: { metadata: src.metadata, spec: src.spec } } },
      },
    };
    const r: Loose = injectGateway(cron, CFG);
    expect(r.object.spec.jobTemplate.spec.template.spec.initContainers[0].name).toBe(GATEWAY_CONTAINER_NAME);
    expect(r.patch[0].path.startsWith("/spec/jobTemplate/spec/template/")).toBe(true);
    expect(applyPatch(cron, r.patch)).toEqual(r.object);
  });

  it("property: for arbitrary container/volume/annotation layouts the patch applies and injection is idempotent", () => {
    const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/);
    const containerArb = fc.record(
      {
        name,
        image: fc.constant("x:1"),
        env: fc.array(
          fc.record({ name: fc.constantFrom("A", "B", AGENT_ENV.gatewayURL), value: fc.string() }),
          { maxLength: 2 },
        ),
      },
      { requiredKeys: ["name", "image"] },
    );
    fc.assert(
      fc.property(
        fc.array(containerArb, { minLength: 1, maxLength: 3 }),
        fc.option(fc.array(containerArb, { maxLength: 2 }), { nil: undefined }),
        fc.option(fc.array(fc.record({ name, emptyDir: fc.constant({}) }), { maxLength: 2 }), {
          nil: undefined,
        }),
        fc.option(fc.dictionary(fc.constantFrom("a/b", "c~d", "x"), fc.string()), { nil: undefined }),
        (containers, initContainers, volumes, annotations) => {
          const pod = {
            kind: "Pod",
            metadata: {
              name: "p",
              labels: { "warden.dev/agent": "a1" },
              ...(annotations ? { annotations } : {}),
            },
            spec: {
              containers,
              ...(initContainers ? { initContainers } : {}),
              ...(volumes ? { volumes } : {}),
            },
          };
          const once = injectGateway(pod, CFG);
          expect(applyPatch(pod, once.patch)).toEqual(once.object);
          expect(injectGateway(once.object, CFG).patch).toEqual([]);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("injectGateway: tool servers (inbound mode)", () => {
  const port = (name: string) => (name === "search" ? 8080 : undefined);

  it("adds the inbound gateway on 15443 in front of the ToolManifest's port, and no agent env", () => {
    const { object, mutated }: Loose = injectGateway(toolServerPodSource(), CFG, { toolServerPort: port });
    expect(mutated).toBe(true);
    const gw = object.spec.initContainers[0];
    expect(gw.name).toBe(GATEWAY_CONTAINER_NAME);
    expect(gw.restartPolicy).toBe("Always");
    expect(gw.env).toEqual(
      expect.arrayContaining([
        { name: "WARDEN_GATEWAY_MODE", value: "inbound" },
        { name: "WARDEN_GATEWAY_LISTEN", value: "0.0.0.0:15443" },
        { name: "WARDEN_UPSTREAM", value: "http://127.0.0.1:8080" },
      ]),
    );
    expect(gw.ports).toContainEqual({ name: "warden-inbound", containerPort: 15443, protocol: "TCP" });
    expect(object.spec.volumes.map((v: Loose) => [v.name, v.configMap?.name])).toEqual([
      ["warden-issuer-token", undefined],
      ["warden-trust-bundle", "warden-trust-bundle"],
      ["warden-policy", "warden-inbound-search"],
      ["warden-audit", undefined],
    ]);
    // The volumes are mounted into the sidecar alone.
    expect(object.spec.containers[0].volumeMounts).toBeUndefined();
    expect(object.spec.containers[0].env).toBeUndefined();
    expect(JSON.parse(object.metadata.annotations["warden.dev/gateway-status"])).toEqual({
      version: "v2",
      templateHash: inboundTemplateHash(CFG, 8080),
    });
    // The inbound gateway substitutes no credentials and holds no approvals.
    const names = gw.env.map((e: Loose) => e.name);
    expect(names).not.toContain("WARDEN_CREDENTIALS_DIR");
    expect(names).not.toContain("WARDEN_APPROVAL_TOKENS_FILE");
    expect(injectGateway(object, CFG, { toolServerPort: port }).patch).toEqual([]);
  });

  it("the warden.dev/tool-server-port annotation wins over the ToolManifest", () => {
    const { object }: Loose = injectGateway(toolServerPodSource("search", 9000), CFG, {
      toolServerPort: port,
    });
    expect(object.spec.initContainers[0].env).toContainEqual({
      name: "WARDEN_UPSTREAM",
      value: "http://127.0.0.1:9000",
    });
  });

  it("injects nothing when the port is unknown, invalid or a gateway port (the validator refuses)", () => {
    expect(injectGateway(toolServerPodSource("other"), CFG, { toolServerPort: port }).mutated).toBe(false);
    expect(injectGateway(toolServerPodSource("search", 15020), CFG, { toolServerPort: port }).mutated).toBe(
      false,
    );
    const bad: Loose = toolServerPodSource("search");
    bad.metadata.annotations = { "warden.dev/tool-server-port": "70000" };
    expect(injectGateway(bad, CFG, { toolServerPort: port }).mutated).toBe(false);
  });
});
