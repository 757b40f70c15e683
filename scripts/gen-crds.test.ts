import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import * as z from "zod";
import { cel } from "../api/v1alpha1/common.ts";
import { KINDS, type KindInfo } from "../api/v1alpha1/kinds.ts";
import {
  CRD_DIR,
  crdFileName,
  crdFor,
  drift,
  generateAll,
  HEADER,
  type SchemaNode,
  schemaOf,
  toStructural,
} from "./gen-crds.ts";

const kinds = Object.values(KINDS) as KindInfo[];

// The script runs on Node 24 (type stripping) as `npm run crds` runs it, even when vitest itself was
// started by an older node on PATH.
const projectNode = join(import.meta.dirname, "..", "node_modules", ".bin", "node");
const NODE = existsSync(projectNode) ? projectNode : process.execPath;

interface Visited {
  path: string;
  node: SchemaNode;
  isProperty: boolean;
}

/** Every schema node of a CRD schema with its path; `isProperty` for entries of `properties`. */
function walk(node: SchemaNode, path = "", isProperty = false, out: Visited[] = []): Visited[] {
  out.push({ path, node, isProperty });
  for (const [name, child] of Object.entries((node.properties ?? {}) as Record<string, SchemaNode>)) {
    walk(child, `${path}.${name}`, true, out);
  }
  if (node.items) walk(node.items as SchemaNode, `${path}[*]`, false, out);
  if (typeof node.additionalProperties === "object")
    walk(node.additionalProperties as SchemaNode, `${path}.*`, false, out);
  return out;
}

function openAPISchema(info: KindInfo): SchemaNode {
  const crd = crdFor(info) as { spec: { versions: { schema: { openAPIV3Schema: SchemaNode } }[] } };
  return crd.spec.versions[0]!.schema.openAPIV3Schema;
}

describe("generated CRD schemas", () => {
  for (const info of kinds) {
    const nodes = walk(openAPISchema(info));

    it(`${info.kind}: every property has a description (kubectl explain)`, () => {
      // .metadata is the one exception: the API server forbids a description there.
      const missing = nodes
        .filter((n) => n.isProperty && n.path !== ".metadata" && typeof n.node.description !== "string")
        .map((n) => n.path);
      expect(missing).toEqual([]);
    });

    it(`${info.kind}: no additionalProperties: false anywhere`, () => {
      const bad = nodes.filter((n) => n.node.additionalProperties === false).map((n) => n.path);
      expect(bad).toEqual([]);
    });

    it(`${info.kind}: every node has a type or preserves unknown fields (structural)`, () => {
      const untyped = nodes
        .filter((n) => n.node.type === undefined && n.node["x-kubernetes-preserve-unknown-fields"] !== true)
        .map((n) => n.path);
      expect(untyped).toEqual([]);
    });

    it(`${info.kind}: no ECMAScript date-time patterns, no ±2^53 integer bounds, no unions`, () => {
      for (const { path, node } of nodes) {
        if (node.format === "date-time") expect(node.pattern, path).toBeUndefined();
        expect(Math.abs(Number(node.minimum ?? 0)), path).toBeLessThan(Number.MAX_SAFE_INTEGER);
        expect(Math.abs(Number(node.maximum ?? 0)), path).toBeLessThan(Number.MAX_SAFE_INTEGER);
        for (const k of ["anyOf", "oneOf", "allOf", "not", "$ref"])
          expect(node[k], `${path} ${k}`).toBeUndefined();
      }
    });

    it(`${info.kind}: names, short names, category and status subresource`, () => {
      const crd = crdFor(info) as {
        metadata: { name: string };
        spec: {
          group: string;
          scope: string;
          names: Record<string, unknown>;
          versions: Record<string, unknown>[];
        };
      };
      expect(crd.metadata.name).toBe(`${info.plural}.warden.dev`);
      expect(crd.spec.group).toBe("warden.dev");
      expect(crd.spec.scope).toBe("Namespaced");
      expect(crd.spec.names).toMatchObject({
        kind: info.kind,
        shortNames: info.shortNames,
        categories: ["warden"],
      });
      expect(crd.spec.versions).toHaveLength(1);
      expect(crd.spec.versions[0]).toMatchObject({
        name: "v1alpha1",
        served: true,
        storage: true,
        subresources: { status: {} },
      });
    });
  }

  it("keeps defaults, enums, patterns, CEL rules and list-map keys", () => {
    const identity = openAPISchema(KINDS.AgentIdentity) as { properties: { spec: SchemaNode } };
    const spec = identity.properties.spec as { properties: Record<string, SchemaNode> };
    const svid = spec.properties.svid as { properties: Record<string, SchemaNode> };
    expect(svid.properties.ttl).toMatchObject({
      description: expect.stringContaining("5m-24h"),
      default: "15m",
      pattern: expect.any(String),
      "x-kubernetes-validations": [
        expect.objectContaining({ rule: expect.stringContaining("duration(self)") }),
      ],
    });
    expect(svid.properties.delivery).toMatchObject({ enum: ["Issuer", "Secret"], default: "Issuer" });
    const manifest = openAPISchema(KINDS.ToolManifest) as { properties: { spec: SchemaNode } };
    const tools = (manifest.properties.spec as { properties: Record<string, SchemaNode> }).properties.tools!;
    expect(tools).toMatchObject({ "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"] });
    const inputSchema = (tools.items as { properties: Record<string, SchemaNode> }).properties.inputSchema;
    expect(inputSchema).toEqual({
      description: expect.any(String),
      type: "object",
      "x-kubernetes-preserve-unknown-fields": true,
    });
  });

  it("AgentIdentity shows Enclave, Type, Ready, SPIFFE ID, Expires and Age by default", () => {
    const defaults = KINDS.AgentIdentity.printerColumns.filter((c) => !("priority" in c)).map((c) => c.name);
    expect(defaults).toEqual(["Enclave", "Type", "Ready", "SPIFFE ID", "Expires", "Age"]);
  });
});

describe("zod .describe() and .meta() ordering", () => {
  // zod 4 keeps metadata per schema instance and inherits the parent's: check that neither order
  // loses the description or the CEL rules, since kubectl explain depends on the former.
  const rule = { rule: "self.size() > 0", message: "must not be empty" };
  it("describe then meta keeps both", () => {
    const node = schemaOf(z.string().describe("a thing").meta(cel(rule)), ".x");
    expect(node).toEqual({ description: "a thing", type: "string", "x-kubernetes-validations": [rule] });
  });
  it("meta then describe keeps both", () => {
    const node = schemaOf(z.string().meta(cel(rule)).describe("a thing"), ".x");
    expect(node).toEqual({ description: "a thing", type: "string", "x-kubernetes-validations": [rule] });
  });
  it("a later describe replaces an earlier one and keeps CEL rules (shared building blocks)", () => {
    const base = z.string().describe("generic").meta(cel(rule));
    const node = schemaOf(base.describe("specific"), ".x");
    expect(node).toEqual({ description: "specific", type: "string", "x-kubernetes-validations": [rule] });
  });
  it("default() keeps the description", () => {
    const node = schemaOf(z.string().describe("a thing").default("v"), ".x");
    expect(node).toEqual({ description: "a thing", type: "string", default: "v" });
  });
});

describe("toStructural", () => {
  it("drops additionalProperties: false, date-time patterns and ±2^53 bounds", () => {
    const out = toStructural({
      type: "object",
      additionalProperties: false,
      properties: {
        at: { type: "string", format: "date-time", pattern: "^\\d{4}(?:x)$" },
        n: { type: "integer", minimum: -Number.MAX_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER },
        m: { type: "integer", minimum: 0, maximum: 10 },
      },
    });
    expect(out).toEqual({
      type: "object",
      properties: {
        at: { type: "string", format: "date-time" },
        n: { type: "integer" },
        m: { type: "integer", minimum: 0, maximum: 10 },
      },
    });
  });

  it("maps records: string values stay a map, unknown values preserve unknown fields", () => {
    expect(schemaOf(z.record(z.string(), z.string()).describe("labels"), ".l")).toEqual({
      description: "labels",
      type: "object",
      additionalProperties: { type: "string" },
    });
    expect(schemaOf(z.record(z.string(), z.unknown()).describe("free"), ".f")).toEqual({
      description: "free",
      type: "object",
      "x-kubernetes-preserve-unknown-fields": true,
    });
  });

  it("refuses unions and untyped nodes, naming the path", () => {
    expect(() => schemaOf(z.object({ a: z.union([z.string(), z.number()]) }), ".spec")).toThrow(
      /\.spec\.a: 'anyOf'/,
    );
    expect(() => toStructural({ type: "object", properties: { x: {} } }, ".spec")).toThrow(
      /\.spec\.x: .*needs a type/,
    );
  });

  it("is deterministic", () => {
    const a = [...generateAll()];
    const b = [...generateAll()];
    expect(a).toEqual(b);
  });
});

describe("committed crds/", () => {
  const tmp = mkdtempSync(join(tmpdir(), "crds-"));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it("equal the generator output (run `npm run crds` after changing api/v1alpha1)", () => {
    expect(drift(CRD_DIR)).toEqual([]);
    for (const info of kinds) {
      const text = readFileSync(join(CRD_DIR, crdFileName(info)), "utf8");
      expect(text.startsWith(HEADER)).toBe(true);
      expect(parse(text)).toEqual(JSON.parse(JSON.stringify(crdFor(info))));
    }
  });

  it("--check exits 1 and names the drifted file", () => {
    cpSync(CRD_DIR, tmp, { recursive: true });
    const drifted = join(tmp, crdFileName(KINDS.AgentIdentity));
    writeFileSync(drifted, readFileSync(drifted, "utf8").replace("15m", "16m"));
    const script = join(import.meta.dirname, "gen-crds.ts");
    const bad = spawnSync(NODE, [script, "--check", `--dir=${tmp}`], { encoding: "utf8" });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain(`${drifted} differs`);
    expect(bad.stderr).toContain("npm run crds");
    const good = spawnSync(NODE, [script, "--check"], { encoding: "utf8" });
    expect(good.stderr).toBe("");
    expect(good.status).toBe(0);
  });
});

describe("docs/resources", () => {
  // Each resource page explains every spec field; a field added to the schema without a line in its
  // page fails here. AgentIdentity grants share argument/rateLimit/approval with ToolManifest tools
  // and its page links there instead of repeating them.
  const pages: Record<string, { file: string; sharedWith?: RegExp }> = {
    AgentEnclave: { file: "agentenclave.md" },
    AgentIdentity: {
      file: "agentidentity.md",
      sharedWith: /^grants\[\]\.tools\[\]\.(arguments|rateLimit|approval)\[?\]?\./,
    },
    ToolManifest: { file: "toolmanifest.md" },
  };
  for (const info of kinds) {
    it(`${pages[info.kind]!.file} mentions every spec field of ${info.kind}`, () => {
      const page = readFileSync(
        join(import.meta.dirname, "..", "docs", "resources", pages[info.kind]!.file),
        "utf8",
      );
      const spec = (openAPISchema(info).properties as Record<string, SchemaNode>).spec!;
      const paths = walk(spec)
        .filter((n) => n.isProperty)
        .map((n) => n.path.slice(1).replace(/\[\*\]/g, "[]"))
        .filter((p) => !pages[info.kind]!.sharedWith?.test(p));
      expect(paths.filter((p) => !page.includes(`\`${p}\``))).toEqual([]);
    });
  }
});
