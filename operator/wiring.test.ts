import * as k8s from "@kubernetes/client-node";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { createLogger } from "../lib/log.ts";
import { loadConfig } from "./config.ts";
import { admissionSettings, controllerSettings, identityDeps } from "./wiring.ts";

const parts = {
  kc: new k8s.KubeConfig(),
  log: createLogger("wiring-test"),
  registry: new Registry(),
  leader: { isLeader: () => false, onChange: () => {} },
  admission: admissionSettings({}),
};

describe("operator wiring", () => {
  const config = loadConfig(
    [
      "--namespace=warden",
      "--namespaces=team-a,team-b",
      "--issuer-dns-names=warden-issuer,warden-issuer.warden.svc",
      "--svid-max-ttl=1h",
      "--svid-renew-at=0.6",
      "--svid-ttl-override=30s",
      "--issuer-port=9443",
      "--issuer-pod-labels=app.kubernetes.io/instance=w,app.kubernetes.io/component=operator",
      "--dns-namespace=dns",
      "--dns-pod-labels=app=coredns",
    ],
    {},
  );

  it("hands --namespaces, --issuer-dns-names, --svid-max-ttl and --svid-renew-at to the identity services", () => {
    const deps = identityDeps(config, parts);
    expect([...(deps.namespaces ?? [])]).toEqual(["team-a", "team-b"]);
    expect(deps.issuer).toEqual({
      host: "127.0.0.1",
      port: 9443,
      ttlOverride: "30s",
      servingDNSNames: ["warden-issuer", "warden-issuer.warden.svc"],
    });
    expect(deps.svid).toEqual({ maxTTL: "1h", renewAt: 0.6 });
    expect(deps.operatorNamespace).toBe("warden");
    expect(deps.leader).toBe(parts.leader);
    expect(deps.admission).toBe(parts.admission);
  });

  it("gives the issuer the webhook's sidecar: same WARDEN_GATEWAY_* variables, same template hash", () => {
    const env = {
      WARDEN_GATEWAY_IMAGE: "registry.example/gw:2",
      WARDEN_GATEWAY_EXTRA_HASHES: "sha256:old, sha256:older",
    };
    const a = admissionSettings(env);
    expect(a.gatewayImage).toBe("registry.example/gw:2");
    expect(a.expectedTemplateHashes.slice(1)).toEqual(["sha256:old", "sha256:older"]);
    expect(a.expectedTemplateHashes[0]).not.toBe(admissionSettings({}).expectedTemplateHashes[0]);
  });

  it("hands --namespaces and --svid-max-ttl to the controllers", () => {
    const s = controllerSettings(config);
    expect([...s.namespaces]).toEqual(["team-a", "team-b"]);
    expect(s.svidMaxTTL).toBe("1h");
    expect(s.operatorNamespace).toBe("warden");
  });

  it("hands where the issuer and DNS run to the enclave NetworkPolicies", () => {
    expect(controllerSettings(config).network).toEqual({
      issuer: {
        namespace: "warden",
        podLabels: { "app.kubernetes.io/instance": "w", "app.kubernetes.io/component": "operator" },
        port: 9443,
      },
      dns: { namespace: "dns", podLabels: { app: "coredns" } },
    });
  });
});
