import { describe, expect, it } from "vitest";
import { configFromEnv } from "./config.ts";

const env = {
  WARDEN_GATEWAY_MODE: "outbound",
  WARDEN_GATEWAY_LISTEN: "127.0.0.1:15001",
  WARDEN_POLICY_FILE: "/p/policy.json",
  WARDEN_AUDIT_FILE: "/a/audit.jsonl",
  WARDEN_ISSUER_URL: "https://issuer.warden-system.svc:8443",
};

describe("configFromEnv", () => {
  it("parses a valid outbound configuration with defaults", () => {
    const c = configFromEnv(env);
    expect(c).toMatchObject({
      mode: "outbound",
      listen: { host: "127.0.0.1", port: 15001 },
      maxBodyBytes: 1048576,
    });
    expect(c.auditRedact).toContain("password");
    expect(c.svidRenewAt).toBe(0.5);
  });
  it("reads the SVID renewal fraction (WARDEN_SVID_RENEW_AT) and keeps it within 0.1-0.9", () => {
    expect(configFromEnv({ ...env, WARDEN_SVID_RENEW_AT: "0.8" }).svidRenewAt).toBe(0.8);
    expect(configFromEnv({ ...env, WARDEN_SVID_RENEW_AT: "0.1" }).svidRenewAt).toBe(0.1);
    expect(() => configFromEnv({ ...env, WARDEN_SVID_RENEW_AT: "0.95" })).toThrow(
      /WARDEN_SVID_RENEW_AT must be at most 0.9/,
    );
    expect(() => configFromEnv({ ...env, WARDEN_SVID_RENEW_AT: "0" })).toThrow(
      /WARDEN_SVID_RENEW_AT must be at least 0.1/,
    );
    expect(() => configFromEnv({ ...env, WARDEN_SVID_RENEW_AT: "half" })).toThrow(
      /WARDEN_SVID_RENEW_AT must be a number from 0.1 to 0.9/,
    );
  });
  it("names the variable and the fix when something is wrong", () => {
    expect(() => configFromEnv({ ...env, WARDEN_GATEWAY_MODE: "sideways" })).toThrow(
      /WARDEN_GATEWAY_MODE must be outbound or inbound/,
    );
    expect(() => configFromEnv({ ...env, WARDEN_GATEWAY_LISTEN: "15001" })).toThrow(
      /WARDEN_GATEWAY_LISTEN must be host:port/,
    );
    expect(() => configFromEnv({ ...env, WARDEN_GATEWAY_MODE: "inbound" })).toThrow(/WARDEN_UPSTREAM/);
    expect(() => configFromEnv({ ...env, WARDEN_ISSUER_URL: "" })).toThrow(/WARDEN_ISSUER_URL.*SVID file/);
    expect(() => configFromEnv({ ...env, WARDEN_SVID_CERT_FILE: "/c" })).toThrow(
      /set both WARDEN_SVID_CERT_FILE and WARDEN_SVID_KEY_FILE/,
    );
  });
});
