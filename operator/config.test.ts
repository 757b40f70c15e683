import { describe, expect, it } from "vitest";
import { loadConfig } from "./config.ts";

describe("loadConfig", () => {
  it("has the documented defaults", () => {
    const c = loadConfig([], {});
    expect(c).toMatchObject({
      "trust-domain": "cluster.local",
      "kube-api-qps": 50,
      "kube-api-burst": 100,
      "lease-duration": 15_000,
      "renew-deadline": 10_000,
      "retry-period": 2_000,
      "leader-elect": true,
      identity: true,
    });
    expect(c.namespaces.size).toBe(0);
  });

  it("takes flags over environment", () => {
    const c = loadConfig(["--kube-api-qps", "20", "--identity=off", "--namespaces", "a, b"], {
      WARDEN_KUBE_API_QPS: "5",
    });
    expect(c["kube-api-qps"]).toBe(20);
    expect(c.identity).toBe(false);
    expect([...c.namespaces]).toEqual(["a", "b"]);
    expect(loadConfig([], { WARDEN_KUBE_API_BURST: "7" })["kube-api-burst"]).toBe(7);
  });

  it("names the flag, its variable and the fix", () => {
    expect(() => loadConfig(["--kube-api-burst", "0"], {})).toThrow(
      /--kube-api-burst \(WARDEN_KUBE_API_BURST\): --kube-api-burst must be an integer from 1/,
    );
    expect(() => loadConfig(["--lease-duration", "15"], {})).toThrow(/--lease-duration must be a duration/);
    expect(() => loadConfig(["--renew-deadline", "20s"], {})).toThrow(
      /--renew-deadline must be shorter than --lease-duration/,
    );
    expect(() => loadConfig(["--trust-domain", "Not Valid"], {})).toThrow(
      /--trust-domain must be a lower-case DNS name/,
    );
    expect(() => loadConfig(["--no-such-flag", "x"], {})).toThrow(/no-such-flag/);
  });
});
