// The node's generated configuration: every path under the node's own directories, the settings
// this VM needs present, and ids that cannot escape the names they enter.
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { parseBridgeArgs } from "./bridge.ts";
import {
  clusterIdSchema,
  containerdConfig,
  corednsManifest,
  kubeletConfig,
  NODE_NETWORK,
  nodeLayout,
  nodePaths,
} from "./config.ts";

const layout = nodeLayout("abcd1234", "/work/x/.cache/runs/node-AbC");

describe("cluster ids", () => {
  const attacks: [string, string][] = [
    ["empty", ""],
    ["too short", "abc"],
    ["too long for a short socket dir", "a".repeat(13)],
    ["path traversal", "../etc"],
    ["a slash", "ab/cd"],
    ["upper case (netns names are case-sensitive, cgroups too)", "ABCD"],
    ["whitespace", "ab cd"],
    ["a shell metacharacter", "ab;rm"],
    ["a NUL byte", "abcd\0"],
    ["non-ASCII", "abcdé"],
  ];
  test.each(attacks)("refuses %s", (_row, id) => {
    expect(() => nodeLayout(id, "/tmp/x")).toThrow(/cluster id must be 4-12 lower-case letters or digits/);
  });

  test("every accepted id gives names that stay in bounds", () => {
    fc.assert(
      fc.property(fc.string({ minLength: 0, maxLength: 20 }), (id) => {
        if (!clusterIdSchema.safeParse(id).success) return;
        const l = nodeLayout(id, "/tmp/x");
        const p = nodePaths(l);
        // containerd's shim sockets are <state>/s/<64 hex>: unix socket paths must fit in 108 bytes.
        expect(`${p.containerdState}/s/${"f".repeat(64)}`.length).toBeLessThan(108);
        expect(l.netns).toMatch(/^warden-[a-z0-9]{4,12}$/);
        expect(l.cgroupRoot).toMatch(/^\/warden-[a-z0-9]{4,12}$/);
      }),
    );
  });
});

describe("containerd config", () => {
  const toml = containerdConfig(layout, { runc: "/cache/runc/runc", cniBinDir: "/cache/cni" });

  test.each([
    ["config version 3", /^version = 3$/m],
    ["oom_score_adj restricted (the VM withholds CAP_SYS_RESOURCE)", /restrict_oom_score_adj = true/],
    ["pod netns under the state dir", /netns_mounts_under_state_dir = true/],
    ["NRI disabled", /"io\.containerd\.nri\.v1\.nri"/],
    ["runc by absolute path", /BinaryName = "\/cache\/runc\/runc"/],
    ["cgroupfs, not systemd", /SystemdCgroup = false/],
    ["the pause image pinned", /sandbox = "warden\.local\/pause:v1\.36\.3"/],
    ["CNI binaries from the cache", /bin_dirs = \["\/cache\/cni"\]/],
  ])("has %s", (_name, re) => {
    expect(toml).toMatch(re);
  });

  test("touches no host-wide containerd, runc or CNI path", () => {
    for (const path of [
      "/var/lib/containerd",
      "/run/containerd",
      "/etc/cni",
      "/opt/cni",
      "/opt/containerd",
      "/run/runc",
    ]) {
      expect(toml).not.toContain(`"${path}`);
    }
    const quoted = [...toml.matchAll(/"(\/[^"]*)"/g)].map((m) => m[1] as string);
    for (const path of quoted) {
      const ours =
        path.startsWith(layout.dir) || path.startsWith(layout.runDir) || path.startsWith("/cache/");
      expect({ path, ours }).toEqual({ path, ours: true });
    }
  });
});

describe("kubelet config", () => {
  const config = JSON.parse(kubeletConfig(layout)) as Record<string, unknown>;
  test("carries what this VM needs and a cgroup root of its own", () => {
    expect(config).toMatchObject({
      failCgroupV1: false,
      cgroupDriver: "cgroupfs",
      cgroupRoot: "/warden-abcd1234",
      failSwapOn: false,
      protectKernelDefaults: false,
      clusterDNS: [NODE_NETWORK.dnsServiceIP],
      readOnlyPort: 0,
      authentication: { anonymous: { enabled: false }, webhook: { enabled: true } },
      authorization: { mode: "Webhook" },
    });
    expect(config.podLogsDir).toBe(`${layout.dir}/pod-logs`);
    expect(config.containerRuntimeEndpoint).toBe(`unix://${layout.runDir}/containerd.sock`);
  });
});

describe("CoreDNS", () => {
  test("runs behind kube-dns at the kubelet's clusterDNS with the labels policies select", () => {
    const docs = corednsManifest()
      .split("\n---\n")
      .map(
        (d) =>
          JSON.parse(d) as { kind: string; spec?: Record<string, unknown>; metadata: { labels?: unknown } },
      );
    const svc = docs.find((d) => d.kind === "Service");
    expect(svc?.spec).toMatchObject({ clusterIP: "10.0.0.10", selector: { "k8s-app": "kube-dns" } });
    const deploy = docs.find((d) => d.kind === "Deployment");
    expect(deploy?.metadata.labels).toEqual({ "k8s-app": "kube-dns" });
    expect(JSON.stringify(deploy)).toContain('"readOnlyRootFilesystem":true');
  });
});

describe("bridge arguments", () => {
  test("parses both spellings", () => {
    expect(parseBridgeArgs(["--to", "/run/warden/x/api.sock", "--port-file=/tmp/p"])).toEqual({
      to: "/run/warden/x/api.sock",
      portFile: "/tmp/p",
      port: 0,
    });
  });
  test.each([
    ["an unknown flag", ["--to", "/s", "--port-file", "/p", "--listen", "0.0.0.0:80"], /unknown argument/],
    ["no socket", ["--port-file", "/p"], /to/],
    ["a port out of range", ["--to", "/s", "--port-file", "/p", "--port", "70000"], /port/],
    ["a port that is not a number", ["--to", "/s", "--port-file", "/p", "--port", "http"], /port/],
  ])("refuses %s", (_name, args, re) => {
    expect(() => parseBridgeArgs(args as string[])).toThrow(re as RegExp);
  });
});
