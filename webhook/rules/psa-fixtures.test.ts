// Pod Security Standards parity, proven on the upstream fixtures. k8s.io/pod-security-admission
// ships, for every profile version, pods that must pass and pods that must fail each check
// (test/testdata/{baseline,restricted}/v1.N/{pass,fail}/*.yaml). They are read from the Go module
// cache at the version test/cluster/go.sum pins, never copied into this repository.
//
// - Every `fail` fixture is refused as it is (warden check --restricted) and after it is turned into
//   an agent pod (labels, ServiceAccount, no API token, read-only root, the injected sidecar), and
//   each time by the rule that implements the upstream check the fixture is about.
// - Every `pass` fixture turned into an agent pod is admitted, or each rule that refuses it is one
//   of the documented ways agent-warden is stricter than the profile (docs/admission.md, "Stricter
//   than Pod Security"), and the fixture really has the property that exception is about.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { emptySnapshot } from "../context.ts";
import { engineSettings, evaluateObject } from "../evaluate.ts";
import { injectGateway } from "../inject.ts";
import { CFG, check, type Loose, NOW, NS } from "./testkit.ts";

const MODULE = "k8s.io/pod-security-admission";

/** The module's directory in the Go module cache, at the version go.sum pins. Fails loudly. */
function moduleDir(): string {
  const sum = readFileSync("test/cluster/go.sum", "utf8");
  const version = new RegExp(`^${MODULE.replace(/\./g, "\\.")} (v[^ /]+) h1:`, "m").exec(sum)?.[1];
  if (!version) throw new Error(`test/cluster/go.sum does not pin ${MODULE}; the PSA parity test needs it`);
  let out: string;
  try {
    out = execFileSync("go", ["mod", "download", "-json", `${MODULE}@${version}`], {
      cwd: "test/cluster",
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string; stdout?: string };
    if (e.code === "ENOENT") {
      throw new Error(
        `the Go toolchain is not installed (no 'go' on PATH): the Pod Security parity test reads ${MODULE}@${version} from the Go module cache with 'go mod download'; install Go 1.26+ to run it`,
      );
    }
    throw new Error(`go mod download ${MODULE}@${version} failed: ${e.stderr || e.stdout || e.message}`);
  }
  const info = JSON.parse(out) as { Dir?: string; Error?: string };
  if (!info.Dir || info.Error)
    throw new Error(`go mod download ${MODULE}@${version}: ${info.Error ?? "no Dir"}`);
  return info.Dir;
}

interface Fixture {
  level: "baseline" | "restricted";
  version: [number, number];
  outcome: "pass" | "fail";
  file: string;
  /** Upstream check the fixture exercises, from its file name (selinuxoptions3 → selinuxoptions). */
  check: string;
  pod: Loose;
}

function loadFixtures(): Fixture[] {
  const root = join(moduleDir(), "test", "testdata");
  const out: Fixture[] = [];
  for (const level of ["baseline", "restricted"] as const) {
    for (const v of readdirSync(join(root, level))) {
      const m = /^v(\d+)\.(\d+)$/.exec(v);
      if (!m) continue;
      for (const outcome of ["pass", "fail"] as const) {
        const dir = join(root, level, v, outcome);
        if (!existsSync(dir)) continue;
        for (const file of readdirSync(dir)
          .filter((f) => f.endsWith(".yaml"))
          .sort()) {
          out.push({
            level,
            version: [Number(m[1]), Number(m[2])],
            outcome,
            file: `${level}/${v}/${outcome}/${file}`,
            check: file.replace(/\.yaml$/, "").replace(/\d+$/, ""),
            pod: parse(readFileSync(join(dir, file), "utf8")),
          });
        }
      }
    }
  }
  return out;
}

/** Upstream check (fixture file prefix) → the warden rules that implement it. */
const CHECK_RULES: Record<string, readonly string[]> = {
  allowprivilegeescalation: ["container.allowPrivilegeEscalation"],
  apparmorprofile: ["pod.appArmor"],
  capabilities_baseline: ["container.capabilities"],
  capabilities_restricted: ["container.capabilities"],
  hostnamespaces: ["pod.hostNamespaces"],
  hostpathvolumes: ["pod.hostPath"],
  hostports: ["container.hostPort"],
  hostprobesandhostlifecycle: ["container.probeHost"],
  privileged: ["container.privileged"],
  procmount: ["container.procMount"],
  procmount_restricted: ["container.procMount"],
  restrictedvolumes: ["pod.volumeTypes", "pod.hostPath"],
  runasnonroot: ["pod.runAsNonRoot", "container.runAsNonRoot"],
  // runAsUser: 0 is reported under the runAsNonRoot rules (same fix, same field family).
  runasuser: ["pod.runAsNonRoot", "container.runAsNonRoot"],
  seccompprofile_baseline: ["pod.seccomp"],
  seccompprofile_restricted: ["pod.seccomp"],
  selinuxoptions: ["pod.seLinux"],
  sysctls: ["pod.sysctls"],
  windowshostprocess: ["pod.windowsHostProcess"],
};

const before = (f: Fixture, major: number, minor: number) =>
  f.version[0] < major || (f.version[0] === major && f.version[1] < minor);

function podSpecs(pod: Loose): Loose[] {
  return [
    ...(pod.spec.initContainers ?? []),
    ...(pod.spec.containers ?? []),
    ...(pod.spec.ephemeralContainers ?? []),
  ];
}

/**
 * The documented ways agent-warden is stricter than Pod Security (docs/admission.md mirrors the
 * ids). Each names the rules it may explain and a test of the fixture that must hold for it to
 * apply: a pass fixture refused for any other reason fails the test.
 */
const STRICTER: { id: string; rules: readonly string[]; applies: (f: Fixture, rule: string) => boolean }[] = [
  {
    // Restricted allows adding NET_BIND_SERVICE (baseline a default set); agent pods add none.
    id: "no-added-capabilities",
    rules: ["container.capabilities"],
    applies: (f) => podSpecs(f.pod).some((c) => (c.securityContext?.capabilities?.add ?? []).length > 0),
  },
  {
    // Restricted skips seccomp, capabilities and privilege escalation for spec.os.name: windows
    // (v1.25+); agent pods are Linux pods and get every control.
    id: "linux-controls-for-windows-pods",
    rules: ["pod.seccomp", "container.capabilities", "container.allowPrivilegeEscalation"],
    applies: (f) => f.pod.spec.os?.name === "windows",
  },
  {
    // Since v1.35 restricted lets user-namespaced pods (hostUsers: false) run as UID 0 inside it;
    // agent pods still must not.
    id: "non-root-in-user-namespaces",
    rules: ["pod.runAsNonRoot", "container.runAsNonRoot"],
    applies: (f) => f.pod.spec.hostUsers === false,
  },
  {
    // The latest profile applies whatever version a fixture was written for: older restricted
    // versions did not yet require allowPrivilegeEscalation: false (v1.8), a seccomp profile
    // (v1.19), dropping ALL capabilities (v1.22) or refuse runAsUser: 0 (v1.23).
    id: "latest-profile-version",
    rules: [
      "container.allowPrivilegeEscalation",
      "pod.seccomp",
      "container.capabilities",
      "pod.runAsNonRoot",
      "container.runAsNonRoot",
    ],
    applies: (f, rule) => {
      const since: Record<string, [number, number]> = {
        "container.allowPrivilegeEscalation": [1, 8],
        "pod.seccomp": [1, 19],
        "container.capabilities": [1, 22],
        "pod.runAsNonRoot": [1, 23],
        "container.runAsNonRoot": [1, 23],
      };
      const [major, minor] = since[rule] ?? [0, 0];
      return f.level === "restricted" && before(f, major, minor);
    },
  },
  {
    // Agent pods are held to restricted, not baseline: a baseline-only pod is refused for the
    // controls restricted adds.
    id: "restricted-not-baseline",
    rules: [
      "container.allowPrivilegeEscalation",
      "container.capabilities",
      "pod.runAsNonRoot",
      "container.runAsNonRoot",
      "pod.seccomp",
      "pod.volumeTypes",
      "container.procMount",
    ],
    applies: (f) => f.level === "baseline",
  },
];

/** What every agent pod needs, and nothing else: labels, its ServiceAccount, no API token, a read-only root, the sidecar. */
function asAgentPod(fixture: Loose): Loose {
  const pod = structuredClone(fixture);
  pod.metadata = {
    ...pod.metadata,
    namespace: NS,
    labels: {
      ...(pod.metadata?.labels ?? {}),
      "warden.dev/agent": "researcher",
      "warden.dev/agent-type": "research-assistant",
      "warden.dev/enclave": "research",
    },
  };
  pod.spec.serviceAccountName = "researcher";
  pod.spec.automountServiceAccountToken = false;
  for (const c of podSpecs(pod))
    c.securityContext = { ...(c.securityContext ?? {}), readOnlyRootFilesystem: true };
  return injectGateway(pod, CFG).object;
}

function restrictedAsIs(pod: Loose): string[] {
  const v = evaluateObject(
    { ...pod, metadata: { ...pod.metadata, namespace: "plain" } },
    { snapshot: emptySnapshot("plain"), settings: engineSettings(CFG), now: NOW, restricted: true },
  );
  return v.violations.map((x) => x.rule);
}

const fixtures = loadFixtures();
const fail = fixtures.filter((f) => f.outcome === "fail");
const pass = fixtures.filter((f) => f.outcome === "pass");

describe(`Pod Security parity on ${MODULE}'s fixtures (read from the Go module cache)`, () => {
  it("found the fixtures of both profiles, up to v1.35", () => {
    for (const level of ["baseline", "restricted"]) {
      const versions = new Set(fixtures.filter((f) => f.level === level).map((f) => f.version.join(".")));
      expect(versions.has("1.35"), `${level} v1.35`).toBe(true);
    }
    expect(fail.length).toBeGreaterThan(1000);
    expect(pass.length).toBeGreaterThan(500);
  });

  it("knows every upstream check the fixtures exercise", () => {
    const unknown = [...new Set(fail.map((f) => f.check))].filter((c) => !CHECK_RULES[c]);
    expect(unknown, "a new upstream check: implement it and map it in CHECK_RULES").toEqual([]);
  });

  it("refuses every fail fixture as it is, by the rule for its check", () => {
    const wrong = fail
      .map((f) => ({ f, got: restrictedAsIs(f.pod) }))
      .filter(({ f, got }) => !got.some((r) => CHECK_RULES[f.check]?.includes(r)))
      .map(({ f, got }) => `${f.file}: ${got.join(", ") || "admitted"}`);
    expect(wrong).toEqual([]);
  });

  it("refuses every fail fixture made into an agent pod, by the rule for its check", () => {
    const wrong = fail
      .map((f) => ({ f, got: check(asAgentPod(f.pod)).violations.map((v) => v.rule) }))
      .filter(({ f, got }) => !got.some((r) => CHECK_RULES[f.check]?.includes(r)))
      .map(({ f, got }) => `${f.file}: ${got.join(", ") || "admitted"}`);
    expect(wrong).toEqual([]);
  });

  it("admits every pass fixture made into an agent pod, or refuses it only for a documented reason", () => {
    const unexplained: string[] = [];
    const used = new Map<string, number>();
    let admitted = 0;
    for (const f of pass) {
      const rules = [...new Set(check(asAgentPod(f.pod)).violations.map((v) => v.rule))];
      if (rules.length === 0) {
        admitted++;
        continue;
      }
      const reasons = new Set<string>();
      for (const r of rules) {
        const why = STRICTER.find((s) => s.rules.includes(r) && s.applies(f, r));
        if (why) reasons.add(why.id);
        else unexplained.push(`${f.file}: ${r}`);
      }
      for (const id of reasons) used.set(id, (used.get(id) ?? 0) + 1);
    }
    expect(unexplained).toEqual([]);
    // The latest restricted profile's own pass fixtures need nothing but the documented exceptions
    // that are about v1.35 itself.
    const latest = pass.filter((f) => f.level === "restricted" && f.version.join(".") === "1.35");
    const latestRefused = latest
      .filter((f) => check(asAgentPod(f.pod)).violations.length > 0)
      .map((f) => f.file.split("/").pop());
    expect(latestRefused.sort()).toEqual(["base_windows.yaml", "capabilities_restricted0.yaml"]);
    console.info(
      `PSA fixtures: ${fail.length} fail (all refused), ${pass.length} pass (${admitted} admitted, ${pass.length - admitted} refused for a documented reason: ${[...used].map(([k, n]) => `${k} ${n}`).join(", ")}); restricted v1.35: ${latest.length} pass, ${latest.length - latestRefused.length} admitted`,
    );
  });

  it("docs/admission.md names every documented exception", () => {
    const doc = readFileSync("docs/admission.md", "utf8");
    for (const s of STRICTER) expect(doc, s.id).toContain(`\`${s.id}\``);
  });
});
