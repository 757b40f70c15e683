// The chart's svid.renewAt reaches the gateway: webhook env → sidecar config → injected container's
// env → the gateway's own configuration.
import { describe, expect, it } from "vitest";
import { GATEWAY_ENV } from "../api/v1alpha1/sidecar.ts";
import { configFromEnv } from "../gateway/config.ts";
import {
  DEFAULT_SIDECAR_CONFIG,
  gatewayRuntimeEnv,
  memoryBytes,
  sidecarConfigFromEnv,
  v8FlagsFor,
} from "./sidecar-config.ts";
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

describe("v8FlagsFor: the gateway's heap from its container memory limit", () => {
  const rows: { limit: string; want: string }[] = [
    { limit: "256Mi", want: "--max-semi-space-size=4 --max-old-space-size=64" },
    { limit: "128Mi", want: "--max-semi-space-size=2 --max-old-space-size=48" },
    { limit: "64Mi", want: "--max-semi-space-size=2 --max-old-space-size=48" },
    { limit: "1Gi", want: "--max-semi-space-size=8 --max-old-space-size=256" },
    { limit: "268435456", want: "--max-semi-space-size=4 --max-old-space-size=64" },
    { limit: "262144Ki", want: "--max-semi-space-size=4 --max-old-space-size=64" },
    { limit: "64Gi", want: "--max-semi-space-size=8 --max-old-space-size=2048" },
  ];
  for (const r of rows) it(`${r.limit} → ${r.want}`, () => expect(v8FlagsFor(r.limit)).toBe(r.want));
  it("never lets the V8 heap (old space + 3 semi-spaces) exceed half of a limit of 128Mi or more", () => {
    for (const mib of [128, 192, 256, 384, 512, 1024, 4096]) {
      const [, semi, old] = /semi-space-size=(\d+) --max-old-space-size=(\d+)/
        .exec(v8FlagsFor(`${mib}Mi`))!
        .map(Number);
      expect(old! + 3 * semi!).toBeLessThanOrEqual(mib / 2);
    }
  });
  it("refuses what is not a canonical quantity", () => {
    expect(() => memoryBytes("1.5Gi")).toThrow(/canonical/);
    expect(() => memoryBytes("lots")).toThrow(/canonical/);
  });
  it("is what the injected sidecar carries in NODE_OPTIONS, with one malloc arena and fixed malloc thresholds", () => {
    const env = gatewayContainer(DEFAULT_SIDECAR_CONFIG).env as { name: string; value: string }[];
    expect(env.find((e) => e.name === "NODE_OPTIONS")?.value).toBe(
      v8FlagsFor(DEFAULT_SIDECAR_CONFIG.limits.memory),
    );
    expect(env.find((e) => e.name === "MALLOC_ARENA_MAX")?.value).toBe("1");
    expect(env.find((e) => e.name === "GLIBC_TUNABLES")?.value).toBe(
      "glibc.malloc.trim_threshold=131072:glibc.malloc.mmap_threshold=131072",
    );
    // Exactly what the RSS benchmark runs the gateway with.
    const runtime = gatewayRuntimeEnv(DEFAULT_SIDECAR_CONFIG.limits.memory);
    for (const e of runtime) expect(env).toContainEqual(e);
  });
});
