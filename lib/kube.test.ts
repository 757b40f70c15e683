import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { ValidationError } from "./errors.ts";
import { loadKubeConfig } from "./kube.ts";

const home = mkdtempSync(join(tmpdir(), "warden-kube-"));
afterAll(() => rmSync(home, { recursive: true, force: true }));
afterEach(() => vi.unstubAllEnvs());

const KUBECONFIG = `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`;

describe("loadKubeConfig", () => {
  it("fails with a ValidationError naming KUBECONFIG when there is no kubeconfig and no cluster", () => {
    vi.stubEnv("KUBECONFIG", "");
    vi.stubEnv("KUBERNETES_SERVICE_HOST", "");
    vi.stubEnv("HOME", home);
    expect(() => loadKubeConfig()).toThrow(ValidationError);
    expect(() => loadKubeConfig()).toThrow(/KUBECONFIG: no kubeconfig .* set KUBECONFIG or --kubeconfig/);
  });

  it("reads ~/.kube/config when KUBECONFIG is unset", () => {
    mkdirSync(join(home, ".kube"), { recursive: true });
    writeFileSync(join(home, ".kube", "config"), KUBECONFIG);
    vi.stubEnv("KUBECONFIG", "");
    vi.stubEnv("KUBERNETES_SERVICE_HOST", "");
    vi.stubEnv("HOME", home);
    expect(loadKubeConfig().getCurrentCluster()?.server).toBe("https://127.0.0.1:6443");
    rmSync(join(home, ".kube"), { recursive: true });
  });

  it("reads an explicit path whatever the environment says", () => {
    const file = join(home, "explicit");
    writeFileSync(file, KUBECONFIG);
    vi.stubEnv("KUBECONFIG", "");
    vi.stubEnv("HOME", home);
    expect(loadKubeConfig(file).getCurrentCluster()?.server).toBe("https://127.0.0.1:6443");
  });
});
