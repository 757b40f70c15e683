// The chart's svid.renewAt reaches the gateway: webhook env → sidecar config → injected container's
// env → the gateway's own configuration.
import { describe, expect, it } from "vitest";
import { GATEWAY_ENV } from "../api/v1alpha1/sidecar.ts";
import { configFromEnv } from "../gateway/config.ts";
import { DEFAULT_SIDECAR_CONFIG, sidecarConfigFromEnv } from "./sidecar-config.ts";
import {
  gatewayContainer,
  gatewayInboundContainer,
  inboundTemplateHash,
  templateHash,
} from "./sidecar-template.ts";

/** The injected container's environment, as the gateway process sees it. */
function gatewayEnv(c: ReturnType<typeof gatewayContainer>): Record<string, string> {
  return Object.fromEntries((c.env as { name: string; value: string }[]).map((e) => [e.name, e.value]));
}

describe("svid.renewAt (WARDEN_SVID_RENEW_AT)", () => {
  it("is set on the injected gateway and read by it", () => {
    const cfg = sidecarConfigFromEnv({ WARDEN_SVID_RENEW_AT: "0.8" });
    expect(cfg.renewAt).toBe(0.8);
    const env = gatewayEnv(gatewayContainer(cfg));
    expect(env[GATEWAY_ENV.svidRenewAt]).toBe("0.8");
    expect(configFromEnv(env).svidRenewAt).toBe(0.8);
    expect(templateHash(cfg)).not.toBe(templateHash(DEFAULT_SIDECAR_CONFIG));
  });

  it("is left out at the default 0.5, which the gateway defaults to, so the default sidecar is unchanged", () => {
    const cfg = sidecarConfigFromEnv({ WARDEN_SVID_RENEW_AT: "0.5" });
    expect(cfg).toEqual(DEFAULT_SIDECAR_CONFIG);
    const env = gatewayEnv(gatewayContainer(cfg));
    expect(env).not.toHaveProperty(GATEWAY_ENV.svidRenewAt);
    expect(configFromEnv(env).svidRenewAt).toBe(0.5);
    expect(sidecarConfigFromEnv({}).renewAt).toBe(0.5);
  });

  it("refuses a fraction outside 0.1-0.9, naming the variable", () => {
    expect(() => sidecarConfigFromEnv({ WARDEN_SVID_RENEW_AT: "1.5" })).toThrow(
      /renewAt \(WARDEN_SVID_RENEW_AT\) must be at most 0.9/,
    );
    expect(() => sidecarConfigFromEnv({ WARDEN_SVID_RENEW_AT: "soon" })).toThrow(
      /renewAt \(WARDEN_SVID_RENEW_AT\) must be a number from 0.1 to 0.9/,
    );
  });
});

describe("the inbound gateway the webhook injects into tool-server pods", () => {
  it("is a configuration the gateway accepts: inbound mode on 0.0.0.0:15443, upstream on loopback", () => {
    const env = gatewayEnv(gatewayInboundContainer(DEFAULT_SIDECAR_CONFIG, 8080));
    const cfg = configFromEnv(env);
    expect(cfg).toMatchObject({
      mode: "inbound",
      listen: { host: "0.0.0.0", port: 15443 },
      upstream: "http://127.0.0.1:8080",
      policyFile: "/var/run/warden/policy/policy.json",
    });
    // A different upstream port is a different template (and so a different expected hash).
    expect(inboundTemplateHash(DEFAULT_SIDECAR_CONFIG, 8080)).not.toBe(
      inboundTemplateHash(DEFAULT_SIDECAR_CONFIG, 9000),
    );
    expect(inboundTemplateHash(DEFAULT_SIDECAR_CONFIG, 8080)).not.toBe(templateHash(DEFAULT_SIDECAR_CONFIG));
  });
});

describe("credentials, approver tokens and audit redaction reach the outbound gateway", () => {
  it("the injected sidecar's environment is one the gateway reads back, from the chart's variables", () => {
    const cfg = sidecarConfigFromEnv({
      WARDEN_GATEWAY_APPROVALS_SECRET: "team-approvers",
      WARDEN_GATEWAY_AUDIT_REDACT: " SSN , password,ssn ",
    });
    expect(cfg.approvalsSecret).toBe("team-approvers");
    expect(cfg.auditRedact).toEqual(["password", "ssn"]);
    const gw = configFromEnv(gatewayEnv(gatewayContainer(cfg)));
    expect(gw).toMatchObject({
      mode: "outbound",
      credentialsDir: "/var/run/warden/credentials",
      approvalTokensFile: "/var/run/warden/approvers/tokens",
      auditRedact: ["password", "ssn"],
    });
    // The default list is left out of the sidecar and is what the gateway defaults to.
    const d = configFromEnv(gatewayEnv(gatewayContainer(DEFAULT_SIDECAR_CONFIG)));
    expect(d.auditRedact.map((f) => f.toLowerCase()).sort()).toEqual(DEFAULT_SIDECAR_CONFIG.auditRedact);
  });

  const bad: { name: string; env: Record<string, string>; error: RegExp }[] = [
    {
      name: "an approvals Secret name with a slash",
      env: { WARDEN_GATEWAY_APPROVALS_SECRET: "../kube-system/x" },
      error: /approvalsSecret \(WARDEN_GATEWAY_APPROVALS_SECRET\) must be a Secret name/,
    },
    {
      name: "an upper-case Secret name",
      env: { WARDEN_GATEWAY_APPROVALS_SECRET: "Approvers" },
      error: /must be a Secret name/,
    },
    {
      name: "a redaction entry with a comma-smuggled space",
      env: { WARDEN_GATEWAY_AUDIT_REDACT: "pass word" },
      error: /auditRedact \(WARDEN_GATEWAY_AUDIT_REDACT\) must be comma-separated argument names/,
    },
    {
      name: "a redaction entry with a newline (would split the env line)",
      env: { WARDEN_GATEWAY_AUDIT_REDACT: "a\nWARDEN_GATEWAY_MODE=inbound" },
      error: /must be comma-separated argument names/,
    },
  ];
  it.each(bad)("refuses $name, naming the variable", ({ env, error }) => {
    expect(() => sidecarConfigFromEnv(env)).toThrow(error);
  });
});
