import { describe, expect, it } from "vitest";
import { JwksIndex } from "./jwks-index.ts";

const enclave = (name: string, namespace: string, cms: string[]) => ({
  metadata: { name, namespace },
  spec: { taskTokenIssuers: cms.map((c) => ({ issuer: `https://${c}`, jwksConfigMap: c })) },
});

describe("JwksIndex", () => {
  it("maps a JWKS ConfigMap to the enclaves of its namespace that name it", () => {
    const idx = new JwksIndex();
    idx.set(enclave("a", "ns1", ["jwks", "other"]));
    idx.set(enclave("b", "ns1", ["jwks"]));
    idx.set(enclave("c", "ns2", ["jwks"]));
    expect(idx.enclavesOf("ns1", "jwks")).toEqual(["a", "b"]);
    expect(idx.enclavesOf("ns1", "other")).toEqual(["a"]);
    expect(idx.enclavesOf("ns2", "jwks")).toEqual(["c"]);
    expect(idx.enclavesOf("ns1", "warden-policy-bot")).toEqual([]);
  });

  it("follows an enclave that changes or drops its references, and a deleted enclave", () => {
    const idx = new JwksIndex();
    idx.set(enclave("a", "ns1", ["old"]));
    idx.set(enclave("a", "ns1", ["new"]));
    expect(idx.enclavesOf("ns1", "old")).toEqual([]);
    expect(idx.enclavesOf("ns1", "new")).toEqual(["a"]);
    idx.set({ metadata: { name: "a", namespace: "ns1" }, spec: {} });
    expect(idx.enclavesOf("ns1", "new")).toEqual([]);
    idx.set(enclave("a", "ns1", ["new"]));
    idx.remove({ metadata: { name: "a", namespace: "ns1" } });
    expect(idx.enclavesOf("ns1", "new")).toEqual([]);
  });
});
