import fc from "fast-check";
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

  it("reads where the issuer and cluster DNS run (the enclave NetworkPolicies' peers)", () => {
    const d = loadConfig([], {});
    expect(d["issuer-pod-labels"]).toEqual({
      "app.kubernetes.io/name": "agent-warden",
      "app.kubernetes.io/component": "operator",
    });
    expect(d["dns-namespace"]).toBe("kube-system");
    expect(d["dns-pod-labels"]).toEqual({ "k8s-app": "kube-dns" });
    const c = loadConfig(["--dns-pod-labels", "app=coredns, tier=dns"], {
      WARDEN_ISSUER_POD_LABELS: "app.kubernetes.io/instance=w,app.kubernetes.io/component=operator",
      WARDEN_DNS_NAMESPACE: "dns",
    });
    expect(c["issuer-pod-labels"]).toEqual({
      "app.kubernetes.io/instance": "w",
      "app.kubernetes.io/component": "operator",
    });
    expect(c["dns-pod-labels"]).toEqual({ app: "coredns", tier: "dns" });
    expect(c["dns-namespace"]).toBe("dns");
  });

  const labelAttacks: { name: string; value: string; error: RegExp }[] = [
    { name: "empty selects every pod", value: "", error: /must name at least one label/ },
    { name: "only commas", value: " , ,", error: /must name at least one label/ },
    { name: "a key without a value", value: "app", error: /key=value labels.*"app"/ },
    { name: "a key twice (which one wins?)", value: "app=a,app=b", error: /names label app twice/ },
    { name: "a selector expression, not a label", value: "app!=x", error: /key=value/ },
    { name: "a set expression", value: "app in (a,b)", error: /key=value/ },
    { name: "a value with spaces", value: "app=a b", error: /key=value/ },
    { name: "a value too long", value: `app=${"a".repeat(64)}`, error: /key=value/ },
    { name: "a key with an upper-case prefix", value: "Example.com/app=a", error: /key=value/ },
    { name: "a newline smuggled in", value: "app=a\nrole=admin", error: /key=value/ },
  ];
  it.each(labelAttacks)("refuses pod labels: $name", ({ value, error }) => {
    expect(() => loadConfig([], { WARDEN_ISSUER_POD_LABELS: value })).toThrow(
      /--issuer-pod-labels \(WARDEN_ISSUER_POD_LABELS\)/,
    );
    expect(() => loadConfig(["--dns-pod-labels", value], {})).toThrow(error);
  });

  it("property: any string either parses into labels Kubernetes accepts or is refused naming the flag", () => {
    const key =
      /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
    const value = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (s) => {
        try {
          const labels = loadConfig(["--dns-pod-labels", s], {})["dns-pod-labels"];
          const entries = Object.entries(labels);
          return entries.length > 0 && entries.every(([k, v]) => key.test(k) && value.test(v));
        } catch (err) {
          return /--dns-pod-labels/.test((err as Error).message);
        }
      }),
    );
  });
});
