// The type guards that let a well-typed pod skip zod's copy: a guard may refuse what zod accepts
// (zod then parses as before), but whatever a guard accepts zod must accept, as an equal value, so
// the rules see the same view either way. Checked on every fixture pod, on a table of hostile
// shapes, and on random corruptions of the fixtures.
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { readInputs } from "../../cli/input.ts";
import { extractPod } from "./extract.ts";
import {
  allContainers,
  isPodSpecShape,
  isPodTemplateMetaShape,
  podSpec,
  podTemplateMeta,
} from "./podspec.ts";

const docs = readInputs([join("test/fixtures/admission/manifests")], () => "").map((d) => d.object);
const TEMPLATE: Record<string, string[]> = {
  Pod: [],
  CronJob: ["spec", "jobTemplate", "spec", "template"],
};
const at = (o: unknown, path: string[]) =>
  path.reduce<unknown>(
    (c, k) => (c && typeof c === "object" ? (c as Record<string, unknown>)[k] : undefined),
    o,
  );
const specs: unknown[] = [];
const metas: unknown[] = [];
for (const d of docs) {
  const kind = (d as { kind?: string }).kind ?? "";
  const prefix = TEMPLATE[kind] ?? ["spec", "template"];
  const spec = at(d, [...prefix, "spec"]);
  if (spec) {
    specs.push(spec);
    metas.push(at(d, [...prefix, "metadata"]) ?? {});
  }
}

/** The guard's promise: accepted ⇒ zod accepts an equal value. */
function agrees(guard: (v: unknown) => boolean, schema: typeof podSpec | typeof podTemplateMeta, v: unknown) {
  if (!guard(v)) return;
  const r = schema.safeParse(v);
  expect(r.success).toBe(true);
  expect(r.data).toEqual(v);
}

describe("isPodSpecShape / isPodTemplateMetaShape", () => {
  it("accept every fixture pod (the fast path applies to real pods)", () => {
    expect(specs.length).toBeGreaterThan(20);
    for (const s of specs) {
      expect(isPodSpecShape(s)).toBe(podSpec.safeParse(s).success);
      agrees(isPodSpecShape, podSpec, s);
    }
    for (const m of metas) {
      expect(isPodTemplateMetaShape(m)).toBe(true);
      agrees(isPodTemplateMetaShape, podTemplateMeta, m);
    }
  });

  const base = { containers: [{ name: "a" }] };
  const hostile: { name: string; spec: unknown }[] = [
    { name: "null", spec: null },
    { name: "an array", spec: [base] },
    { name: "a string", spec: "spec" },
    { name: "no containers", spec: {} },
    { name: "containers not an array", spec: { containers: { name: "a" } } },
    { name: "a container without a name", spec: { containers: [{}] } },
    { name: "a container name that is a number", spec: { containers: [{ name: 1 }] } },
    { name: "a null container", spec: { containers: [null] } },
    {
      name: "runAsUser NaN",
      spec: { containers: [{ name: "a", securityContext: { runAsUser: Number.NaN } }] },
    },
    {
      name: "runAsUser Infinity",
      spec: { containers: [{ name: "a", securityContext: { runAsUser: Infinity } }] },
    },
    {
      name: "runAsUser as a string",
      spec: { containers: [{ name: "a", securityContext: { runAsUser: "0" } }] },
    },
    {
      name: "privileged as a string",
      spec: { containers: [{ name: "a", securityContext: { privileged: "true" } }] },
    },
    {
      name: "capabilities.add a string",
      spec: { containers: [{ name: "a", securityContext: { capabilities: { add: "ALL" } } }] },
    },
    { name: "hostNetwork null", spec: { ...base, hostNetwork: null } },
    { name: "a hostPath without path", spec: { ...base, volumes: [{ name: "v", hostPath: {} }] } },
    { name: "a volume name that is an object", spec: { ...base, volumes: [{ name: {} }] } },
    { name: "a port without containerPort", spec: { containers: [{ name: "a", ports: [{}] }] } },
    {
      name: "an env var value as a number",
      spec: { containers: [{ name: "a", env: [{ name: "x", value: 1 }] }] },
    },
    {
      name: "a projected token without path",
      spec: { ...base, volumes: [{ name: "t", projected: { sources: [{ serviceAccountToken: {} }] } }] },
    },
    { name: "sysctls of strings", spec: { ...base, securityContext: { sysctls: ["kernel.x=1"] } } },
    {
      name: "probe host a number",
      spec: { containers: [{ name: "a", livenessProbe: { httpGet: { host: 1 } } }] },
    },
    { name: "initContainers null", spec: { ...base, initContainers: null } },
  ];
  for (const h of hostile) {
    it(`refuses ${h.name} (zod then names the field)`, () => {
      expect(isPodSpecShape(h.spec)).toBe(false);
      agrees(isPodSpecShape, podSpec, h.spec);
    });
  }

  const metaHostile: { name: string; meta: unknown }[] = [
    { name: "a label value that is a number", meta: { labels: { a: 1 } } },
    { name: "labels as an array", meta: { labels: ["a"] } },
    { name: "annotations null", meta: { annotations: null } },
    { name: "labels with an inherited member", meta: { labels: Object.create({ inherited: "x" }) } },
    { name: "a name that is a number", meta: { name: 5 } },
  ];
  for (const h of metaHostile) {
    it(`metadata: refuses ${h.name}`, () => {
      expect(isPodTemplateMetaShape(h.meta)).toBe(false);
      agrees(isPodTemplateMetaShape, podTemplateMeta, h.meta);
    });
  }

  /** All paths to values inside a JSON value. */
  function paths(v: unknown, prefix: (string | number)[] = [], out: (string | number)[][] = []) {
    out.push(prefix);
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) paths(v[i], [...prefix, i], out);
    } else if (v && typeof v === "object")
      for (const k of Object.keys(v)) paths((v as Record<string, unknown>)[k], [...prefix, k], out);
    return out;
  }
  const replacement = fc.oneof(
    fc.constantFrom(null, undefined, Number.NaN, Infinity, -0, "", "x", 0, 1, true, false, [], {}, [null], {
      name: 1,
    }),
    fc.jsonValue(),
  );
  it("whatever it accepts among corrupted fixtures, zod accepts as an equal value (property)", () => {
    fc.assert(
      fc.property(
        fc.nat(specs.length - 1),
        fc.nat(),
        replacement,
        fc.boolean(),
        (which, pick, value, meta) => {
          const target = structuredClone(meta ? metas[which] : specs[which]) as Record<string, unknown>;
          const all = paths(target).filter((p) => p.length > 0);
          if (all.length === 0) return;
          const path = all[pick % all.length]!;
          let parent: Record<string | number, unknown> = target;
          for (const k of path.slice(0, -1)) parent = parent[k] as Record<string | number, unknown>;
          const last = path.at(-1)!;
          if (value === undefined && !Array.isArray(parent)) delete parent[last];
          else parent[last] = value;
          if (meta) agrees(isPodTemplateMetaShape, podTemplateMeta, target);
          else agrees(isPodSpecShape, podSpec, target);
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe("allContainers on a spec that changes", () => {
  it("lists the containers again when the spec holds other containers", () => {
    const spec = { containers: [{ name: "a" }], initContainers: [{ name: "i" }] };
    const ex = extractPod({ kind: "Pod", metadata: {}, spec }, "ns");
    if (!ex.ok) throw new Error("fixture");
    expect(allContainers(ex.pod.spec, "spec").map((r) => r.path)).toEqual([
      "spec.initContainers[0]",
      "spec.containers[0]",
    ]);
    spec.containers.push({ name: "b" });
    expect(allContainers(ex.pod.spec, "spec").map((r) => r.container.name)).toEqual(["i", "a", "b"]);
    spec.containers[0] = { name: "c" };
    expect(allContainers(ex.pod.spec, "spec").map((r) => r.container.name)).toEqual(["i", "c", "b"]);
    expect(allContainers(ex.pod.spec, "spec.template.spec")[0]!.path).toBe(
      "spec.template.spec.initContainers[0]",
    );
  });
});
