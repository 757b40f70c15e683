import { describe, expect, it } from "vitest";
import { loadConfig } from "./config.ts";

describe("loadConfig", () => {
  it("has the documented defaults", () => {
    const c = loadConfig([], {});
    expect(c).toMatchObject({
      "trust-domain": "cluster.local",
      "kube-api-qps": 200,
      "kube-api-burst": 400,
      "lease-duration": 15_000,
      "renew-deadline": 10_000,
      "retry-period": 2_000,
      "leader-elect": true,
      identity: true,
    });
    expect(c.namespaces.size).toBe(0);
    expect(c["issuer-dns-names"]).toEqual([]);
    expect(c["svid-max-ttl"]).toBe("24h");
    expect(c["svid-renew-at"]).toBe(0.5);
  });

  it("reads the issuer's DNS names, the SVID TTL cap and the renewal fraction", () => {
    const c = loadConfig(["--svid-max-ttl", "2h"], {
      WARDEN_ISSUER_DNS_NAMES:
        "warden-issuer, warden-issuer.warden.svc,warden-issuer.warden.svc.cluster.local",
      WARDEN_SVID_MAX_TTL: "1h",
      WARDEN_SVID_RENEW_AT: "0.7",
    });
    expect(c["issuer-dns-names"]).toEqual([
      "warden-issuer",
      "warden-issuer.warden.svc",
      "warden-issuer.warden.svc.cluster.local",
    ]);
    expect(c["svid-max-ttl"]).toBe("2h");
    expect(c["svid-renew-at"]).toBe(0.7);
  });

  it("refuses bad issuer DNS names, TTL caps and renewal fractions, naming the flag", () => {
    expect(() => loadConfig([], { WARDEN_ISSUER_DNS_NAMES: "ok.svc,Not_A_Name" })).toThrow(
      /--issuer-dns-names \(WARDEN_ISSUER_DNS_NAMES\): --issuer-dns-names must be comma-separated lower-case DNS names/,
    );
    expect(() => loadConfig(["--issuer-dns-names", `${"a".repeat(254)}`], {})).toThrow(
      /--issuer-dns-names: each name must be at most 253 characters/,
    );
    expect(() => loadConfig(["--svid-max-ttl", "48h"], {})).toThrow(
      /--svid-max-ttl \(WARDEN_SVID_MAX_TTL\): --svid-max-ttl must be from 5m to 24h/,
    );
    expect(() => loadConfig(["--svid-max-ttl", "1m"], {})).toThrow(/--svid-max-ttl must be from 5m to 24h/);
    expect(() => loadConfig(["--svid-max-ttl", "a day"], {})).toThrow(
      /--svid-max-ttl must be a duration from 5m to 24h/,
    );
    expect(() => loadConfig([], { WARDEN_SVID_RENEW_AT: "0.95" })).toThrow(
      /--svid-renew-at \(WARDEN_SVID_RENEW_AT\): --svid-renew-at must be a number from 0.1 to 0.9/,
    );
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
